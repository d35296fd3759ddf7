"""Tests of the run store (cast_engine.store)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # pytest's default import mode only adds tests/
    sys.path.insert(0, str(REPO_ROOT))

from sqlite_utils import Database  # noqa: E402
from sqlite_utils.migrations import Migrations  # noqa: E402

from cast_engine.errors import StoreError  # noqa: E402
from cast_engine.store import RUN_STATUSES, RunStore, default_db_path  # noqa: E402
from cast_engine.store.migrations import (  # noqa: E402
    MIGRATION_SET,
    apply_migrations,
    initial_schema,
)

RUN_FIELDS = dict(method="cast", task="sst2", variant="full", regime="few", model="tiny", seed=0)


def make_run(store: RunStore, **overrides) -> int:
    """Create a run with default filter fields, overridden by ``overrides``."""
    fields = {**RUN_FIELDS, **overrides}
    config = fields.pop("config", {"lr": 1e-3, "epochs": 3})
    return store.create_run(config, **fields)


@pytest.fixture
def store(tmp_path):
    with RunStore(tmp_path / "runs.sqlite") as opened:
        yield opened


# -- opening --------------------------------------------------------------


def test_open_creates_folders_and_sets_pragmas(tmp_path):
    path = tmp_path / "a" / "b" / "runs.sqlite"
    with RunStore(path) as store:
        assert store.path == path
        assert path.exists()
        conn = store.db.conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        tables = set(store.db.table_names())
        assert {"runs", "epochs", "masks", "_sqlite_migrations"} <= tables
        applied = conn.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = ?", (MIGRATION_SET,)
        ).fetchall()
        assert ("0001_initial",) in applied


def test_reopen_keeps_rows(tmp_path):
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        run_id = make_run(store)
        store.finish_run(run_id, "completed")
    with RunStore(path) as store:
        assert store.get_run(run_id)["status"] == "completed"


def test_default_db_path_uses_env_var(monkeypatch, tmp_path):
    monkeypatch.setenv("CAST_DB", str(tmp_path / "custom.sqlite"))
    assert default_db_path() == tmp_path / "custom.sqlite"
    with RunStore() as store:
        assert store.path == tmp_path / "custom.sqlite"
    monkeypatch.delenv("CAST_DB")
    fallback = default_db_path()
    assert fallback.name == "runs.sqlite"
    assert "cast-studio" in str(fallback)


def test_non_database_file_raises_store_error(tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_bytes(b"this is not a sqlite database, just some text " * 40)
    with pytest.raises(StoreError) as caught:
        RunStore(path)
    assert str(path) in str(caught.value)
    assert "not a database" in str(caught.value)


def test_folder_path_raises_store_error(tmp_path):
    with pytest.raises(StoreError, match="folder") as caught:
        RunStore(tmp_path)
    assert str(tmp_path) in str(caught.value)


def _read_only_target(tmp_path: Path) -> Path:
    """A db path under a read-only folder, or under a *file* when chmod cannot stop us (root)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    probe = locked / "probe"
    try:
        probe.mkdir()
    except PermissionError:
        return locked / "sub" / "runs.sqlite"
    probe.rmdir()
    blocker = tmp_path / "plain-file"
    blocker.write_text("not a folder")
    return blocker / "sub" / "runs.sqlite"


def test_unwritable_location_raises_store_error(tmp_path):
    path = _read_only_target(tmp_path)
    try:
        with pytest.raises(StoreError) as caught:
            RunStore(path)
    finally:
        (tmp_path / "locked").chmod(0o700)
    assert str(path) in str(caught.value)
    assert "cannot create folder" in str(caught.value)


