"""The store's status rules: which statuses end a run, which runs can resume and what a
resume keeps, which running runs are found dead; every value checked, not only the status."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from datetime import datetime

import pytest

from cast_engine.errors import StoreError
from cast_engine.store import RunStore
from cast_engine.store.processes import pid_is_alive
from cast_engine.store.status import FINAL_STATUSES, RESUMABLE_STATUSES


def _run(store, **fields) -> int:
    return store.create_run({"lr": 1e-3}, **{"method": "cast", "task": "nli", "variant": "RH1", "regime": "cad",
                                             "model": "m", "seed": 1, **fields})


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.fixture
def store(tmp_path):
    with RunStore(tmp_path / "runs.sqlite") as opened:
        yield opened


def test_status_sets():
    assert FINAL_STATUSES == ("completed", "failed", "cancelled", "interrupted")
    assert RESUMABLE_STATUSES == ("interrupted", "cancelled", "failed")


def test_refused_statuses_are_named_with_the_allowed_ones(store):
    run_id = _run(store)
    with pytest.raises(StoreError, match="unknown run status 'running'; expected one of completed, failed, cancelled, interrupted$"):
        store.finish_run(run_id, "running")
    with pytest.raises(StoreError, match="unknown run status 'paused'; expected one of running, completed, failed, cancelled, interrupted$"):
        store.update_run(run_id, status="paused")
    with pytest.raises(StoreError, match="unknown run status 'ok'"):
        store.list_runs(status="ok")


def test_finish_run_wall_time_and_kept_values(store):
    run_id = _run(store)
    store.finish_run(run_id, "failed", reason="first", results={"combined": 0.5}, best_epoch=3)
    run = store.get_run(run_id)
    measured = (datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(run["started_at"])).total_seconds()
    assert run["wall_time_s"] == pytest.approx(measured)
    # finishing again without results or best epoch keeps them; the reason and the times are replaced
    store.finish_run(run_id, "cancelled", wall_time_s=12.5)
    again = store.get_run(run_id)
    assert (again["status"], again["reason"], again["results"], again["best_epoch"], again["wall_time_s"]) == (
        "cancelled", None, {"combined": 0.5}, 3, 12.5)
    assert again["finished_at"] >= run["finished_at"]
    with pytest.raises(StoreError, match="no run 99"):
        store.finish_run(99, "completed")


@pytest.mark.parametrize("status", RESUMABLE_STATUSES)
def test_reopen_keeps_what_the_checkpoint_had(store, status):
    run_id = _run(store)
    other = _run(store, seed=2)
    for epoch in (1, 2, 3):
        store.add_epoch(run_id, epoch, "cast", {"train_loss": 1.0 / epoch})
        store.add_mask(run_id, epoch, 10 + epoch, 100, None, {})
        store.add_epoch(other, epoch, "cast", {"train_loss": 1.0})
        store.add_mask(other, epoch, 1, 100, None, {})
    store.save_predictions(run_id, "factual", [1], [1])
    store.save_predictions(other, "factual", [0], [1])
    store.update_run(run_id, pid=1, host="elsewhere")
    store.finish_run(run_id, status, reason="stopped", wall_time_s=5.0)
    store.reopen_run(run_id, epochs_kept=2, masks_kept=1)
    run = store.get_run(run_id)
    assert (run["status"], run["reason"], run["finished_at"], run["wall_time_s"]) == ("running", None, None, None)
    assert (run["pid"], run["host"]) == (os.getpid(), socket.gethostname())
    assert [e["epoch"] for e in store.epochs(run_id)] == [1, 2]
    assert [m["kept"] for m in store.masks(run_id)] == [11]  # the first mask row
    assert store.predictions(run_id) == {}
    # the other run is untouched
    assert len(store.epochs(other)) == 3 and len(store.masks(other)) == 3 and store.predictions(other)


@pytest.mark.parametrize("status", ["running", "completed"])
def test_reopen_refuses_running_and_completed_runs(store, status):
    run_id = _run(store)
    store.add_epoch(run_id, 1, "cast", {"train_loss": 1.0})
    if status != "running":
        store.finish_run(run_id, status)
    message = f"run {run_id} in {store.path} is {status}; only interrupted, cancelled, failed runs can be resumed"
    if status == "running":  # the store that created the run holds its lock: refused before the status is read
        message = f"run {run_id} is in use by another process"
    with pytest.raises(StoreError, match="^" + message.replace(".", r"\.")):
        store.reopen_run(run_id, epochs_kept=0, masks_kept=0)
    assert store.get_run(run_id)["status"] == status and len(store.epochs(run_id)) == 1
    with pytest.raises(StoreError, match="no run 42"):
        store.reopen_run(42, epochs_kept=0, masks_kept=0)


def test_mark_interrupted_finds_only_runs_whose_owner_is_gone(store):
    """A run is interrupted when no process holds its lock (whatever its pid or host says);
    a run whose owner lives and a finished run are left alone; the reason says what was seen."""
    other = RunStore(store.path)
    gone = _run(other)
    remote = _run(other, seed=4)
    finished = _run(other, seed=5)
    other.update_run(remote, pid=_dead_pid(), host="another-machine")
    other.finish_run(finished, "completed")
    other.close()  # the owner of these three is gone
    alive = _run(store, seed=3)
    assert store.mark_interrupted() == [gone, remote]
    run = store.get_run(gone)
    assert run["status"] == "interrupted" and run["finished_at"] is not None
    assert run["reason"] == (f"process {run['pid']} on {run['host']} ended without finishing "
                             f"(no process held the run's lock at {run['finished_at']})")
    assert store.get_run(remote)["reason"].startswith("process ") and " on another-machine ended" in store.get_run(remote)["reason"]
    assert [store.get_run(i)["status"] for i in (alive, finished)] == ["running", "completed"]
    assert store.mark_interrupted() == []


def test_a_run_another_writer_finished_meanwhile_is_not_marked(store, tmp_path):
    run_id = _run(store)
    store.update_run(run_id, pid=_dead_pid())
    conn = sqlite3.connect(store.path)  # another writer ends the run between the read and the update
    real_read = store._read

    def read_then_finish(sql, params=()):
        rows = real_read(sql, params)
        if "status = 'running'" in sql:
            conn.execute("UPDATE runs SET status = 'completed' WHERE id = ?", (run_id,))
            conn.commit()
        return rows

    store._read = read_then_finish
    assert store.mark_interrupted() == []
    conn.close()
    assert store.get_run(run_id)["status"] == "completed"


def test_pid_is_alive():
    assert pid_is_alive(os.getpid())
    assert not pid_is_alive(0) and not pid_is_alive(-5)
    assert not pid_is_alive(_dead_pid())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert pid_is_alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not pid_is_alive(child.pid)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX process checks")
def test_checking_a_run_process_leaves_it_running_and_reads_errors(monkeypatch):
    """The check sends no signal (the run it looks at keeps going); pid 1 is a live process;
    a process of another user (EPERM) counts as alive, any other error as ended."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        for _ in range(3):
            assert pid_is_alive(child.pid)
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=0.5)  # still running: a signal such as SIGHUP would have ended it
    finally:
        child.kill()
        child.wait()
    assert pid_is_alive(1)

    def refuse(pid, signal):
        raise error

    monkeypatch.setattr(os, "kill", refuse)
    error = PermissionError(1, "Operation not permitted")
    assert pid_is_alive(4242)
    error = OSError(22, "Invalid argument")
    assert not pid_is_alive(4242)
