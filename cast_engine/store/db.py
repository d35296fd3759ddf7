"""The run store: one SQLite file holding runs, their epochs and their masks.

Concurrency model
-----------------
The file is opened in WAL mode with ``busy_timeout=30000``: any number of
readers run beside one writer, and a writer waits (up to 30 s) for another
instead of failing with "database is locked". Every write is one short
``BEGIN IMMEDIATE`` transaction, so a process that dies mid-run leaves only
committed rows behind.

Threads: a ``RunStore`` holds a single sqlite3 connection, which may only be
used from the thread that opened it (sqlite3's ``check_same_thread``). Open one
``RunStore`` per thread (the studio's GUI thread and each worker thread get
their own); several stores on the same file are safe, in one process or many.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlite_utils import Database

from cast_engine.errors import StoreError
from cast_engine.store.connection import StoreFile, configure, default_db_path, open_connection
from cast_engine.store.evaluations import EvaluationTables
from cast_engine.store.interface import RunRecorder
from cast_engine.store.migrations import apply_migrations
from cast_engine.store.runs import RunTables
from cast_engine.store.sweeps import SweepTables


class RunStore(RunTables, SweepTables, EvaluationTables, StoreFile, RunRecorder):
    """Runs, per-epoch metrics and sparsity masks in one SQLite file.

    ``RunStore(path=None)`` opens (and creates) ``path`` or ``default_db_path()``,
    applies pending schema migrations and marks runs whose process has ended as
    interrupted. Use it from the thread that opened it only (see module doc).
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path).expanduser() if path is not None else default_db_path()
        self._owner_thread = threading.get_ident()
        self._db: Database | None = None
        conn = open_connection(self.path)
        try:
            self._db = Database(conn)
            configure(self._db, self.path)
            apply_migrations(self._db)
        except (sqlite3.Error, OSError) as exc:
            conn.close()
            self._db = None
            raise StoreError(f"cannot open run store {self.path}: {exc}") from exc
        try:
            self.mark_interrupted()
        except BaseException:
            self.close()
            raise

    def disk_folder(self) -> Path:
        return self.path.parent
