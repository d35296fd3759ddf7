"""GUI event-loop stalls of the studio (offscreen, the real MainWindow) in four scenarios.

A 10 ms timer ticks on the GUI thread; a stall is the gap between two ticks.
For each scenario the longest gap and the 99th percentile after the first 5 s
(imports, first paints) are printed, with the gaps over 50 ms and what
happened just before them. Goal (issue 17): no gap over 50 ms.

- ``monitor``: a CAST run trains (the tiny random BERT, or the packaged MiniLM
  with ``--model minilm``; a run that ends early is queued again, so that
  training lasts 15 s past the warm-up) while the Monitor's plots update and the
  user moves between the pages every 0.7 s;
- ``history``: a store of 10,000 runs; after 5 s the user opens History, then
  filters by method, sorts by accuracy, scrolls to the end, types a name
  filter, one action every 0.3 s;
- ``sweep``: a 3 × 3 α × K sweep with two seeds (tiny model, two epochs a
  trial) trains from the Sweep page while its heat map and line chart refresh
  after every trial;
- ``pairs``: the flip ledger (Pairs view) of two runs over 1,000 real pairs, filtered, sorted and
  scrolled (``bench/pairs_stall.py``);
- ``idle`` (the reference, measured first in the same run): the same window
  doing nothing for 10 s. On a loaded machine the operating system alone
  delays the timer; this is how much.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/gui_stall.py [--scenario all|idle|monitor|history|sweep|pairs]
        [--model tiny|minilm] [--data demo --task sentiment --variant ""] [--epochs 3] [--train-limit 64]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

GOAL_MS = 50
WARM_S = 5.0
MONITOR_MEASURED_S = 15.0  # the monitor scenario trains (run after run) at least this long after the warm-up


class StallMeter:
    """Gaps between ticks of a 10 ms timer on the GUI thread, with what happened before each long one."""

    def __init__(self, explain: bool = False):
        from PySide6.QtCore import QElapsedTimer, QTimer

        self.clock = QElapsedTimer()
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.gaps: list[tuple[float, int, str]] = []  # (seconds since start, gap ms, last note)
        self.note = "(start)"
        self.started = 0.0
        self.collections: list[tuple[float, float, int]] = []  # (at s, ms, generation) of slow garbage collections
        self._collecting = 0.0
        self.last_tick = 0.0
        self.sampler = StackSampler(self) if explain else None

    def start(self) -> None:
        self.started = self.last_tick = time.perf_counter()
        self.clock.start()
        self.timer.start()
        gc.callbacks.append(self._gc)
        if self.sampler:
            self.sampler.start()

    def stop(self) -> None:
        self.timer.stop()
        gc.callbacks.remove(self._gc)
        if self.sampler:
            self.sampler.stop()

    def _gc(self, phase: str, info: dict) -> None:
        """Python's cyclic collections (any thread's) hold every thread: note the slow ones."""
        now = time.perf_counter()
        if phase == "start":
            self._collecting = now
        elif now - self._collecting > 0.01:
            self.collections.append((now - self.started, 1000 * (now - self._collecting), info["generation"]))

    def mark(self, note: str) -> None:
        """What the studio is doing now (printed next to a long gap that follows)."""
        self.note = note

    def _tick(self) -> None:
        self.last_tick = time.perf_counter()
        self.gaps.append((self.last_tick - self.started, self.clock.restart(), self.note))

    def report(self, name: str) -> dict:
        kept = sorted(gap for at, gap, _ in self.gaps if at >= WARM_S)
        longest = kept[-1] if kept else 0
        p99 = kept[int(0.99 * (len(kept) - 1))] if kept else 0
        wall = time.perf_counter() - self.started
        print(f"\n[{name}] {wall:.1f} s, {len(kept)} ticks after the first {WARM_S:.0f} s")
        for at, gap, note in self.gaps:
            if gap > GOAL_MS:
                print(f"  stall {gap} ms at {at:.1f} s{' (warm-up, not counted)' if at < WARM_S else ''} after {note}")
                if self.sampler and at >= WARM_S:
                    self.sampler.explain(self.started + at)
        for at, ms, generation in self.collections:
            print(f"  garbage collection (generation {generation}) {ms:.0f} ms ending at {at:.1f} s")
        if wall - WARM_S < 5:
            print(f"  (only {max(wall - WARM_S, 0):.1f} s measured after the warm-up: too short to tell)")
        print(f"[{name}] longest GUI stall {longest} ms, 99th percentile {p99} ms (goal ≤ {GOAL_MS} ms)")
        return {"longest": longest, "p99": p99, "ticks": len(kept)}


class StackSampler:
    """``--explain``: while a tick is late, sample the GUI thread's Python stack every few milliseconds.

    A background thread reads the GUI thread's frames (it needs the GIL, which Python code
    hands over every few ms and Qt's C++ mostly holds): each long gap is printed with the
    calls its samples were in, most frequent first.
    """

    EVERY_S = 0.004
    LATE_S = 0.015

    def __init__(self, meter: StallMeter):
        self.meter = meter
        self.gui = threading.get_ident()
        self.samples: list[tuple[float, tuple[str, ...]]] = []  # (perf_counter, call chain) while late
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stall sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.EVERY_S):
            now = time.perf_counter()
            if now - self.meter.last_tick < self.LATE_S:
                continue
            frame = sys._current_frames().get(self.gui)
            if frame is None:
                continue
            chain = tuple(f"{Path(f.filename).parent.name}/{Path(f.filename).name}:{f.lineno} {f.name}"
                          for f in traceback.extract_stack(frame))
            self.samples.append((now, chain))

    def explain(self, ended_at: float) -> None:
        """Print where the GUI thread was during the gap that ended at ``ended_at``."""
        begun = max((t for t, _ in self.samples if t < ended_at), default=None)
        inside = [chain for t, chain in self.samples if ended_at - 0.5 < t <= ended_at]
        gap = []
        for t, chain in reversed(self.samples):  # the samples of this gap: those just before its end
            if t > ended_at:
                continue
            if gap and gap[-1][0] - t > 2 * self.EVERY_S + 0.01:
                break
            gap.append((t, chain))
        if begun is None or not inside or not gap:
            print("    (no Python samples: the thread was in C++ or the operating system held it)")
            return
        counts = Counter()
        for _, chain in gap:
            for depth in range(1, len(chain) + 1):
                counts[chain[:depth]] += 1
        # the deepest call chain that most samples share, then where its samples branched
        total = len(gap)
        shared = max((c for c in counts if counts[c] == total), key=len, default=())
        print(f"    {total} samples; all in: " + " > ".join(shared[-4:]))
        branches = Counter(chain[len(shared):len(shared) + 6] for _, chain in gap)
        for branch, n in branches.most_common(4):
            print(f"      {n}× " + " > ".join(branch))


def run_until(condition, timeout_s: float, every_ms: int = 50) -> None:
    """Run the real event loop until ``condition()`` holds (or the timeout)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    deadline = time.perf_counter() + timeout_s
    poll = QTimer()
    poll.timeout.connect(lambda: loop.quit() if condition() or time.perf_counter() > deadline else None)
    poll.start(every_ms)
    loop.exec()
    poll.stop()