def test_new_file_in_read_only_folder_raises_store_error(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: chmod does not stop writes")
        with pytest.raises(StoreError, match="is not writable") as caught:
            RunStore(folder / "runs.sqlite")
    finally:
        folder.chmod(0o700)
    assert str(folder / "runs.sqlite") in str(caught.value)


def test_path_whose_parent_is_a_file_raises_store_error(tmp_path):
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    path = blocker / "runs.sqlite"
    with pytest.raises(StoreError) as caught:
        RunStore(path)
    assert str(path) in str(caught.value)


def test_closed_store_refuses_use(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.list_runs()


def test_use_from_another_thread_raises_store_error(store):
    errors = []

    def worker():
        try:
            store.list_runs()
        except StoreError as exc:
            errors.append(str(exc))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert errors and "one RunStore per thread" in errors[0]


# -- runs -----------------------------------------------------------------


def test_create_and_get_run(store):
    run_id = store.create_run(
        {"lr": 0.01, "nested": {"layers": [1, 2, 3]}},
        **RUN_FIELDS,
        name="first",
        data_hashes={"train.csv": "ab" * 32},
        versions={"torch": "2.5.0", "cast_engine": "0.1"},
        trainable_params=10,
        total_params=100,
        sweep_id=7,
    )
    run = store.get_run(run_id)
    assert run["id"] == run_id
    assert run["name"] == "first"
    assert run["status"] == "running"
    assert run["config"] == {"lr": 0.01, "nested": {"layers": [1, 2, 3]}}
    assert run["data_hashes"] == {"train.csv": "ab" * 32}
    assert run["versions"]["torch"] == "2.5.0"
    assert (run["trainable_params"], run["total_params"], run["sweep_id"]) == (10, 100, 7)
    assert run["pid"] == os.getpid()
    assert run["host"]
    assert run["started_at"].endswith("+00:00") and "T" in run["started_at"]
    assert run["finished_at"] is None and run["results"] is None
    for key, value in RUN_FIELDS.items():
        assert run[key] == value


def test_default_name(store):
    run = store.get_run(make_run(store))
    assert run["name"] == "cast-sst2-full-few-seed0"


def test_get_unknown_run_names_id_and_path(store):
    with pytest.raises(StoreError) as caught:
        store.get_run(999)
    assert str(caught.value) == f"no run 999 in {store.path}"


def test_update_run(store):
    run_id = make_run(store)
    store.update_run(run_id, trainable_params=5, total_params=50, versions={"python": "3.11"})
    run = store.get_run(run_id)
    assert (run["trainable_params"], run["total_params"]) == (5, 50)
    assert run["versions"] == {"python": "3.11"}
    with pytest.raises(StoreError, match="artifact_dir"):  # derived from the store, never set
        store.update_run(run_id, artifact_dir="/tmp/a")
    assert run["artifact_dir"] == str(store.path.parent / f"{store.path.name}.artifacts" / store.store_id / str(run_id))


def test_update_run_refuses_unknown_column_and_run(store):
    run_id = make_run(store)
    with pytest.raises(StoreError, match="no column 'colour'"):
        store.update_run(run_id, colour="red")
    with pytest.raises(StoreError, match="no run 42"):
        store.update_run(42, name="x")
    with pytest.raises(StoreError, match="unknown run status 'paused'"):
        store.update_run(run_id, status="paused")


def test_finish_run_sets_times_and_results(store):
    run_id = make_run(store)
    store.finish_run(run_id, "completed", results={"test_acc": 0.91}, best_epoch=2)
    run = store.get_run(run_id)
    assert run["status"] == "completed"
    assert run["results"] == {"test_acc": 0.91}
    assert run["best_epoch"] == 2
    assert run["finished_at"] >= run["started_at"]
    assert run["wall_time_s"] is not None and run["wall_time_s"] >= 0


@pytest.mark.parametrize("status", [s for s in RUN_STATUSES if s != "running"])
def test_finish_run_accepts_final_statuses(store, status):
    run_id = make_run(store)
    store.finish_run(run_id, status, reason=f"because {status}")
    run = store.get_run(run_id)
    assert run["status"] == status
    assert run["reason"] == f"because {status}"


@pytest.mark.parametrize("status", ["done", "running", ""])
def test_finish_run_refuses_unknown_status(store, status):
    run_id = make_run(store)
    with pytest.raises(StoreError) as caught:
        store.finish_run(run_id, status)
    assert repr(status) in str(caught.value)
    assert store.get_run(run_id)["status"] == "running"


def test_statuses_constant():
    assert RUN_STATUSES == ("running", "completed", "failed", "cancelled", "interrupted")


def test_list_and_filter_runs(store):
    a = make_run(store, method="cast", task="sst2", variant="full")
    b = make_run(store, method="lora", task="sst2", variant="full", sweep_id=3)
    c = make_run(store, method="cast", task="imdb", variant="head")
    store.finish_run(a, "completed")
    store.finish_run(c, "failed", reason="boom")

    assert [r["id"] for r in store.list_runs()] == [c, b, a]
    assert [r["id"] for r in store.list_runs(order="asc")] == [a, b, c]
    assert [r["id"] for r in store.list_runs(method="cast")] == [c, a]
    assert [r["id"] for r in store.list_runs(task="sst2", method="cast")] == [a]
    assert [r["id"] for r in store.list_runs(variant="head")] == [c]
    assert [r["id"] for r in store.list_runs(status="running")] == [b]
    assert [r["id"] for r in store.list_runs(status="failed")] == [c]
    assert [r["id"] for r in store.list_runs(sweep_id=3)] == [b]
    assert [r["id"] for r in store.list_runs(limit=2)] == [c, b]
    assert store.list_runs(method="nothing") == []
    assert store.list_runs(method="cast")[0]["config"] == {"lr": 1e-3, "epochs": 3}


def test_list_runs_since(store):
    old = make_run(store)
    store.update_run(old, created_at="2020-01-01T00:00:00.000000+00:00")
    new = make_run(store)
    assert [r["id"] for r in store.list_runs(since="2021-06-01")] == [new]
    assert [r["id"] for r in store.list_runs(since="2019-12-31T23:00:00Z")] == [new, old]
    with pytest.raises(StoreError, match="since='yesterday'"):
        store.list_runs(since="yesterday")


def test_list_runs_refuses_bad_arguments(store):
    with pytest.raises(StoreError, match="'sideways'"):
        store.list_runs(order="sideways")
    with pytest.raises(StoreError, match="'paused'"):
        store.list_runs(status="paused")


def test_json_round_trip(store):
    config = {
        "float": 0.1,
        "int": 3,
        "bool": True,
        "none": None,
        "text": "héllo ✓",
        "list": [1, "two", [3.5]],
        "nested": {"a": {"b": [None, False]}},
    }
    run_id = make_run(store, config=config)
    store.finish_run(run_id, "completed", results={"acc": 0.5, "per_class": [0.4, 0.6]})
    run = store.get_run(run_id)
    assert run["config"] == config
    assert run["results"] == {"acc": 0.5, "per_class": [0.4, 0.6]}


def test_unencodable_json_names_the_field(store):
    with pytest.raises(StoreError, match="config"):
        make_run(store, config={"fn": object()})


def test_numpy_scalars_are_stored(store):
    np = pytest.importorskip("numpy")
    run_id = make_run(store, config={"lr": np.float32(0.5), "steps": np.int64(3)})
    store.add_epoch(run_id, 0, "train", {"train_loss": np.float32(1.5), "acc": np.float64(0.25)})
    store.add_mask(run_id, 0, np.int64(3), np.int64(10), np.float32(0.5), {"0": [3, 10]})
    assert store.get_run(run_id)["config"] == {"lr": 0.5, "steps": 3}
    assert store.epochs(run_id)[0]["train_loss"] == 1.5
    assert store.epochs(run_id)[0]["acc"] == 0.25
    assert store.masks(run_id)[0]["kept"] == 3


# -- epochs and masks -----------------------------------------------------


def test_add_epoch_and_read_back(store):
    run_id = make_run(store)
    store.add_epoch(run_id, 1, "train", {"train_loss": 0.5, "lr": 1e-4, "elapsed_s": 2.0,
                                         "val_factual": None, "grad_norm": 3.0})
    store.add_epoch(run_id, 0, "train", {"train_loss": 0.9, "val_pair": 0.7,
                                         "confusion": [[1, 2], [3, 4]]})
    rows = store.epochs(run_id)
    assert [r["epoch"] for r in rows] == [0, 1]
    assert rows[0]["train_loss"] == 0.9
    assert rows[0]["val_pair"] == 0.7
    assert rows[0]["confusion"] == [[1, 2], [3, 4]]
    assert rows[1]["grad_norm"] == 3.0
    assert rows[1]["val_factual"] is None
    assert rows[1]["run_id"] == run_id and rows[1]["stage"] == "train"
    assert "metrics" not in rows[0]


def test_add_epoch_upserts_on_run_epoch_stage(store):
    run_id = make_run(store)
    store.add_epoch(run_id, 0, "stage1", {"train_loss": 1.0, "extra": 1})
    store.add_epoch(run_id, 0, "stage1", {"train_loss": 0.8, "val_combined": 0.6, "other": 2})
    store.add_epoch(run_id, 0, "stage2", {"train_loss": 0.4})
    rows = store.epochs(run_id)
    assert len(rows) == 2
    first = next(r for r in rows if r["stage"] == "stage1")
    assert first["train_loss"] == 0.8
    assert first["val_combined"] == 0.6
    assert first["extra"] == 1 and first["other"] == 2
    count = store.db.conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0]
    assert count == 2


def test_add_epoch_refuses_bad_input(store):
    run_id = make_run(store)
    with pytest.raises(StoreError, match="no run 77"):
        store.add_epoch(77, 0, "train", {"train_loss": 1.0})
    with pytest.raises(StoreError, match="reserved"):
        store.add_epoch(run_id, 0, "train", {"epoch": 3})
    with pytest.raises(StoreError, match="train_loss='high'"):
        store.add_epoch(run_id, 0, "train", {"train_loss": "high"})
    with pytest.raises(StoreError, match="epoch must be an integer"):
        store.add_epoch(run_id, 1.5, "train", {})
    assert store.epochs(run_id) == []


def test_masks(store):
    run_id = make_run(store)
    store.add_mask(run_id, 1, kept=40, eligible=100, jaccard=0.8,
                   per_layer={"0": [10, 25], "1": [30, 75]})
    store.add_mask(run_id, 0, kept=50, eligible=100, jaccard=None, per_layer={"0": [25, 50]})
    rows = store.masks(run_id)
    assert [r["epoch"] for r in rows] == [0, 1]
    assert rows[0]["jaccard"] is None
    assert rows[1]["jaccard"] == 0.8
    assert rows[1]["per_layer"] == {"0": [10, 25], "1": [30, 75]}
    assert (rows[1]["kept"], rows[1]["eligible"]) == (40, 100)


def test_delete_run_cascades(store):
    keep = make_run(store)
    gone = make_run(store)
    for run_id in (keep, gone):
        store.add_epoch(run_id, 0, "train", {"train_loss": 1.0})
        store.add_mask(run_id, 0, 1, 2, None, {"0": [1, 2]})
    store.finish_run(gone, "completed")
    store.delete_run(gone)
    with pytest.raises(StoreError, match=f"no run {gone}"):
        store.get_run(gone)
    conn = store.db.conn
    assert conn.execute("SELECT COUNT(*) FROM epochs WHERE run_id = ?", (gone,)).fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM masks WHERE run_id = ?", (gone,)).fetchone()[0] == 0
    assert len(store.epochs(keep)) == 1 and len(store.masks(keep)) == 1
    with pytest.raises(StoreError, match=f"no run {gone}"):
        store.delete_run(gone)


def test_foreign_key_cascade_in_sql(store):
    run_id = make_run(store)
    store.add_epoch(run_id, 0, "train", {"train_loss": 1.0})
    store.add_mask(run_id, 0, 1, 2, None, {})
    store.db.execute("DELETE FROM runs WHERE id = ?", [run_id])
    assert store.db.conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] == 0
    assert store.db.conn.execute("SELECT COUNT(*) FROM masks").fetchone()[0] == 0


