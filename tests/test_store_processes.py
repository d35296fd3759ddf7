"""Several processes open one new store file at the same moment: the schema is created
once, no process fails, and every process can write."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from cast_engine.store.migrations import MIGRATIONS

PROCESSES = 8
ROUNDS = 6


def _open_and_write(path: str, start, errors) -> None:
    from cast_engine.store import RunStore

    start.wait()  # all processes open the file at once
    try:
        with RunStore(path) as store:
            store.create_run({"train": {}}, method="full", task="nli", variant="RH1", regime="cad", model="m", seed=1)
    except BaseException as exc:  # reported to the test, which names it
        errors.put(f"{type(exc).__name__}: {exc}")


def test_eight_processes_open_a_new_store_at_once(tmp_path):
    context = multiprocessing.get_context("fork")  # fast starts, so the opens really overlap
    failures = []
    for round_ in range(ROUNDS):
        path = tmp_path / f"round{round_}" / "runs.sqlite"
        start, errors = context.Barrier(PROCESSES), context.Queue()
        workers = [context.Process(target=_open_and_write, args=(str(path), start, errors)) for _ in range(PROCESSES)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
        while not errors.empty():
            failures.append(f"round {round_}: {errors.get()}")
        failures += [f"round {round_}: exit code {w.exitcode}" for w in workers if w.exitcode != 0]
        conn = sqlite3.connect(path)
        applied = [row[0] for row in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
        runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        conn.close()
        assert applied == [m.name for m in MIGRATIONS._migrations], (round_, applied)  # each applied once
        if not failures:
            assert runs == PROCESSES
    assert failures == []


def test_switching_to_wal_waits_for_a_writer_of_the_new_file(tmp_path):
    """SQLite reports "database is locked" at once for a journal-mode change; opening waits instead."""
    import threading
    import time

    from sqlite_utils import Database

    from cast_engine.store.connection import configure

    path = tmp_path / "runs.sqlite"
    writer = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("BEGIN IMMEDIATE")  # a write lock on the file, still in its first journal mode
    threading.Timer(0.5, lambda: writer.execute("COMMIT")).start()
    started = time.monotonic()
    configure(Database(sqlite3.connect(path)), path)
    assert time.monotonic() - started >= 0.4  # it waited for the writer rather than failing
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    writer.close()


@pytest.mark.parametrize("made", ["before", "after"])
def test_a_store_made_by_another_opener_meanwhile_is_still_a_run_store(tmp_path, monkeypatch, made):
    """Another process may create the store while this one looks at what the file holds
    (its tables, its migrations): the file must not be taken for another program's."""
    from cast_engine.store import RunStore
    from cast_engine.store import db as store_db

    path = tmp_path / "runs.sqlite"
    real_applied_names = store_db.applied_names
    made_elsewhere = []

    def applied_names_while_another_makes_the_store(db):
        if made_elsewhere:
            return real_applied_names(db)
        made_elsewhere.append(path)
        if made == "before":
            RunStore(path).close()
            return real_applied_names(db)
        applied = real_applied_names(db)
        RunStore(path).close()
        return applied

    monkeypatch.setattr(store_db, "applied_names", applied_names_while_another_makes_the_store)
    with RunStore(path) as store:
        assert not store.read_only
        store.create_run({"train": {}}, method="full", task="nli", variant="RH1", regime="cad", model="m", seed=1)
    assert made_elsewhere
    conn = sqlite3.connect(path)
    assert [row[0] for row in conn.execute("SELECT name FROM _sqlite_migrations")] == [
        m.name for m in MIGRATIONS._migrations]  # each applied once
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    conn.close()
