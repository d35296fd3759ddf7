"""A store written by the first release (schema 0001 only) opens with the current code:
every row kept as it was, the schema upgraded, and new kinds of rows accepted."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from cast_engine.store import RunStore
from cast_engine.store.migrations import MIGRATIONS

FIXTURE = Path(__file__).parent / "fixtures" / "store_first_release.sqlite"  # made by fixtures/make_first_release_store.py


def _rows(path: Path, table: str) -> list[dict]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(f"SELECT * FROM {table} ORDER BY id")]
    finally:
        conn.close()


@pytest.fixture
def old_store(tmp_path) -> Path:
    path = tmp_path / "runs.sqlite"
    shutil.copyfile(FIXTURE, path)
    return path


def test_the_fixture_is_a_first_release_store():
    assert [row["name"] for row in _rows(FIXTURE, "_sqlite_migrations")] == ["0001_initial"]
    columns = [row[1] for row in sqlite3.connect(FIXTURE).execute("PRAGMA table_info(runs)")]
    assert "trial_key" not in columns and "fingerprint" not in columns


def test_opening_upgrades_and_keeps_every_row(old_store):
    before = {table: _rows(old_store, table) for table in ("runs", "epochs", "masks")}
    assert [len(rows) for rows in before.values()] == [3, 2, 2]
    with RunStore(old_store):
        pass
    applied = [row["name"] for row in _rows(old_store, "_sqlite_migrations")]
    assert applied == [m.name for m in MIGRATIONS._migrations]  # every later migration, once each
    assert applied[:2] == ["0001_initial", "0002_sweeps_and_predictions"] and len(applied) >= 2
    ended = ("status", "finished_at", "reason")  # the 'running' run: no process holds its lock, so opening ends it
    for table, rows in before.items():
        after = _rows(old_store, table)
        assert len(after) == len(rows), table
        for old, new in zip(rows, after):
            changed = ended if table == "runs" and old["status"] == "running" else ()
            assert {k: new[k] for k in old if k not in changed} == {k: v for k, v in old.items() if k not in changed}, table
    (left,) = [run for run in _rows(old_store, "runs") if run["id"] == 3]
    assert left["status"] == "interrupted" and "ended without finishing" in left["reason"]
    for run in _rows(old_store, "runs"):
        assert run["trial_key"] is None and run["fingerprint"] is None
    assert sqlite3.connect(old_store).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    upgraded = _rows(old_store, "runs")
    with RunStore(old_store):  # opening again changes nothing
        pass
    assert _rows(old_store, "runs") == upgraded and len(_rows(old_store, "_sqlite_migrations")) == len(applied)


def test_old_rows_read_back_through_the_store(old_store):
    with RunStore(old_store) as store:
        runs = store.list_runs(order="asc")
        assert [(r["method"], r["status"], r["seed"]) for r in runs] == [
            ("cast", "completed", 1), ("full", "failed", 2), ("lora", "interrupted", 3)]
        done = store.get_run(1)
        assert done["config"] == {"method": {"name": "cast", "alpha": 0.05, "k": "1%"}, "train": {"seed": 1, "lr": 2e-5}}
        assert done["results"] == {"combined": 0.6, "pair": 0.45, "factual": 0.65}
        assert done["best_epoch"] == 2 and done["trainable_params"] == 1094 and done["total_params"] == 109400
        assert done["data_hashes"] == {"train.tsv": "ab12"} and done["versions"] == {"torch": "2.5.0"}
        epochs = store.epochs(1)
        assert [(e["epoch"], e["train_loss"], e["val_combined"]) for e in epochs] == [(1, 0.69, 0.5), (2, 0.41, 0.625)]
        assert epochs[1]["cf_loss"] == pytest.approx(0.51)
        masks = store.masks(1)
        assert [(m["epoch"], m["kept"], m["eligible"], m["jaccard"]) for m in masks] == [
            (1, 1094, 109400, None), (2, 1094, 109400, 0.75)]
        assert masks[0]["per_layer"] == {"layer 0": [500, 50000], "head": [594, 59400]}
        assert store.get_run(2)["reason"] == "loss is nan in epoch 1, step 3"
        # 'running' with no process holding its lock: ended as interrupted (a host name or pid proves nothing)
        assert store.get_run(3)["status"] == "interrupted" and store.get_run(3)["name"] == "still running at the upgrade"
        assert store.list_runs(status="completed", method="cast")[0]["id"] == 1


def test_an_upgraded_store_takes_new_rows(old_store):
    with RunStore(old_store) as store:
        store.save_predictions(1, "factual", [0, 1, 1], [0, 1, 0])
        assert store.predictions(1)["factual"] == {"predicted": [0, 1, 1], "gold": [0, 1, 0]}
        new = store.create_run({"method": {"name": "bitfit"}}, method="bitfit", task="nli", variant="RH1",
                               regime="cad", model="m", seed=4)
        assert new == 4  # ids continue after the old rows
        store.finish_run(new, "completed", results={"combined": 0.5})
        assert [r["id"] for r in store.list_runs(status="completed", order="asc")] == [1, 4]
