"""The analysis workflow end to end in the studio, on real data: train, evaluate elsewhere, read the pairs.

Drives the real main window (offscreen) as a user would: the Data page opens the
CAD folder (sentiment, variant CAD), the Experiment page trains full
fine-tuning and CAST with the packaged MiniLM (one queue, one run after the
other), History's "Evaluate on…" evaluates both runs on another paired set (a
paired JSONL file of training pairs past the training limit, which neither
run trained, validated or was tested on, written as a user would bring it),
and then the
Pairs view of each run, the flip ledger between them and the seed-group
comparison are opened and photographed. The same numbers are printed with the
command line (`cast show`, `cast pairs`, `cast compare`) into the output folder.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/analysis_demo.py --data ../shared/data/cad \\
        --out bench/results/analysis-demo [--train-limit 300 --eval-limit 0 --epochs 3]
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


def write_held_out_pairs(data: str, skip: int, count: int, path: Path) -> Path:
    """Training pairs ``skip`` .. ``skip + count`` of sentiment CAD as a paired JSONL file (text, label,
    pair_id, role), the format a user brings; originals the runs never saw (they trained on the first ``skip``)."""
    import json

    from cast_engine.data import SENTIMENT_LABELS, load_cad

    train = load_cad(data, "sentiment", "CAD").train
    pairs = [(f, c) for f, c in train.pairs if skip <= f < skip + count]
    if not pairs:
        raise SystemExit(f"no training pairs after the first {skip} originals in {data}")
    with path.open("w") as out:
        for f, c in pairs:
            for role, example in (("original", train.factual[f]), ("revision", train.counterfactual[c])):
                out.write(json.dumps({"text": example.text_a, "label": SENTIMENT_LABELS[example.label],
                                      "pair_id": f"train-{f}", "role": role}) + "\n")
    print(f"wrote {len(pairs)} held-out pairs to {path}")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="The CAD folder (Kaushik layout).")
    parser.add_argument("--out", type=Path, required=True, help="Folder for the screenshots and the printed numbers.")
    parser.add_argument("--db", type=Path, default=None, help="Run store (default: a new one in a temporary folder).")
    parser.add_argument("--train-limit", default="300", help="First N training originals (and their revisions).")
    parser.add_argument("--eval-limit", default="0", help="First N dev and test originals during training (0: all).")
    parser.add_argument("--epochs", default="3", help="Epochs (CAST: iterations).")
    parser.add_argument("--max-length", default="256", help="Token limit.")
    parser.add_argument("--held-out", type=int, default=400,
                        help="The other paired set: this many training pairs after the first --train-limit originals.")
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
    win.data_page.set_data_config(DataConfig(data=str(Path(args.data).resolve()), task="sentiment", variant="CAD"))
    run_until(lambda: bool(loaded), 600)

    page = win.experiment_page
    page.set_model("minilm")
    page.set_checked_methods(["full", "cast"])
    page.set_devices([{"id": "cpu", "name": "CPU", "memory_bytes": None}])
    page.device.setCurrentIndex(page.device.findData("cpu"))
    for name, value in (("max_epochs", args.epochs), ("max_length", args.max_length), ("batch_size", "16")):
        assert page.train_form.set_text(name, value), name
    page.train_form.editors["bf16"].setChecked(True)  # ignored where the CPU has no native bfloat16
    for name, value in (("train_limit", args.train_limit), ("eval_limit", args.eval_limit)):
        assert page.subset_form.set_text(name, value), name
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
    held_out = write_held_out_pairs(args.data, int(args.train_limit), args.held_out, db.parent / f"{name}.jsonl")
    job = history.analysis.start_evaluation([full, cast], EvaluateConfig(data=str(held_out), name=name))
    run_until(lambda: history.analysis.job is not job, 3600)
    win.close()

    subprocess.run([sys.executable, str(ROOT / "scripts" / "screenshots_analysis.py"), "--db", str(db), "--eval", name,
                    "--a", str(full), "--b", str(cast), "--out", str(out)], check=True, cwd=ROOT)
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
