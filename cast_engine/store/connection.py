"""The store file: opening it (WAL, busy timeout), one connection per thread, and the one write path.

Every write of the store goes through ``StoreFile._write``: one short
``BEGIN IMMEDIATE`` transaction entered under ``write_guard()``. A subclass
that must serialise writes (the studio's) overrides ``write_guard`` and so
covers every write method, present and future.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import platformdirs
from sqlite_utils import Database

from cast_engine.errors import StoreError

BUSY_TIMEOUT_MS = 30000


def default_db_path() -> Path:
    """Return ``$CAST_DB`` if set, else ``<user data dir>/cast-studio/runs.sqlite``."""
    from_env = os.environ.get("CAST_DB")
    if from_env:
        return Path(from_env).expanduser()
    return Path(platformdirs.user_data_dir("cast-studio")) / "runs.sqlite"


def open_connection(path: Path) -> sqlite3.Connection:
    """Create the parent folder and connect; StoreError naming the path on failure."""
    if path.is_dir():
        raise StoreError(f"cannot open run store {path}: it is a folder, not a database file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        cause = exc.strerror or exc
        raise StoreError(
            f"cannot open run store {path}: cannot create folder {path.parent} ({cause})"
        ) from exc
    if not path.exists() and not os.access(path.parent, os.W_OK | os.X_OK):
        raise StoreError(f"cannot open run store {path}: folder {path.parent} is not writable")
    try:
        return sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open run store {path}: {exc}") from exc


def open_read_only(path: Path) -> sqlite3.Connection:
    """Connect to an existing file without creating it or anything beside it; StoreError otherwise."""
    if not path.is_file():
        raise StoreError(f"no run store at {path}" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open run store {path}: {exc}") from exc


def _switch_to_wal(db: Database) -> str:
    """Set the WAL journal and return the mode now in force.

    SQLite does not call the busy handler for a journal-mode change, so when
    several processes open a new store at once, all but one get "database is
    locked" at once instead of waiting; this retries for as long as the busy
    timeout allows.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            return db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.2)


def configure(db: Database, path: Path) -> None:
    """Set busy timeout, WAL journal, synchronous=NORMAL and foreign keys."""
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    mode = _switch_to_wal(db)
    if str(mode).lower() != "wal":
        warnings.warn(
            f"run store {path}: journal_mode is {mode!r}, not 'wal'; "
            "concurrent writers may wait longer",
            stacklevel=3,
        )
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")


class StoreFile:
    """An open store file: lifetime, same-thread checks, reads and the one write path."""

    path: Path
    _owner_thread: int
    _db: Database | None

    # -- lifetime -------------------------------------------------------

    def __enter__(self) -> StoreFile:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._db is None else "open"
        return f"RunStore({str(self.path)!r}, {state})"

    def close(self) -> None:
        """Close the connection; closing twice is harmless."""
        if self._db is None:
            return
        self._check_thread()
        self._db.close()
        self._db = None

    @property
    def db(self) -> Database:
        """The underlying sqlite-utils Database (same-thread use only)."""
        return self._database()

    def _check_thread(self) -> None:
        """Refuse use from a thread other than the opening one, with a clear message."""
        current = threading.get_ident()
        if current != self._owner_thread:
            raise StoreError(
                f"run store {self.path} was opened in thread {self._owner_thread} and used "
                f"from thread {current}; open one RunStore per thread"
            )

    def _database(self) -> Database:
        """The open Database, after the closed and thread checks."""
        if self._db is None:
            raise StoreError(f"run store {self.path} is closed")
        self._check_thread()
        return self._db

    def write_guard(self) -> contextlib.AbstractContextManager:
        """Held around every write transaction; nothing by default (SQLite serialises writers)."""
        return contextlib.nullcontext()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """The one write path: a short BEGIN IMMEDIATE transaction under ``write_guard()``;
        sqlite errors become StoreError."""
        with self.write_guard(), self._transaction() as conn:
            yield conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        reason = getattr(self, "read_only_reason", None)
        if reason is not None:
            raise StoreError(f"cannot write: {reason}")
        conn = self._database().conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"run store {self.path}: cannot start a write: {exc}") from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"run store {self.path}: write failed: {exc}") from exc
            raise

    def _read(self, sql: str, params: tuple | list = ()) -> list[dict[str, Any]]:
        """Run a SELECT and return its rows as dicts."""
        conn = self._database().conn
        try:
            cursor = conn.execute(sql, params)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]
        except sqlite3.Error as exc:
            raise StoreError(f"run store {self.path}: read failed: {exc}") from exc
