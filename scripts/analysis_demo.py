"""The analysis workflow end to end in the studio, on real data: train, evaluate elsewhere, read the pairs.

Drives the real main window (offscreen) as a user would: the Data page opens a
paired file made from sentiment CAD (the same number of originals of each
label, with their revisions), the Experiment page trains full
fine-tuning and CAST with the packaged MiniLM (one queue, one run after the
other), History's "Evaluate on…" evaluates both runs on another paired set (a
paired JSONL file of other training pairs, which neither run trained,
validated or was tested on), and then the Pairs view of each run, the flip
ledger between them and the seed-group comparison are opened and photographed. The same numbers are printed with the
command line (`cast show`, `cast pairs`, `cast compare`) into the output folder.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/analysis_demo.py --data ../shared/data/cad \\
        --out bench/results/analysis-demo [--per-label 100 --eval-per-label 50 --epochs 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def run_until(condition, timeout_s: float) -> None:
    """Run the event loop until ``condition()`` holds; RuntimeError naming the wait after ``timeout_s``."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop, deadline = QEventLoop(), time.monotonic() + timeout_s
    poll = QTimer()
    poll.timeout.connect(lambda: loop.quit() if condition() or time.monotonic() > deadline else None)
    poll.start(200)
    loop.exec()
    poll.stop()
    if not condition():
        raise RuntimeError(f"gave up waiting after {timeout_s:.0f} s")


def cli(out: Path, name: str, db: Path, *args: str) -> str:
    """Run `cast --db DB ARGS`, keep its output as OUT/NAME.txt (with the command) and return it."""
    command = [sys.executable, "-m", "cast_engine.cli", "--db", str(db), *args]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    text = done.stdout + done.stderr
    (out / f"{name}.txt").write_text("$ cast " + " ".join(args) + "\n\n" + text)
    print(text)
    return text