def test_ids_are_not_reused_after_delete(store):
    first = make_run(store)
    store.finish_run(first, "failed")
    store.delete_run(first)
    assert make_run(store) > first


def test_artifact_dir(store):
    run_id = make_run(store)
    folder = store.artifact_dir(run_id)
    assert folder == store.path.parent / "runs.sqlite.artifacts" / store.store_id / str(run_id)
    assert folder.is_dir()
    assert store.get_run(run_id)["artifact_dir"] == str(folder)
    with pytest.raises(StoreError, match="no run 555"):
        store.artifact_dir(555)


# -- interrupted runs -----------------------------------------------------


def _subprocess_env() -> dict[str, str]:
    """The environment for child pythons, with the repo root first on PYTHONPATH."""
    paths = [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def _create_run_in_subprocess(path: Path) -> int:
    """Start a python process that creates a run and exits without finishing it."""
    script = textwrap.dedent(
        """
        import sys
        from cast_engine.store import RunStore
        store = RunStore(sys.argv[1])
        run_id = store.create_run({}, method="cast", task="t", variant="v",
                                  regime="r", model="m", seed=1)
        print(run_id)
        """
    )
    env = _subprocess_env()
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    return int(done.stdout.strip())


def test_dead_process_run_is_marked_interrupted_on_open(tmp_path):
    path = tmp_path / "runs.sqlite"
    keeper = RunStore(path)  # this process runs `mine` and holds its lock
    mine = make_run(keeper)
    orphan = _create_run_in_subprocess(path)

    with RunStore(path) as store:
        orphan_run = store.get_run(orphan)
        assert orphan_run["status"] == "interrupted"
        assert orphan_run["reason"].startswith(
            f"process {orphan_run['pid']} on {orphan_run['host']} ended without finishing ("
        )
        assert orphan_run["finished_at"] is not None
        assert store.get_run(mine)["status"] == "running"
        assert store.mark_interrupted() == []
    keeper.close()


def test_a_running_run_whose_owner_is_gone_is_interrupted_whatever_its_host_and_pid(tmp_path):
    """The lock decides: another host's name, or a pid that lives again, keeps no dead run running."""
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        remote = make_run(store)
        reused = make_run(store)
        store.update_run(remote, host="some-other-machine", pid=_a_dead_pid())
        store.update_run(reused, pid=os.getpid())  # a live process (this one) with the dead run's pid
    with RunStore(path) as store:
        assert store.get_run(remote)["status"] == "interrupted"
        assert store.get_run(reused)["status"] == "interrupted"


def test_mark_interrupted_returns_ids(store):
    other = RunStore(store.path)
    run_id = make_run(other)
    other.close()  # its owner is gone
    assert store.mark_interrupted() == [run_id]
    assert store.get_run(run_id)["status"] == "interrupted"


def _a_dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


# -- concurrency ----------------------------------------------------------


def test_two_threads_write_concurrently(tmp_path):
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        run_ids = [make_run(store, seed=0), make_run(store, seed=1)]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def writer(run_id: int) -> None:
        try:
            with RunStore(path) as own:
                start.wait()
                for epoch in range(200):
                    own.add_epoch(run_id, epoch, "train", {"train_loss": 1.0 / (epoch + 1),
                                                           "step": epoch})
                own.finish_run(run_id, "completed")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(run_id,)) for run_id in run_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with RunStore(path) as store:
        for run_id in run_ids:
            rows = store.epochs(run_id)
            assert [r["epoch"] for r in rows] == list(range(200))
            assert store.get_run(run_id)["status"] == "completed"


