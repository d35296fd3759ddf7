"""The run queue: runs one after another in the training process, stops within a step, survives
failures and a crash of that process, and shares the store with the window."""

from __future__ import annotations

import os
import sys
import threading

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from cast_engine.train.events import EpochEnded, Progress, RunEnded  # noqa: E402
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


def test_the_window_deletes_runs_while_the_training_process_writes_epochs(qtbot, tiny_config, store_path):
    """Two processes write one store (SQLite orders them): every delete and every epoch is kept."""
    queue = RunQueue(store_path)
    with open_store(store_path) as store:
        doomed = [store.create_run({}, method="full", task="sentiment", variant="CAD", regime="cad", model="m", seed=s)
                  for s in range(30)]
        for run_id in doomed:
            store.finish_run(run_id, "completed")
    gui_store = open_store(store_path)
    deleted, finished = [], []

    def delete_some(event):
        if isinstance(event, (Progress, EpochEnded)) and doomed:
            deleted.append(doomed.pop())
            gui_store.delete_run(deleted[-1])

    queue.event.connect(delete_some)
    queue.run_finished.connect(lambda *args: finished.append(args))
    with qtbot.waitSignal(queue.idle, timeout=120_000):
        queue.submit([tiny_config("cast", method_options={"k": "1%"}, max_epochs=2)])
    gui_store.close()
    assert len(deleted) >= 5 and finished[0][1] == "completed"
    with open_store(store_path) as store:
        left = {run["id"] for run in store.list_runs()}
        epochs = store.epochs(finished[0][0])
    assert not left & set(deleted) and left == set(doomed) | {finished[0][0]}
    assert sorted({e["epoch"] for e in epochs}) == [1, 2]


def test_training_runs_in_its_own_process(qtbot, tiny_config, store_path):
    """The window's interpreter never trains: the run's events come from another process."""
    from cast_engine.train.events import RunStarted

    queue = RunQueue(store_path)
    started = []
    queue.event.connect(lambda event: isinstance(event, RunStarted) and started.append(event))
    with qtbot.waitSignal(queue.idle, timeout=120_000):
        queue.submit([tiny_config("full", max_epochs=1)])
    assert started and queue.trainer.pid not in (None, os.getpid())
    with open_store(store_path) as store:
        assert store.get_run(started[0].run_id)["pid"] == queue.trainer.pid


CRASHES = 21  # the seed of a run whose training process dies


def _die_on_a_seed() -> None:
    """In the training process: the run of seed CRASHES ends the process at its third training step,
    as a crash in native code would."""
    import torch

    from cast_engine.runs import runner

    real_prepare, real_loss, current = runner.prepare, torch.nn.functional.cross_entropy, {"seed": None, "steps": 0}

    def prepare(config, *args, **kwargs):
        current["seed"] = config.train.seed
        return real_prepare(config, *args, **kwargs)

    def loss(*args, **kwargs):
        if current["seed"] == CRASHES:
            current["steps"] += 1
            if current["steps"] == 3:
                os._exit(3)
        return real_loss(*args, **kwargs)

    runner.prepare, torch.nn.functional.cross_entropy = prepare, loss


def test_a_crash_of_the_training_process_fails_that_run_only(qtbot, tiny_config, store_path):
    queue = RunQueue(store_path, trainer_setup=_die_on_a_seed)
    finished, events = [], []
    queue.run_finished.connect(lambda *args: finished.append(args))
    queue.event.connect(events.append)
    with qtbot.waitSignal(queue.idle, timeout=180_000):
        queue.submit([tiny_config("full", max_epochs=1, seed=CRASHES), tiny_config("bitfit", max_epochs=1)])
    assert [f[1] for f in finished] == ["failed", "completed"]
    assert "training process ended" in finished[0][2] and "exit code 3" in finished[0][2]
    assert any(isinstance(e, RunEnded) and e.status == "failed" and "exit code 3" in e.reason for e in events)
    with open_store(store_path) as store:
        status = {r["method"]: r["status"] for r in store.list_runs()}
    assert status == {"full": "interrupted", "bitfit": "completed"}  # the crashed run is kept, resumable


def test_closing_ends_the_training_process(qtbot, tiny_config, store_path):
    from cast_studio.trainer import Trainer

    trainer = Trainer()
    reports = []
    trainer.run(trainer.ticket(), store_path, tiny_config("full", max_epochs=1), lambda *r: reports.append(r[0]))
    pid = trainer.pid
    assert pid is not None and reports[0] == "run_starting" and "run_finished" in reports
    trainer.close()
    assert trainer.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_training_leaves_one_core_to_the_window(monkeypatch):
    import torch

    from cast_studio import jobs

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        monkeypatch.setattr(jobs.os, "cpu_count", lambda: 4)
        torch.set_num_threads(4)
        assert jobs.leave_a_core_to_the_interface() == 3
        monkeypatch.setattr(jobs.os, "cpu_count", lambda: 1)
        assert jobs.leave_a_core_to_the_interface() == 1  # one core: one thread, never none
        monkeypatch.setenv("OMP_NUM_THREADS", "4")  # the user's own setting is kept
        torch.set_num_threads(4)
        assert jobs.leave_a_core_to_the_interface() == 4
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own CPU priority is a Linux feature")
def test_the_training_process_runs_at_a_lower_cpu_priority_than_the_window(qtbot, store_path, tiny_config):
    """The training process lowers its priority before it starts a thread; the window keeps its own."""
    from cast_studio import worker
    from cast_studio.jobs import TRAINING_NICENESS

    window_priority = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    queue = worker.RunQueue(store_path)
    with qtbot.waitSignal(queue.idle, timeout=120_000):
        queue.submit([tiny_config("full", max_epochs=1)])
    pid = queue.trainer.pid
    threads = os.listdir(f"/proc/{pid}/task")
    assert {os.getpriority(os.PRIO_PROCESS, int(tid)) for tid in threads} == {min(19, window_priority + TRAINING_NICENESS)}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == window_priority
