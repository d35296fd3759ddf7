"""The run queue: runs one after another in a QThread, stops within a step, survives failures,
and never writes to the store from two threads at once."""

from __future__ import annotations

import os
import sys
import threading

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from cast_engine.train.events import EpochEnded, Progress, RunEnded  # noqa: E402
from cast_studio import store_access  # noqa: E402
from cast_studio.store_access import open_store  # noqa: E402
from cast_studio.worker import RunQueue  # noqa: E402


def test_queue_runs_in_order_and_a_failure_does_not_stop_it(qtbot, tiny_config, store_path):
    queue = RunQueue(store_path)
    finished, events = [], []
    queue.run_finished.connect(lambda *args: finished.append(args))
    queue.event.connect(events.append)
    bad = tiny_config("full", data=str(store_path.parent / "missing.tsv"))
    good = tiny_config("bitfit", max_epochs=1)
    with qtbot.waitSignal(queue.idle, timeout=120_000):
        queue.submit([bad, good])
    assert [f[1] for f in finished] == ["failed", "completed"]
    assert "missing.tsv" in finished[0][2] and finished[0][0] == -1
    assert any(isinstance(e, RunEnded) and e.status == "failed" for e in events)
    with open_store(store_path) as store:
        runs = store.list_runs()
    assert [r["method"] for r in runs] == ["bitfit"]  # the bad config wrote nothing


def test_stop_cancels_the_running_run_within_a_step(qtbot, tiny_config, store_path):
    queue = RunQueue(store_path)
    steps, finished = [], []
    queue.run_finished.connect(lambda *args: finished.append(args))

    def on_event(event):
        if isinstance(event, Progress):
            steps.append(event.step)
            if event.step == 2:
                queue.stop_current()

    queue.event.connect(on_event)
    with qtbot.waitSignal(queue.idle, timeout=120_000):
        queue.submit([tiny_config("full", max_epochs=20)])
    assert finished[0][1] == "cancelled"
    assert max(steps) <= 3  # the request crosses threads: at most one more step


def test_store_writes_never_overlap(qtbot, tiny_config, store_path):
    """The GUI thread deletes runs while the training thread writes epochs."""
    queue = RunQueue(store_path)
    with open_store(store_path) as store:
        doomed = [store.create_run({}, method="full", task="sentiment", variant="CAD", regime="cad", model="m", seed=s)
                  for s in range(30)]
        for run_id in doomed:
            store.finish_run(run_id, "completed")
    gui_store = open_store(store_path)
    store_access.MONITOR.max_active = 0
    threads = set()
    store_access.MONITOR.threads = threads

    def delete_some(event):
        if isinstance(event, (Progress, EpochEnded)) and doomed:
            gui_store.delete_run(doomed.pop())

    queue.event.connect(delete_some)
    with qtbot.waitSignal(queue.idle, timeout=120_000):
        queue.submit([tiny_config("cast", method_options={"k": "1%"}, max_epochs=2)])
    gui_store.close()
    assert store_access.MONITOR.max_active == 1
    assert threading.main_thread().name in threads and len(threads) >= 2  # both threads wrote


def test_training_leaves_one_core_to_the_window(monkeypatch):
    import torch

    from cast_studio import worker

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        monkeypatch.setattr(worker.os, "cpu_count", lambda: 4)
        torch.set_num_threads(4)
        assert worker.leave_a_core_to_the_interface() == 3
        monkeypatch.setattr(worker.os, "cpu_count", lambda: 1)
        assert worker.leave_a_core_to_the_interface() == 1  # one core: one thread, never none
        monkeypatch.setenv("OMP_NUM_THREADS", "4")  # the user's own setting is kept
        torch.set_num_threads(4)
        assert worker.leave_a_core_to_the_interface() == 4
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own CPU priority is a Linux feature")
def test_the_training_thread_runs_at_a_lower_cpu_priority_than_the_window(qtbot, store_path, tiny_config, monkeypatch):
    """The queue's thread lowers its own priority before it trains; the window's thread keeps its own."""
    from cast_studio import worker

    seen = []
    real = worker.yield_the_cpu_to_the_interface

    def lowered() -> bool:
        tid = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, tid)
        result = real()
        seen.append((result, before, os.getpriority(os.PRIO_PROCESS, tid)))
        return result

    window_priority = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    monkeypatch.setattr(worker, "yield_the_cpu_to_the_interface", lowered)
    queue = worker.RunQueue(store_path)
    with qtbot.waitSignal(queue.idle, timeout=120_000):
        queue.submit([tiny_config("full", max_epochs=1)])
    assert seen and seen[0][0] is True
    assert seen[0][2] == min(19, seen[0][1] + worker.TRAINING_NICENESS)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == window_priority
