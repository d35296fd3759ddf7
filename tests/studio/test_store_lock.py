"""Every write of the store, present and future, holds the studio's write lock."""

from __future__ import annotations

import threading

from cast_engine.store import RunStore
from cast_studio import store_access


def _held_elsewhere() -> bool:
    """Whether another thread finds the studio's write lock taken."""
    found = []

    def probe():
        got = store_access.WRITE_LOCK.acquire(blocking=False)
        if got:
            store_access.WRITE_LOCK.release()
        found.append(not got)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return found[0]


def _new_run(store) -> int:
    return store.create_run({}, method="full", task="sentiment", variant="CAD", regime="cad", model="m", seed=1)


def test_a_write_method_added_to_the_store_is_guarded_by_the_studio_lock(store_path, monkeypatch):
    seen = {}

    def rename_run(self, run_id: int, name: str) -> None:  # a write the studio's code has never heard of
        with self._write() as conn:
            seen["lock held"] = _held_elsewhere()
            conn.execute("UPDATE runs SET name = ? WHERE id = ?", (name, run_id))

    monkeypatch.setattr(RunStore, "rename_run", rename_run, raising=False)
    store = store_access.open_store(store_path)
    try:
        run_id = _new_run(store)
        assert not _held_elsewhere()
        store.rename_run(run_id, "renamed")
        assert seen == {"lock held": True}
        assert store.get_run(run_id)["name"] == "renamed"
    finally:
        store.close()


def test_resuming_from_the_studio_writes_under_the_lock(store_path):
    """reopen_run (a resume's first write) was once missing from a list of guarded methods."""
    store = store_access.open_store(store_path)
    try:
        run_id = _new_run(store)
        store.finish_run(run_id, "cancelled")
        writes = store_access.MONITOR.writes
        store.reopen_run(run_id, epochs_kept=0, masks_kept=0)
        assert store_access.MONITOR.writes == writes + 1
        assert store.get_run(run_id)["status"] == "running"
    finally:
        store.close()