def write_balanced_files(data: str, folder: Path, per_label: int, eval_per_label: int, held_out_per_label: int) -> tuple[Path, Path]:
    """Two paired JSONL files (text, label, pair_id, role, split), the format a user brings, from sentiment CAD:
    a small study set (train / dev / test, ``per_label`` and ``eval_per_label`` originals of each label with
    their revisions) and a held-out set of training pairs the study set does not hold.

    The Kaushik et al. sentiment files list the negative originals first (the first 800 training originals
    hold 4 positive ones), so a slice of the first N originals would train CAST's factual pass on one
    label; these files take the same number of originals of each label."""
    import json

    from cast_engine.data import SENTIMENT_LABELS, load_cad

    dataset = load_cad(data, "sentiment", "CAD")

    def balanced(split, skip: int, count: int) -> list[tuple[int, int]]:
        chosen = []
        for label in range(len(SENTIMENT_LABELS)):
            of_label = [(f, c) for f, c in split.pairs if split.factual[f].label == label]
            chosen += of_label[skip: skip + count]
        return sorted(chosen)

    def rows(split, pairs, split_name):
        for f, c in pairs:
            for role, example in (("original", split.factual[f]), ("revision", split.counterfactual[c])):
                row = {"text": example.text_a, "label": SENTIMENT_LABELS[example.label],
                       "pair_id": f"{split.name}-{f}", "role": role}
                yield row | ({"split": split_name} if split_name else {})

    study, held_out = folder / "sentiment-balanced.jsonl", folder / "held-out-train-pairs.jsonl"
    with study.open("w") as out:
        for split, count in ((dataset.train, per_label), (dataset.dev, eval_per_label), (dataset.test, eval_per_label)):
            for row in rows(split, balanced(split, 0, count), split.name):
                out.write(json.dumps(row) + "\n")
    with held_out.open("w") as out:
        for row in rows(dataset.train, balanced(dataset.train, per_label, held_out_per_label), None):
            out.write(json.dumps(row) + "\n")
    print(f"wrote {study} ({per_label} + {per_label} training originals, {eval_per_label} + {eval_per_label} dev and "
          f"test) and {held_out} ({held_out_per_label} + {held_out_per_label} held-out training pairs)")
    return study, held_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="The CAD folder (Kaushik layout).")
    parser.add_argument("--out", type=Path, required=True, help="Folder for the screenshots and the printed numbers.")
    parser.add_argument("--db", type=Path, default=None, help="Run store (default: a new one in a temporary folder).")
    parser.add_argument("--per-label", type=int, default=100, help="Training originals of each label.")
    parser.add_argument("--eval-per-label", type=int, default=50, help="Dev and test originals of each label.")
    parser.add_argument("--held-out-per-label", type=int, default=100,
                        help="The other paired set: this many more training originals of each label.")
    parser.add_argument("--epochs", default="3", help="Epochs (CAST: iterations).")
    parser.add_argument("--max-length", default="256", help="Token limit.")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    db = (args.db or Path(tempfile.mkdtemp()) / "runs.sqlite").resolve()
    os.environ["CAST_STUDIO_SETTINGS"] = str(Path(tempfile.mkdtemp()) / "settings.ini")

    from PySide6.QtWidgets import QApplication

    from cast_engine.config import DataConfig
    from cast_engine.runs.evaluation_data import EvaluateConfig
    from cast_engine.store import RunStore
    from cast_studio.main_window import MainWindow

    app = QApplication([])  # noqa: F841 (kept alive for the widgets)
    win = MainWindow(db)
    win.resize(1366, 768)
    win.show()
    loaded = []
    win.data_page.dataset_changed.connect(lambda *_: loaded.append(True))
    study, held_out = write_balanced_files(args.data, db.parent, args.per_label, args.eval_per_label,
                                           args.held_out_per_label)
    win.data_page.set_data_config(DataConfig(data=str(study), task="sentiment", variant="CAD"))
    run_until(lambda: bool(loaded), 600)

    page = win.experiment_page
    page.set_model("minilm")
    page.set_checked_methods(["full", "cast"])
    page.set_devices([{"id": "cpu", "name": "CPU", "memory_bytes": None}])
    page.device.setCurrentIndex(page.device.findData("cpu"))
    for name, value in (("max_epochs", args.epochs), ("max_length", args.max_length), ("batch_size", "16")):
        assert page.train_form.set_text(name, value), name
    page.train_form.editors["bf16"].setChecked(True)  # ignored where the CPU has no native bfloat16
    started = time.monotonic()
    page.request_runs()
    run_until(lambda: not win.queue.is_running(), 4 * 3600)
    print(f"trained in {time.monotonic() - started:.0f} s")
    with RunStore(db, read_only=True) as store:
        runs = {run["method"]: run["id"] for run in store.list_runs() if run["status"] == "completed"}
    if set(runs) != {"full", "cast"}:
        raise SystemExit(f"expected a completed full and a completed CAST run, the store has {runs}")
    full, cast = runs["full"], runs["cast"]

    history = win.history_page
    win.show_page("History")
    history.refresh()
    name = "held-out-train-pairs"
    job = history.analysis.start_evaluation([full, cast], EvaluateConfig(data=str(held_out), name=name))
    run_until(lambda: history.analysis.job is not job, 3600)
    win.close()

    subprocess.run([sys.executable, str(ROOT / "scripts" / "screenshots_analysis.py"), "--db", str(db), "--eval", name,
                    "--a", str(full), "--b", str(cast), "--out", str(out), "--pairs-of-a"], check=True, cwd=ROOT)
    cli(out, "show-full", db, "show", str(full))
    cli(out, "show-cast", db, "show", str(cast))
    cli(out, "pairs-full", db, "pairs", str(full), "--eval", name, "--limit", "5")
    cli(out, "pairs-cast", db, "pairs", str(cast), "--eval", name, "--limit", "5")
    cli(out, "ledger-full-vs-cast", db, "pairs", str(full), "--vs", str(cast), "--eval", name, "--limit", "5")
    cli(out, "ledger-csv", db, "pairs", str(full), "--vs", str(cast), "--eval", name,
        "--csv", str(out / "ledger-full-vs-cast.csv"))
    cli(out, "compare-full-vs-cast", db, "compare", "--a", str(full), "--b", str(cast), "--eval", name)
    cli(out, "compare-full-vs-cast-test", db, "compare", "--a", str(full), "--b", str(cast))


if __name__ == "__main__":
    main()
