"""Screenshots of every page during a real run with the packaged MiniLM (for the README).

Runs the studio offscreen at a laptop's 1366 × 768 on NLI RH1 (a slice, so it
takes a few minutes on a CPU), grabs the Data and Experiment pages, the Monitor
mid-run and at the end, a small α × K sweep of CAST on the Sweep page (its
trial preview and its heat map), the History with the CAST run, the full
fine-tuning baseline and the sweep's trials, and the compare view. Writes
small PNGs to docs/screenshots/.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py --data ../shared/data/cad
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

WIDTH, HEIGHT = 1366, 768  # a common laptop screen: the studio must fit it


def save(widget, name: str, out: Path) -> None:
    from PySide6.QtCore import Qt

    from PySide6.QtGui import QImage

    image = widget.grab().toImage().scaledToWidth(1100, Qt.TransformationMode.SmoothTransformation)
    # a UI needs few colours: an undithered palette keeps text crisp and files small
    image = image.convertToFormat(QImage.Format.Format_Indexed8,
                                  Qt.ImageConversionFlag.AvoidDither | Qt.ImageConversionFlag.ThresholdDither)
    image.save(str(out / f"{name}.png"))
    print(f"wrote {out / (name + '.png')}")


def wait(loop_signal) -> None:
    from PySide6.QtCore import QEventLoop

    loop = QEventLoop()
    loop_signal.connect(loop.quit)
    loop.exec()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(ROOT / ".." / "shared" / "data" / "cad"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--train-limit", default="300")
    parser.add_argument("--epochs", default="4")
    parser.add_argument("--eval-limit", default="100", help="Dev and test originals each run evaluates on.")
    parser.add_argument("--sweep-train-limit", default="100", help="Training originals of each sweep trial.")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from cast_engine.config import DataConfig
    from cast_engine.train.events import EpochEnded

    tmp = Path(tempfile.mkdtemp())
    os.environ["CAST_STUDIO_SETTINGS"] = str(tmp / "settings.ini")
    app = QApplication([])
    from cast_studio.main_window import MainWindow

    win = MainWindow(tmp / "runs.sqlite")
    win.resize(WIDTH, HEIGHT)
    win.show()
    from PySide6.QtCore import QEventLoop

    loading, failures = QEventLoop(), []
    win.data_page.dataset_changed.connect(loading.quit)
    win.data_page.load_failed.connect(lambda text: (failures.append(text), loading.quit()))
    win.data_page.set_data_config(DataConfig(data=str(Path(args.data).resolve()), task="nli", variant="RH1"))
    loading.exec()
    if failures:
        raise SystemExit(f"could not load {args.data}: {failures[0]}")
    app.processEvents()
    save(win, "data", out)

    page = win.experiment_page
    page.set_checked_methods(["cast", "full"])
    page.train_form.set_text("max_epochs", args.epochs)
    page.subset_form.set_text("train_limit", args.train_limit)
    page.subset_form.set_text("eval_limit", args.eval_limit)
    win.show_page("Experiment")
    app.processEvents()
    save(win, "experiment", out)

    epochs_seen = []

    def grab_mid_run(event):
        if isinstance(event, EpochEnded) and event.stage == "cast":
            epochs_seen.append(event.epoch)
            if len(epochs_seen) == int(args.epochs) - 1:
                QTimer.singleShot(300, lambda: (win.monitor_page.flush(), save(win, "monitor", out)))

    win.queue.event.connect(grab_mid_run)
    finished = []
    win.queue.run_finished.connect(lambda run_id, *_: finished.append(run_id))
    page.request_runs()
    wait(win.queue.idle)
    app.processEvents()
    win.monitor_page.flush()
    save(win, "monitor-finished", out)

    # Sweep: α × K of CAST on the same data, one seed, launched from the Sweep page
    page.set_checked_methods(["cast"])
    page.train_form.set_text("max_epochs", "2")
    page.subset_form.set_text("train_limit", args.sweep_train_limit)
    win.show_page("Sweep")
    sweep = win.sweep_page
    sweep.axes.set_axes([("method.alpha", "0.01, 0.15"), ("method.k", "1%, 10%"), ("train.seed", "1")])
    app.processEvents()
    if not sweep.launch():
        raise SystemExit(f"the sweep did not launch: {sweep.status.text()}")
    wait(win.queue.idle)
    app.processEvents()
    save(win, "sweep", out)

    win.show_page("History")
    history = win.history_page
    history.refresh()
    ids = history.visible_ids()
    history.select_runs(ids)
    app.processEvents()
    save(win, "history", out)
    dialog = history.compare_runs(finished)  # the CAST run and the baseline
    dialog.resize(1200, 800)
    dialog.show()
    app.processEvents()
    save(dialog, "compare", out)
    win.close()


if __name__ == "__main__":
    main()
