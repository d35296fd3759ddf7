"""Longest GUI event-loop stall while the studio trains (packaged MiniLM, real CPU training).

Starts the main window offscreen, queues a CAST run on the given data from the
Experiment page, and measures the gaps between ticks of a 10 ms timer on the
GUI thread until the run ends. Prints the longest gap, the 99th percentile and
how many ticks ran. Goal (issue 6): longest stall ≤ 50 ms.

    QT_QPA_PLATFORM=offscreen python bench/gui_stall.py [--data ../shared/data/cad --task nli --variant RH1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="demo")
    parser.add_argument("--task", default="sentiment")
    parser.add_argument("--variant", default="")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-limit", default="64")
    parser.add_argument("--warm", action="store_true",
                        help="import torch and transformers first (as opening the Experiment page does), "
                             "so only training is measured")
    args = parser.parse_args()

    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from cast_engine.config import DataConfig

    if args.warm:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    tmp = Path(tempfile.mkdtemp())
    os.environ["CAST_STUDIO_SETTINGS"] = str(tmp / "settings.ini")
    _app = QApplication([])  # kept alive while the window runs
    from cast_studio.main_window import MainWindow

    win = MainWindow(tmp / "runs.sqlite")
    win.show()
    loading = QEventLoop()
    win.data_page.dataset_changed.connect(loading.quit)
    win.data_page.set_data_config(DataConfig(data=args.data, task=args.task, variant=args.variant))
    loading.exec()
    page = win.experiment_page
    page.set_checked_methods(["cast"])
    page.train_form.set_text("max_epochs", str(args.epochs))
    page.subset_form.set_text("train_limit", args.train_limit)
    page.subset_form.set_text("eval_limit", args.train_limit)
    gaps: list[int] = []
    long_gaps: list[str] = []
    last_event = ["(none)"]
    win.queue.event.connect(lambda e: last_event.__setitem__(0, type(e).__name__ + ":" + getattr(e, "phase", "")))
    clock = QElapsedTimer()
    timer = QTimer()
    timer.setInterval(10)

    def tick():
        gap = clock.restart()
        gaps.append(gap)
        if gap > 50:
            long_gaps.append(f"{gap} ms at {time.perf_counter() - start:.1f} s after {last_event[0]}")

    timer.timeout.connect(tick)
    training = QEventLoop()
    win.queue.idle.connect(training.quit)
    clock.start()
    timer.start()
    start = time.perf_counter()
    page.request_runs()
    training.exec()  # the real event loop runs until the queue is idle
    timer.stop()
    gaps.sort()
    p99 = gaps[int(0.99 * (len(gaps) - 1))] if gaps else 0
    print("imports before the run:", "done beforehand (--warm)" if args.warm else "inside the run (cold)")
    print(f"training wall time {time.perf_counter() - start:.1f} s, {len(gaps)} timer ticks")
    for line in long_gaps:
        print("  stall " + line)
    print(f"longest GUI stall {gaps[-1] if gaps else 0} ms, 99th percentile {p99} ms (goal ≤ 50 ms)")
    win.close()


if __name__ == "__main__":
    main()
