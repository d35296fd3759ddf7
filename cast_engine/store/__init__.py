"""The run store: runs, per-epoch metrics and masks in one SQLite file (WAL).

One ``RunStore`` per thread; see ``cast_engine.store.db`` for the concurrency notes.
"""

from cast_engine.store.db import RUN_STATUSES, RunStore, default_db_path

__all__ = ["RUN_STATUSES", "RunStore", "default_db_path"]
