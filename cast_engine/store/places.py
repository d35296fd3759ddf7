"""Where a store's files live, derived from the store file's own location and identity.

A store ``runs.sqlite`` with identity ``S`` (a UUID kept inside it) keeps its
run folders in ``runs.sqlite.artifacts/S/<run id>/`` beside it (checkpoints,
saved models) and its owner locks in ``runs.sqlite.artifacts/S/locks/``. No
path is taken from the store's rows: two stores in one folder, a store deleted
and created again, and a copy of a store never share a folder, so deleting or
finishing a run in one never touches another's files.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from cast_engine.errors import StoreError


def artifact_root(store_path: Path, store_id: str) -> Path:
    """The folder that holds every run folder of the store at ``store_path`` with identity ``store_id``."""
    return store_path.parent / f"{store_path.name}.artifacts" / store_id


def run_folder(store_path: Path, store_id: str, run_id: int) -> Path:
    return artifact_root(store_path, store_id) / str(int(run_id))


def run_lock(store_path: Path, store_id: str, run_id: int) -> Path:
    return artifact_root(store_path, store_id) / "locks" / f"run-{int(run_id)}.lock"


def sweep_lock(store_path: Path, store_id: str, sweep_id: int) -> Path:
    return artifact_root(store_path, store_id) / "locks" / f"sweep-{int(sweep_id)}.lock"


def backup_copy(conn: sqlite3.Connection, store_path: Path) -> Path:
    """Copy the open store to ``<name>.backup-<UTC time><suffix>`` beside it (SQLite's online
    backup: a consistent copy even while other processes use the store); return the copy's path."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = store_path.with_name(f"{store_path.stem}.backup-{stamp}{store_path.suffix}")
    try:
        with sqlite3.connect(str(target)) as copy:
            conn.backup(copy)
        copy.close()
    except (sqlite3.Error, OSError) as exc:
        target.unlink(missing_ok=True)
        raise StoreError(f"run store {store_path}: cannot write a backup before migrating it ({exc}); "
                         "nothing was changed") from exc
    return target
