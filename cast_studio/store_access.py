"""The studio's access to the run store: one connection per thread, one writer at a time.

The window's threads (the GUI's, a pairs loader's) share one process; the
training process writes epochs and masks beside them, ordered by SQLite's own
lock as the ``cast`` command line is. Within a process the studio promises
more: its writes never overlap. Every studio connection is a ``GuardedStore``:
every write of the store goes through one path (``StoreFile._write``), which
it runs under one process-wide lock.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path

from cast_engine.store import RunStore

WRITE_LOCK = threading.RLock()


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


@contextmanager
def _holding_write_lock():
    with WRITE_LOCK:
        MONITOR.enter()
        try:
            yield
        finally:
            MONITOR.leave()


class GuardedStore(RunStore):
    """A RunStore whose writes hold the studio's write lock."""

    def write_guard(self):
        return _holding_write_lock()


def open_store(path: str | Path | None) -> GuardedStore:
    """A guarded connection for the calling thread (open one per thread)."""
    with WRITE_LOCK:  # opening may mark stale runs interrupted: a write
        return GuardedStore(path)