def make_window(store: Path, args, settings: Path):
    os.environ["CAST_STUDIO_SETTINGS"] = str(settings)
    from cast_engine.config import DataConfig
    from cast_studio.main_window import MainWindow

    win = MainWindow(store)
    win.resize(1366, 768)
    win.show()
    loaded = []
    win.data_page.dataset_changed.connect(lambda *_: loaded.append(True))
    win.data_page.set_data_config(DataConfig(data=args.data, task=args.task, variant=args.variant))
    run_until(lambda: bool(loaded), 300)
    page = win.experiment_page
    page.set_model(args.model_path)
    page.set_checked_methods(["cast"])
    page.set_devices([{"id": "cpu", "name": "CPU", "memory_bytes": None}])
    page.device.setCurrentIndex(page.device.findData("cpu"))
    page.train_form.set_text("max_epochs", str(args.epochs))
    page.train_form.set_text("max_length", "64")
    page.subset_form.set_text("train_limit", args.train_limit)
    page.subset_form.set_text("eval_limit", args.train_limit)
    return win


def scenario_idle(app, args, tmp: Path) -> dict:
    win = make_window(tmp / "idle.sqlite", args, tmp / "idle.ini")
    win.show_page("Monitor")
    meter = StallMeter()
    meter.start()
    meter.mark("nothing")
    run_until(lambda: time.perf_counter() - meter.started > WARM_S + 10, 60)
    meter.stop()
    result = meter.report("idle: the window doing nothing (reference)")
    win.close()
    return result


