"""History at scale: 1,000 runs × 100 epochs open and filter in the studio, against raw SQLite.

Builds a store of 1,000 runs (6 methods, 2 tasks, 5 variants, statuses) with
100 epochs each, then times, in the same run (median of 5):
- the reference: one raw ``sqlite3`` query of the same run rows
  (``SELECT * FROM runs``) and one filtered query (``WHERE method = 'cast'``);
- the studio: building the History page (it reads every run) and filtering it
  by method through its filter combo.
Prints both ratios (goal ≤ 3×).

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/history_load.py
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

METHODS = ("full", "cast", "bitfit", "adapters", "lora", "lt_sft")
VARIANTS = ("RAW", "RP1", "RP2", "RH1", "RH2")


def build_store(path: Path, runs: int, epochs: int) -> None:
    from cast_engine.store import RunStore

    with RunStore(path) as store:
        for i in range(runs):
            method = METHODS[i % len(METHODS)]
            run_id = store.create_run({"method": {"name": method}, "train": {"seed": i % 5}}, method=method,
                                      task="nli" if i % 2 else "sentiment", variant=VARIANTS[i % 5], regime="cad",
                                      model="minilm", seed=i % 5)
            for epoch in range(1, epochs + 1):
                store.add_epoch(run_id, epoch, "train", {"train_loss": 1.0 / epoch, "val_combined": 0.5 + epoch / 400})
            store.finish_run(run_id, "completed" if i % 7 else "failed",
                             results={"combined": 0.7, "factual": 0.72, "counterfactual": 0.68, "pair": 0.5})


def median_time(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    from PySide6.QtWidgets import QApplication

    from cast_studio.pages.history_page import HistoryPage

    app = QApplication([])
    path = Path(tempfile.mkdtemp()) / "runs.sqlite"
    start = time.perf_counter()
    build_store(path, 1000, 100)
    print(f"store: 1,000 runs × 100 epochs built in {time.perf_counter() - start:.1f} s")

    def raw_all():
        with sqlite3.connect(path) as db:
            db.execute("SELECT * FROM runs ORDER BY id DESC").fetchall()

    def raw_filtered():
        with sqlite3.connect(path) as db:
            db.execute("SELECT * FROM runs WHERE method = 'cast' ORDER BY id DESC").fetchall()

    pages = []

    def studio_open():
        page = HistoryPage(path)
        app.processEvents()
        pages.append(page)

    studio_open()  # warm-up: imports, first paint
    page = pages[-1]

    def studio_filter():
        combo = page.method_filter
        combo.setCurrentIndex(combo.findText("cast"))
        app.processEvents()
        assert page.proxy.rowCount() == 167, page.proxy.rowCount()
        combo.setCurrentIndex(0)
        app.processEvents()

    raw_open_s, raw_filter_s = median_time(raw_all), median_time(raw_filtered)
    open_s, filter_s = median_time(studio_open), median_time(studio_filter) / 2  # filter on, then off
    print(f"raw SQLite: all runs {raw_open_s * 1000:.1f} ms, filtered {raw_filter_s * 1000:.1f} ms")
    print(f"studio: open {open_s * 1000:.1f} ms, filter {filter_s * 1000:.1f} ms")
    print(f"ratio open/raw {open_s / raw_open_s:.1f}x, filter/raw {filter_s / raw_filter_s:.1f}x (goal ≤ 3x)")


if __name__ == "__main__":
    main()
