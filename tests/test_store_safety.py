"""A store's files are its own, one owner per run and per sweep, older and newer stores.

Every test here failed before stores had an identity, owner locks and schema checks."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from cast_engine.errors import CastError, StoreError
from cast_engine.store import RunStore
from cast_engine.store.migrations import MIGRATION_SET, apply_migrations, initial_schema
from cast_engine.train.events import CancelToken, EpochEnded
from cast_engine.runs.runner import resume, run

REPO = Path(__file__).resolve().parents[1]
FIELDS = dict(method="full", task="sentiment", variant="CAD", regime="cad", model="m", seed=1)


def _finished_run(store: RunStore, status: str = "completed") -> int:
    run_id = store.create_run({"lr": 0.1}, **FIELDS)
    store.finish_run(run_id, status)
    return run_id


def _file_in(store: RunStore, run_id: int, name: str, text: str) -> Path:
    path = store.artifact_dir(run_id) / name
    path.write_text(text)
    return path


# ------------------------------------------------------------------ 1. a store's files are its own


def test_two_stores_in_one_folder_never_share_a_run_folder(tmp_path):
    with RunStore(tmp_path / "a.sqlite") as a, RunStore(tmp_path / "b.sqlite") as b:
        run_a, run_b = _finished_run(a, "cancelled"), _finished_run(b, "cancelled")
        assert run_a == run_b == 1
        assert a.artifact_dir(1) != b.artifact_dir(1)
        checkpoint = _file_in(a, run_a, "checkpoint.pt", "a's checkpoint")
        model = _file_in(a, run_a, "delta.safetensors", "a's model")
        _file_in(b, run_b, "checkpoint.pt", "b's checkpoint")
        b.delete_run(run_b)
        assert checkpoint.read_text() == "a's checkpoint" and model.read_text() == "a's model"


def test_a_store_deleted_and_created_again_starts_with_new_folders(tmp_path):
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        old = _file_in(store, _finished_run(store, "cancelled"), "checkpoint.pt", "the old store's")
        old_id = store.store_id
    for leftover in tmp_path.glob("runs.sqlite*"):
        if leftover.is_file():
            leftover.unlink()
    with RunStore(path) as store:
        run_id = _finished_run(store, "cancelled")
        assert run_id == 1 and store.store_id != old_id
        assert not (store.artifact_dir(run_id) / "checkpoint.pt").exists()
        store.delete_run(run_id)
    assert old.read_text() == "the old store's"


@pytest.mark.parametrize("where", ["same folder", "other folder"])
def test_deleting_a_run_in_a_copied_store_leaves_the_original_files(tmp_path, where):
    original = tmp_path / "runs.sqlite"
    with RunStore(original) as store:
        run_id = _finished_run(store, "failed")
        checkpoint = _file_in(store, run_id, "checkpoint.pt", "the original's")
    copy = tmp_path / "copy.sqlite" if where == "same folder" else tmp_path / "elsewhere" / "runs.sqlite"
    copy.parent.mkdir(exist_ok=True)
    shutil.copyfile(original, copy)
    with RunStore(copy) as copied:
        assert copied.get_run(run_id)["artifact_dir"] != str(checkpoint.parent)
        copied.delete_run(run_id)
    assert checkpoint.read_text() == "the original's"


def test_a_stored_path_is_never_used(tmp_path):
    """A row that names some other folder (a copied store of an older version) changes nothing."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "checkpoint.pt").write_text("someone else's")
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        run_id = _finished_run(store, "failed")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE runs SET artifact_dir = ? WHERE id = ?", (str(victim), run_id))
    with RunStore(path) as store:
        assert store.get_run(run_id)["artifact_dir"] != str(victim)
        store.delete_run(run_id)
    assert (victim / "checkpoint.pt").read_text() == "someone else's"


def _stop_after_first_epoch(token):
    def sink(event):
        if isinstance(event, EpochEnded) and event.epoch == 1:
            token.cancel("test stop")
    return sink


