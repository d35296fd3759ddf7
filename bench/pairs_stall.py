"""Longest GUI event-loop stall while the Pairs view shows and filters a 1,000-pair set.

Builds a store with one run whose evaluation holds 1,000 real sentiment CAD pairs
(the texts of the Kaushik et al. training split; predictions and probabilities
drawn at random, seeded: the view's cost does not depend on what was predicted),
opens the flip ledger of two such runs from History, waits for its rows, then
drives what a user does: every outcome and ledger filter, each gold label pair,
changed-word ranges, sorting by confidence and by group, and scrolling from top
to bottom. A 10 ms timer on the GUI thread measures the gaps; prints the longest,
the 99th percentile and the slow steps. Goal: longest stall ≤ 50 ms.

    QT_QPA_PLATFORM=offscreen python bench/pairs_stall.py [--data ../shared/data/cad] [--pairs 1000]
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


def make_store(path: Path, data: str, n_pairs: int) -> list[int]:
    """Two completed runs, each with an evaluation 'bench' of the first n_pairs training pairs."""
    import numpy as np

    from cast_engine.data import load_cad
    from cast_engine.data.types import CadSplit
    from cast_engine.evaluate.metrics import cad_metrics
    from cast_engine.runs.evaluate import pack_examples
    from cast_engine.store import RunStore

    train = load_cad(data, "sentiment", "CAD").train
    pairs = train.pairs[:n_pairs]
    split = CadSplit("test", train.factual[: max(f for f, _ in pairs) + 1],
                     [train.counterfactual[c] for _, c in pairs], [(f, i) for i, (f, _) in enumerate(pairs)])
    ids = []
    with RunStore(path) as store:
        for seed in (1, 2):
            rng = np.random.default_rng(seed)
            run_id = store.create_run({"train": {"seed": seed}}, method="full", task="sentiment", variant="CAD",
                                      regime="cad", model="minilm", seed=seed)
            predictions, golds = {}, {}
            for side, examples in (("factual", split.factual), ("counterfactual", split.counterfactual)):
                gold = [e.label for e in examples]
                probs = rng.dirichlet([1.0, 1.0], size=len(gold)).astype(np.float32)
                predicted = probs.argmax(axis=1).tolist()
                predictions[side], golds[side] = (predicted, gold, probs), gold
            results = cad_metrics(predictions["factual"][0], golds["factual"], predictions["counterfactual"][0],
                                  golds["counterfactual"], split.pairs, 2)
            store.finish_run(run_id, "completed", results=results)
            store.add_evaluation(run_id, name="bench", source=f"{data} train, first {n_pairs} pairs", spec={},
                                 data_sha256="bench", data_files={}, labels=["Negative", "Positive"],
                                 results=results, examples=pack_examples(split), predictions=predictions)
            ids.append(run_id)
    return ids


DEFAULT_DATA = str(Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cad")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--pairs", type=int, default=1000)
    args = parser.parse_args()
    from PySide6.QtWidgets import QApplication

    from cast_studio.garbage import collect_on_the_gui_thread

    app = QApplication.instance() or QApplication([])  # noqa: F841 (the collector's timer needs it)
    collector = collect_on_the_gui_thread()  # noqa: F841 (as the studio does: collections on the GUI thread only)
    measure(args.data, args.pairs)


def measure(data: str, n_pairs: int) -> dict:
    """Drive the Pairs view as above and print what it measured; returns the longest gap and the p99 (ms)."""
    from PySide6.QtCore import QElapsedTimer, QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    tmp = Path(tempfile.mkdtemp())
    db = tmp / "runs.sqlite"
    ids = make_store(db, data, n_pairs)
    app = QApplication.instance() or QApplication([])  # noqa: F841 (kept alive for the widgets)
    from cast_studio.pages.history_page import HistoryPage

    page = HistoryPage(db)
    page.resize(1300, 800)
    page.show()
    page.analysis.eval_combo.setCurrentText("bench")
    gaps: list[int] = []
    started = time.perf_counter()
    slow: list[str] = []
    step = ["open"]
    clock = QElapsedTimer()
    timer = QTimer()
    timer.setInterval(10)

    def tick():
        gap = clock.restart()
        gaps.append(gap)
        if gap > 50 and step[0] != "idle reference" and not step[0].startswith("reference"):
            slow.append(f"{gap} ms during '{step[0]}' ({time.perf_counter() - started:.2f} s after opening)")

    timer.timeout.connect(tick)
    clock.start()
    timer.start()

    def settle(ms: int = 60) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    step[0] = "idle reference"  # what the machine's load alone costs: the same timer, nothing to do
    settle(3000)
    idle, gaps[:] = sorted(gaps), []
    started = time.perf_counter()
    step[0] = "open"
    built = time.perf_counter()
    window = page.analysis.open_pairs(ids)
    built = time.perf_counter() - built
    window.resize(1300, 800)
    loop = QEventLoop()
    window.ready.connect(loop.quit)
    loop.exec()
    loaded = time.perf_counter() - started
    settle()
    for name in ["both right", "original only", "revision only", "both wrong", "all"]:
        step[0] = f"outcome {name}"
        window.outcome_combo.setCurrentText(name)
        settle()
    for name in ["B fixes", "B breaks", "both right", "both wrong", "all"]:
        step[0] = f"ledger {name}"
        window.ledger_combo.setCurrentText(name)
        settle()
    for i in range(window.label_combo.count()):
        step[0] = f"labels {window.label_combo.itemText(i)}"
        window.label_combo.setCurrentIndex(i)
        settle()
    window.label_combo.setCurrentIndex(0)
    for low, high in ((1, 1), (2, 5), (6, 9999), (0, 9999)):
        step[0] = f"changed words {low}-{high}"
        window.min_spin.setValue(low)
        window.max_spin.setValue(high)
        settle()
    for column, order in ((5, Qt.SortOrder.DescendingOrder), (5, Qt.SortOrder.AscendingOrder), (0, Qt.SortOrder.AscendingOrder)):
        step[0] = f"sort column {column}"
        window.view.sortByColumn(column, order)
        settle()
    bar = window.view.verticalScrollBar()
    step[0] = "scroll"
    for value in range(0, bar.maximum() + 1, max(1, bar.pageStep())):
        bar.setValue(value)
        settle(20)
    step[0] = "select rows"
    for row in range(0, window.model.rowCount(), 50):
        window.view.selectRow(row)
        settle(20)
    pairs_gaps = list(gaps)
    step[0] = "reference: building the Data page's table"
    # reference in the same run: the Data page's table of pairs (same diff delegate) scrolled the same way
    from cast_engine.runs.pair_data import run_pair_data
    from cast_engine.store import RunStore
    from cast_studio.pages.data_preview import PairPreview

    with RunStore(db) as store:
        split = run_pair_data(store, ids[0], "bench").split
    preview = PairPreview()
    preview.resize(1300, 800)
    preview.show()
    preview.model.set_split(split, ["Negative", "Positive"])
    settle()
    gaps[:] = []
    step[0] = "reference: Data page scroll"
    bar = preview.view.verticalScrollBar()
    for value in range(0, bar.maximum() + 1, max(1, bar.pageStep())):
        bar.setValue(value)
        settle(20)
    reference = sorted(gaps)
    gaps[:] = pairs_gaps
    timer.stop()
    shown = window.model.rowCount()
    gaps.sort()
    p99 = gaps[int(0.99 * (len(gaps) - 1))] if gaps else 0
    print(f"opening the window (its first import included) took {1000 * built:.0f} ms on the GUI thread")
    print(f"{shown} pairs of two runs (flip ledger) read and diffed on the worker thread in {loaded:.2f} s")
    for line in slow:
        print("  stall " + line)
    print(f"longest GUI stall {gaps[-1] if gaps else 0} ms, 99th percentile {p99} ms over {len(gaps)} ticks (goal ≤ 50 ms)")
    idle_p99 = idle[int(0.99 * (len(idle) - 1))] if idle else 0
    print(f"reference, the same page idle for 3 s: longest gap {idle[-1] if idle else 0} ms, 99th percentile "
          f"{idle_p99} ms over {len(idle)} ticks (the machine's load alone)")
    ref_p99 = reference[int(0.99 * (len(reference) - 1))] if reference else 0
    print(f"reference, the Data page's pair table scrolled through the same pairs: longest gap "
          f"{reference[-1] if reference else 0} ms, 99th percentile {ref_p99} ms over {len(reference)} ticks; "
          f"Pairs view / Data page: longest {gaps[-1] / max(reference[-1], 1):.2f}, 99th percentile {p99 / max(ref_p99, 1):.2f}")
    window.close()
    page.close()
    return {"longest": gaps[-1] if gaps else 0, "p99": p99}


if __name__ == "__main__":
    main()
