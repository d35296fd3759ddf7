"""The studio's access to the run store: one connection per thread, one writer at a time.

The training thread writes epochs and masks while the GUI thread may delete
runs. SQLite would serialise them anyway, but the studio promises more: its
writes never overlap. Every studio connection is a ``GuardedStore`` whose
writing methods hold one process-wide lock.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

from cast_engine.store import RunStore

WRITE_LOCK = threading.RLock()
WRITE_METHODS = ("create_run", "update_run", "add_epoch", "add_mask", "finish_run", "delete_run", "mark_interrupted",
                 "artifact_dir", "save_predictions", "record_trial", "create_sweep", "claim_sweep", "finish_sweep")


class WriteMonitor:
    """Counts writers inside the lock (tests check it never exceeds one)."""

    def __init__(self) -> None:
        self.active = 0
        self.max_active = 0
        self.writes = 0
        self.threads: set[str] = set()
        self._count_lock = threading.Lock()

    def enter(self) -> None:
        with self._count_lock:
            self.active += 1
            self.writes += 1
            self.max_active = max(self.max_active, self.active)
            self.threads.add(threading.current_thread().name)

    def leave(self) -> None:
        with self._count_lock:
            self.active -= 1


MONITOR = WriteMonitor()


def _guarded(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with WRITE_LOCK:
            MONITOR.enter()
            try:
                return method(self, *args, **kwargs)
            finally:
                MONITOR.leave()

    return wrapper


class GuardedStore(RunStore):
    """A RunStore whose writes hold the studio's write lock."""


for _name in WRITE_METHODS:
    setattr(GuardedStore, _name, _guarded(getattr(RunStore, _name)))


def open_store(path: str | Path | None) -> GuardedStore:
    """A guarded connection for the calling thread (open one per thread)."""
    with WRITE_LOCK:  # opening may mark stale runs interrupted: a write
        return GuardedStore(path)