def test_checkpoints_and_models_name_their_store_and_run_and_others_are_refused(tiny_config, tmp_path):
    from cast_engine.export import export_run
    from cast_engine.export.delta import read_delta
    from cast_engine.runs.checkpoint import load_checkpoint

    config = tiny_config("full", max_epochs=3, checkpoint=True)
    with RunStore(tmp_path / "a.sqlite") as a, RunStore(tmp_path / "b.sqlite") as b:
        token = CancelToken()
        stopped_a = run(config, store=a, sinks=[_stop_after_first_epoch(token)], cancel=token).run_id
        token = CancelToken()
        stopped_b = run(config, store=b, sinks=[_stop_after_first_epoch(token)], cancel=token).run_id
        done_a = run(tiny_config("bitfit", max_epochs=1), store=a).run_id
        done_b = run(tiny_config("bitfit", max_epochs=1), store=b).run_id
        checkpoint_a = a.artifact_dir(stopped_a) / "checkpoint.pt"
        owner = load_checkpoint(checkpoint_a)
        assert (owner.store_id, owner.run_id) == (a.store_id, stopped_a)
        _, meta = read_delta(a.artifact_dir(done_a) / "delta.safetensors")
        assert (meta["store_id"], meta["run_id"]) == (a.store_id, str(done_a))
        # b's files replaced by a's (as a shared artifacts/1 folder once did): refused, naming the owner
        shutil.copyfile(checkpoint_a, b.artifact_dir(stopped_b) / "checkpoint.pt")
        shutil.copyfile(a.artifact_dir(done_a) / "delta.safetensors", b.artifact_dir(done_b) / "delta.safetensors")
        with pytest.raises(CastError, match=f"belongs to run {stopped_a} of store {a.store_id}"):
            resume(stopped_b, store=b)
        assert b.get_run(stopped_b)["status"] == "cancelled"
        with pytest.raises(StoreError, match=f"belongs to run {done_a} of store {a.store_id}"):
            export_run(b, done_b, "delta", tmp_path / "out")
        assert resume(stopped_a, store=a).status == "completed"


# ------------------------------------------------------------------ 6. one owner per run and per sweep

HOLDER = textwrap.dedent("""
    import sys, time
    from cast_engine.store import RunStore
    store = RunStore(sys.argv[1])
    action = sys.argv[2]
    if action == "run":
        store.create_run({}, method="full", task="t", variant="v", regime="r", model="m", seed=1)
    else:
        store.create_sweep("grid", "sweep", {"base": {}, "grids": [{}]}, "h", 2)
    print("holding", flush=True)
    time.sleep(120)
""")


@pytest.fixture
def holder(tmp_path):
    """Start a process that owns a run (or a sweep) of a store and keeps running."""
    started = []

    def start(path: Path, action: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), action], cwd=REPO, stdout=subprocess.PIPE,
                                text=True, env={"PYTHONPATH": str(REPO), "PATH": ""})
        assert proc.stdout.readline().strip() == "holding"
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def test_a_live_run_of_another_process_is_neither_interrupted_resumed_nor_deleted(tmp_path, holder):
    path = tmp_path / "runs.sqlite"
    owner = holder(path, "run")
    with RunStore(path) as store:
        assert store.get_run(1)["status"] == "running"  # not marked interrupted on open
        assert store.run_is_alive(1)
        with pytest.raises(StoreError, match="run 1 is running"):
            store.delete_run(1)
        store.db.execute("UPDATE runs SET status = 'cancelled' WHERE id = 1")  # even a row that says otherwise
        store.db.conn.commit()
        with pytest.raises(StoreError, match="run 1 is in use by another process"):
            store.reopen_run(1, epochs_kept=0, masks_kept=0)
    owner.kill()
    owner.wait()
    with RunStore(path) as store:
        assert not store.run_is_alive(1)
        store.reopen_run(1, epochs_kept=0, masks_kept=0)  # its owner is gone: now it may be resumed
        assert store.run_is_alive(1)


def test_delete_asks_the_lock_inside_its_transaction(tmp_path):
    """A run resumed after the caller looked (the studio's table said 'cancelled') is not deleted."""
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as first:
        run_id = _finished_run(first, "cancelled")
        looked = first.get_run(run_id)["status"]
        second = RunStore(path)
        second.reopen_run(run_id, epochs_kept=0, masks_kept=0)  # another owner resumes it
        assert looked == "cancelled"
        with pytest.raises(StoreError, match="is running"):
            first.delete_run(run_id)
        second.finish_run(run_id, "cancelled")
        second.close()
        first.delete_run(run_id)


def test_a_second_sweep_process_refuses_to_take_over_a_live_sweep(tmp_path, holder):
    path = tmp_path / "runs.sqlite"
    owner = holder(path, "sweep")
    with RunStore(path) as store:
        assert store.get_sweep(1)["state"] == "running"
        with pytest.raises(StoreError, match="sweep 1 is in use by another process"):
            store.claim_sweep(1)
    owner.kill()
    owner.wait()
    with RunStore(path) as store:
        assert store.get_sweep(1)["state"] == "interrupted"
        store.claim_sweep(1)
        assert store.get_sweep(1)["state"] == "running"


