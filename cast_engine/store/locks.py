"""Who owns a run or a sweep: a lock file held for the owner's lifetime.

A process running a run (or a sweep) holds an exclusive lock on a file of its
own (``flock`` on Unix, ``LockFileEx`` on Windows, through the ``filelock``
library); the operating system releases it when the process ends, however it
ends. "Is this run alive" asks the lock, not a host name and a process id, so
a reused process id or a host name shared by two machines never freezes a dead
run as running, nor lets a second process take over a live one. Lock files are
tiny and stay on disk; holding the lock, not the file, is what counts.
"""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock, Timeout

from cast_engine.errors import StoreError


class OwnerLock:
    """An exclusive lock on ``path``, held from ``acquire`` until ``release`` (or the process ends)."""

    def __init__(self, path: Path, what: str):
        self.path, self.what = Path(path), what
        self._lock: FileLock | None = None

    def acquire(self) -> "OwnerLock":
        """Take the lock now; StoreError naming ``what`` when another process (or owner) holds it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the lock folder {self.path.parent}: {exc.strerror or exc}") from exc
        lock = FileLock(self.path, is_singleton=False, thread_local=False)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise StoreError(f"{self.what} is in use by another process (it holds {self.path})") from None
        except OSError as exc:
            raise StoreError(f"cannot lock {self.path}: {exc.strerror or exc}") from exc
        self._lock = lock
        return self

    def release(self) -> None:
        """Let go of the lock; releasing twice is harmless."""
        if self._lock is not None:
            self._lock.release(force=True)
            self._lock = None

    @property
    def held(self) -> bool:
        return self._lock is not None

    def __enter__(self) -> "OwnerLock":
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()


def is_held(path: Path) -> bool:
    """Whether some owner (another process, or another owner in this one) holds the lock on ``path`` now."""
    path = Path(path)
    if not path.exists():
        return False
    probe = FileLock(path, is_singleton=False, thread_local=False)
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return True
    except OSError:
        return False  # a lock file that cannot be opened protects nothing
    probe.release(force=True)
    return False