def scenario_monitor(app, args, tmp: Path) -> dict:
    win = make_window(tmp / "monitor.sqlite", args, tmp / "monitor.ini")
    meter = StallMeter(args.explain)
    win.queue.event.connect(lambda e: meter.mark(type(e).__name__ + ":" + str(getattr(e, "phase", ""))))
    pages = ("Monitor", "History", "Data", "Experiment", "Sweep")
    from PySide6.QtCore import QTimer

    step = [0]

    def move():
        name = pages[step[0] % len(pages)]
        step[0] += 1
        meter.mark(f"showing {name}")
        win.show_page(name)

    mover = QTimer()
    mover.timeout.connect(move)
    meter.start()
    mover.start(700)
    runs = 0
    while runs == 0 or time.perf_counter() - meter.started < WARM_S + MONITOR_MEASURED_S:  # a short run is queued again
        win.experiment_page.request_runs()
        runs += 1
        run_until(lambda: time.perf_counter() - meter.started > 2 and not win.queue.is_running(), 1800)
    mover.stop()
    meter.stop()
    result = meter.report(f"monitor: training ({runs} run{'s' * (runs > 1)}), moving between pages")
    win.close()
    return result


def scenario_history(app, args, tmp: Path) -> dict:
    from history_load import build_store

    store = tmp / "history-10000.sqlite"
    seconds = build_store(store, args.history_runs, 20)
    print(f"\n(store of {args.history_runs:,} runs × 20 epochs generated in {seconds:.1f} s)")
    win = make_window(store, args, tmp / "history.ini")
    win.show_page("Monitor")
    history = win.history_page
    from PySide6.QtCore import Qt, QTimer

    from cast_studio.pages.history_page import COLUMN

    actions = [("open History", lambda: win.show_page("History")),
               ("refresh", history.refresh),
               ("filter method = cast", lambda: history.method_filter.setCurrentText("cast")),
               ("sort by combined, descending",
                lambda: history.view.sortByColumn(COLUMN["combined"], Qt.SortOrder.DescendingOrder)),
               ("scroll to the end", history.view.scrollToBottom),
               ("sort by α, ascending" if "alpha" in COLUMN else "sort by seed, ascending",
                lambda: history.view.sortByColumn(COLUMN.get("alpha", COLUMN["seed"]), Qt.SortOrder.AscendingOrder)),
               ("filter method = any", lambda: history.method_filter.setCurrentText("any")),
               ("sort by id", lambda: history.view.sortByColumn(COLUMN["id"], Qt.SortOrder.DescendingOrder)),
               *((f"type name filter {text!r}", lambda text=text: history.name_filter.setText(text))
                 for text in ("c", "ca", "cas", "cast", "cast-n", "")),
               ("select the first run", lambda: history.select_runs(history.visible_ids()[:1])),
               ("scroll to the end", history.view.scrollToBottom)]
    meter = StallMeter(args.explain)
    step = [0]

    def act():
        if time.perf_counter() - meter.started < WARM_S or step[0] >= len(actions):
            return
        note, action = actions[step[0]]
        step[0] += 1
        meter.mark(note)
        action()

    actor = QTimer()
    actor.timeout.connect(act)
    meter.start()
    actor.start(300)
    run_until(lambda: step[0] >= len(actions) and time.perf_counter() - meter.started > WARM_S + 1 + 0.3 * len(actions),
              600)
    actor.stop()
    meter.stop()
    assert history.model.rowCount() == args.history_runs, history.model.rowCount()
    result = meter.report(f"history: {args.history_runs:,} runs opened, filtered, sorted, scrolled")
    win.close()
    return result