def test_writer_processes_do_not_lock_each_other(tmp_path):
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        run_id = make_run(store)
    script = textwrap.dedent(
        """
        import sys
        from cast_engine.store import RunStore
        with RunStore(sys.argv[1]) as store:
            for epoch in range(100):
                store.add_epoch(int(sys.argv[2]), epoch, sys.argv[3], {"train_loss": 0.1})
        """
    )
    env = _subprocess_env()
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(path), str(run_id), stage],
                         cwd=REPO_ROOT, env=env, stderr=subprocess.PIPE, text=True)
        for stage in ("a", "b")
    ]
    with RunStore(path) as store:
        for epoch in range(100):
            store.add_epoch(run_id, epoch, "main", {"train_loss": 0.2})
    for proc in procs:
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
    with RunStore(path) as store:
        assert len(store.epochs(run_id)) == 300


# -- migrations -----------------------------------------------------------


def test_initial_database_upgrades_without_losing_rows(tmp_path):
    path = tmp_path / "runs.sqlite"
    only_initial = Migrations(MIGRATION_SET)
    only_initial(name="0001_initial")(initial_schema)
    db = Database(path)
    assert apply_migrations(db, only_initial) == ["0001_initial"]
    db.execute(
        "INSERT INTO runs (id, status, created_at, config, method, host, pid) "
        "VALUES (1, 'completed', '2024-01-01T00:00:00+00:00', '{\"lr\": 0.1}', 'cast', 'h', 1)"
    )
    db.execute("INSERT INTO epochs (run_id, epoch, stage, train_loss) VALUES (1, 0, 'train', 0.5)")
    db.execute("INSERT INTO masks (run_id, epoch, kept, eligible) VALUES (1, 0, 3, 9)")

    upgraded = Migrations(MIGRATION_SET)
    upgraded(name="0001_initial")(initial_schema)

    @upgraded(name="0002_test_add_notes")
    def add_notes(database: Database) -> None:
        database.execute("ALTER TABLE runs ADD COLUMN notes TEXT")
        database.execute("UPDATE runs SET notes = 'migrated'")

    assert apply_migrations(db, upgraded) == ["0002_test_add_notes"]
    assert apply_migrations(db, upgraded) == []
    db.close()

    # a migration this version does not know: a newer version made the store, so it opens read-only
    with pytest.warns(UserWarning, match="unknown to this version"):
        store = RunStore(path)
    with store:
        run = store.get_run(1)
        assert run["notes"] == "migrated"
        assert run["config"] == {"lr": 0.1}
        assert store.epochs(1)[0]["train_loss"] == 0.5
        assert store.masks(1)[0]["kept"] == 3
        with pytest.raises(StoreError, match="open read-only"):
            store.update_run(1, notes="edited")
    names = [r[0] for r in sqlite3.connect(path).execute("SELECT name FROM _sqlite_migrations")]
    assert sorted(names) == ["0001_initial", "0002_test_add_notes"]  # nothing of this version was applied


def test_failing_migration_rolls_back(tmp_path):
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        make_run(store)
    broken = Migrations(MIGRATION_SET)
    broken(name="0001_initial")(initial_schema)

    @broken(name="0002_test_broken")
    def half_done(database: Database) -> None:
        database.execute("ALTER TABLE runs ADD COLUMN half TEXT")
        raise RuntimeError("migration bug")

    db = Database(path)
    with pytest.raises(RuntimeError, match="migration bug"):
        apply_migrations(db, broken)
    columns = [row[1] for row in db.execute("PRAGMA table_info(runs)").fetchall()]
    assert "half" not in columns
    assert [m.name for m in broken.pending(db)] == ["0002_test_broken"]
    db.close()


def test_unreaped_child_counts_as_ended():
    from cast_engine.store.processes import pid_is_alive

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        assert pid_is_alive(os.getpid())
        deadline = time.monotonic() + 30
        while pid_is_alive(child.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not pid_is_alive(child.pid)  # exited (a zombie until waited for)
    finally:
        child.wait()
    assert not pid_is_alive(child.pid)