# ------------------------------------------------------------------ 3. older and newer stores


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_store_from_a_newer_version_is_opened_read_only_naming_the_version(tmp_path):
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        _finished_run(store)
    newer = Migrations(MIGRATION_SET)

    @newer(name="0099_from_the_future")
    def future(db):
        db.execute("ALTER TABLE runs ADD COLUMN stars INTEGER")

    db = Database(path)
    apply_migrations(db, newer)
    db.execute("UPDATE store_meta SET value = 'cast-studio 9.0' WHERE key = 'migrated_by'")
    db.conn.commit()
    db.close()
    before = _digest(path)
    with pytest.warns(UserWarning, match=r"made by cast-studio 9\.0 \(schema 0099_from_the_future"):
        store = RunStore(path)
    with store:
        assert store.read_only and store.get_run(1)["status"] == "completed"
        with pytest.raises(StoreError, match="cast-studio 9.0.*read-only"):
            store.create_run({}, **FIELDS)
        with pytest.raises(StoreError, match="read-only"):
            store.delete_run(1)
    assert _digest(path) == before


def test_an_older_store_is_copied_beside_itself_before_it_is_migrated(tmp_path):
    path = tmp_path / "runs.sqlite"
    only_initial = Migrations(MIGRATION_SET)
    only_initial(name="0001_initial")(initial_schema)
    db = Database(path)
    apply_migrations(db, only_initial)
    db.execute("INSERT INTO runs (id, status, created_at, config) VALUES (1, 'completed', '2025-01-01T00:00:00+00:00', '{}')")
    db.conn.commit()
    db.close()
    with pytest.warns(UserWarning, match="a copy of it as it was is at") as warned:
        store = RunStore(path)
    with store:
        backup = store.backup_path
        assert backup is not None and backup.parent == path.parent and str(backup) in str(warned[0].message)
        assert store.get_run(1)["status"] == "completed" and store.store_id
    kept = sqlite3.connect(backup)
    assert [r[0] for r in kept.execute("SELECT name FROM _sqlite_migrations")] == ["0001_initial"]
    assert kept.execute("SELECT status FROM runs WHERE id = 1").fetchone() == ("completed",)
    kept.close()
    with RunStore(path) as again:  # migrated now: no second copy
        assert again.backup_path is None
    assert len(list(tmp_path.glob("runs.backup-*.sqlite"))) == 1


def test_a_new_store_needs_no_backup(tmp_path):
    with RunStore(tmp_path / "runs.sqlite") as store:
        assert store.backup_path is None
    assert not list(tmp_path.glob("*.backup-*"))


# ------------------------------------------------------------------ read-only commands (issue 13, point 8)


def _cast(*args, db: Path) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "PYTHONPATH": str(REPO), "CAST_DB": str(db)}
    return subprocess.run([sys.executable, "-m", "cast_engine.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.mark.parametrize("command", [("runs",), ("show", "1"), ("compare", "--a", "1", "--b", "2"), ("sweeps",),
                                     ("export", "1", "--format", "delta", "--out", "x")])
def test_a_command_that_only_reads_creates_nothing_at_a_mistyped_path(command, tmp_path):
    db = tmp_path / "typo" / "rusn.sqlite"
    done = _cast(*command, db=db)
    assert done.returncode == 2 and f"no run store at {db}" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "typo").exists()


def test_a_command_that_only_reads_leaves_another_programs_sqlite_file_alone(tmp_path):
    other = tmp_path / "notes.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
        conn.execute("INSERT INTO notes VALUES ('mine')")
    before = _digest(other)
    for command in (("runs",), ("show", "1"), ("sweeps",)):
        done = _cast(*command, db=other)
        assert done.returncode == 2 and "not a CAST Studio run store" in done.stderr
    with RunStore_refused(other):
        pass
    assert _digest(other) == before
    assert sqlite3.connect(other).execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.sqlite"]


class RunStore_refused:  # noqa: N801 (reads as a sentence in the test)
    """Opening a foreign SQLite file for writing is refused too, before anything is written."""

    def __init__(self, path: Path):
        with pytest.raises(StoreError, match="not a CAST Studio run store"):
            RunStore(path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_read_only_reads_an_older_store_without_changing_it(tmp_path):
    path = tmp_path / "runs.sqlite"
    only_initial = Migrations(MIGRATION_SET)
    only_initial(name="0001_initial")(initial_schema)
    db = Database(path)
    apply_migrations(db, only_initial)
    db.execute("INSERT INTO runs (id, status, created_at, config, name) VALUES (1, 'completed', '2025-01-01', '{}', 'old')")
    db.conn.commit()
    db.close()
    before = _digest(path)
    with RunStore(path, read_only=True) as store:
        assert [r["name"] for r in store.list_runs()] == ["old"]
    done = _cast("runs", db=path)
    assert done.returncode == 0 and "completed" in done.stdout
    assert _digest(path) == before and not list(tmp_path.glob("*.backup-*"))
