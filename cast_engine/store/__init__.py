"""The run store: runs, per-epoch metrics and masks in one SQLite file (WAL).

One ``RunStore`` per thread; see ``cast_engine.store.db`` for the concurrency notes.
"""

from cast_engine.store.connection import default_db_path
from cast_engine.store.db import RunStore
from cast_engine.store.interface import RunRecorder
from cast_engine.store.status import RUN_STATUSES

__all__ = ["RUN_STATUSES", "RunRecorder", "RunStore", "default_db_path"]