def scenario_sweep(app, args, tmp: Path) -> dict:
    win = make_window(tmp / "sweep.sqlite", args, tmp / "sweep.ini")
    win.experiment_page.train_form.set_text("max_epochs", "2")
    win.show_page("Sweep")
    page = win.sweep_page
    # two seeds a cell and two epochs a trial: the sweep trains well past the warm-up (one epoch and one seed
    # ended within 6 s once tokenised sets were plain lists)
    page.axes.set_axes([("method.alpha", "0.01, 0.05, 0.3"), ("method.k", "1000, 1%, 10%"), ("train.seed", "1, 2")])
    meter = StallMeter(args.explain)
    meter.start()
    run_until(lambda: time.perf_counter() - meter.started > 1, 5)
    meter.mark("launch")
    win.queue.event.connect(lambda e: meter.mark(f"trial {e.done} of {e.total} done: heat map refresh")
                            if type(e).__name__ == "SweepProgress" else None)
    assert page.launch(), page.status.text()
    run_until(lambda: not page.is_running(), 1800)
    run_until(lambda: False, 1)  # the last refresh
    meter.stop()
    print(f"(sweep: {page.status.text()})")
    result = meter.report("sweep: 3 × 3 α × K × 2 seeds, heat map refreshing after each trial")
    win.close()
    return result


def scenario_pairs(app, args, tmp: Path) -> dict | None:
    """The flip ledger of two runs over 1,000 real sentiment pairs, driven by bench/pairs_stall.py."""
    import pairs_stall

    data = args.cad_data or pairs_stall.DEFAULT_DATA
    if not Path(data).is_dir():
        print(f"\n[pairs] skipped: no CAD data folder at {data} (give --cad-data)")
        return None
    print("\n[pairs: the flip ledger of 1,000 pairs, filtered, sorted, scrolled]")
    return pairs_stall.measure(data, 1000)


SCENARIOS = {"idle": scenario_idle, "monitor": scenario_monitor, "history": scenario_history, "sweep": scenario_sweep,
             "pairs": scenario_pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=["all", *SCENARIOS], default="all")
    parser.add_argument("--model", choices=("tiny", "minilm"), default="tiny")
    parser.add_argument("--data", default="demo")
    parser.add_argument("--task", default="sentiment")
    parser.add_argument("--variant", default="")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-limit", default="64")
    parser.add_argument("--history-runs", type=int, default=10_000)
    parser.add_argument("--cad-data", default="", help="The real CAD folder, for the pairs scenario (default: ../shared/data/cad).")
    parser.add_argument("--explain", action="store_true",
                        help="sample the GUI thread's stack while it is late and print each long stall's calls")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="profile the GUI thread and print its N most expensive calls per scenario")
    args = parser.parse_args()

    import torch  # noqa: F401  (as opening the Experiment page does: imports are not what is measured)
    import transformers  # noqa: F401
    from PySide6.QtWidgets import QApplication

    tmp = Path(tempfile.mkdtemp(prefix="gui-stall-"))
    if args.model == "tiny":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from engine_fixtures import build_tiny_model

        args.model_path = str(build_tiny_model(tmp / "tiny-bert"))
    else:
        args.model_path = "minilm"
    app = QApplication([])
    from cast_studio.garbage import collect_on_the_gui_thread

    collector = collect_on_the_gui_thread()  # noqa: F841  (as the studio does)
    gc.collect()
    results = {}
    names = list(SCENARIOS) if args.scenario == "all" else list(dict.fromkeys(["idle", args.scenario]))
    for name in names:
        if args.profile:  # the GUI thread's Python, to find what stalls it
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            results[name] = profiler.runcall(SCENARIOS[name], app, args, tmp)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
        else:
            results[name] = SCENARIOS[name](app, args, tmp)
    print("\nscenario  longest  p99  (ms, after the first 5 s; goal ≤ 50)")
    for name, result in results.items():
        print(f"{name:<9} " + (f"{result['longest']:>7}  {result['p99']:>3}" if result else "skipped"))


if __name__ == "__main__":
    main()
