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
import warnings
from pathlib import Path

from sqlite_utils import Database

from cast_engine.errors import StoreError
from cast_engine.store.connection import StoreFile, configure, default_db_path, open_connection, open_read_only
from cast_engine.store.evaluations import EvaluationTables
from cast_engine.store.interface import RunRecorder
from cast_engine.store.locks import OwnerLock
from cast_engine.store.migrations import apply_migrations, applied_names, meta_value, pending_names, unknown_migrations
from cast_engine.store.places import backup_copy
from cast_engine.store.runs import RunTables
from cast_engine.store.sweeps import SweepTables


class RunStore(RunTables, SweepTables, EvaluationTables, StoreFile, RunRecorder):
    """Runs, per-epoch metrics and sparsity masks in one SQLite file.

    ``RunStore(path=None)`` opens (and creates) ``path`` or ``default_db_path()``,
    copies the file to a backup beside it before applying pending schema
    migrations, and marks runs whose owner no longer holds their lock as
    interrupted. ``read_only=True`` opens only an existing run store and never
    writes to it (an older store is migrated in memory). A store changed by a
    newer version (migrations this one does not know) is opened read-only, with
    a warning naming that version. Use it from the thread that opened it only.
    """

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False):
        self.path = Path(path).expanduser() if path is not None else default_db_path()
        self._owner_thread = threading.get_ident()
        self._db: Database | None = None
        self._held: dict[str, OwnerLock] = {}
        self.read_only_reason: str | None = "opened read-only" if read_only else None
        self.backup_path: Path | None = None
        conn = open_read_only(self.path) if read_only else open_connection(self.path)
        try:
            self._db = Database(conn)
            self._prepare_schema(read_only)
            self.store_id = meta_value(self._db, "store_id")
        except (sqlite3.Error, OSError) as exc:
            (self._db.conn if self._db is not None else conn).close()
            self._db = None
            raise StoreError(f"cannot open run store {self.path}: {exc}") from exc
        except BaseException:
            (self._db.conn if self._db is not None else conn).close()
            self._db = None
            raise
        if self.read_only_reason is None:
            try:
                self.mark_interrupted()
            except BaseException:
                self.close()
                raise

    def _prepare_schema(self, read_only: bool) -> None:
        """Check what the file is, then migrate it (a backup first), in memory when read-only."""
        db = self._db
        # Tables first, then migrations: another process may create the store between the two
        # reads, and its tables and migration records commit together, so tables seen first mean
        # their records are seen next. The other order took a store being made for another
        # program's file.
        has_tables = bool(db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone())
        applied = applied_names(db)
        has_tables = has_tables or bool(applied)
        if has_tables and not applied:
            raise StoreError(f"{self.path} is not a CAST Studio run store (an SQLite file of another program); "
                             "nothing was changed: give another --db")
        newer = unknown_migrations(applied)
        if newer:
            made_by = meta_value(db, "migrated_by") or "a newer version of CAST Studio"
            self.read_only_reason = (f"run store {self.path} was made by {made_by} (schema {', '.join(newer)}, unknown "
                                     "to this version): it is open read-only; use that version to change it")
            warnings.warn(self.read_only_reason, stacklevel=3)
            return
        if read_only:
            if pending_names(applied):  # an older store: read through a migrated copy in memory
                memory = sqlite3.connect(":memory:")
                db.conn.backup(memory)
                db.conn.close()
                self._db = db = Database(memory)
                apply_migrations(db)
            return
        configure(db, self.path)
        if has_tables and pending_names(applied):
            self.backup_path = backup_copy(db.conn, self.path)
            warnings.warn(f"run store {self.path} is being updated to this version's schema; "
                          f"a copy of it as it was is at {self.backup_path}", stacklevel=3)
        apply_migrations(db)

    @property
    def read_only(self) -> bool:
        return self.read_only_reason is not None

    def close(self) -> None:
        """Close the connection and let go of the runs and sweeps this store object owns."""
        if self._db is not None:
            self._check_thread()
            for lock in self._held.values():
                lock.release()
            self._held.clear()
        super().close()

    def disk_folder(self) -> Path:
        return self.path.parent
