"""The run table in SQL: filters, sorting with empty values last, paging, and `cast runs` pages."""

from __future__ import annotations

import pytest

from cast_engine.cli import main
from cast_engine.errors import StoreError
from cast_engine.store import RunStore
from cast_engine.store.run_table import RunFilter, count_runs, distinct_values, run_ids, run_rows


def add(store, method="cast", seed=1, combined=None, alpha=None, status="completed", name=None) -> int:
    config = {"method": {"name": method, **({"alpha": alpha} if alpha is not None else {})},
              "train": {"lr": 5e-5, "max_epochs": 3}, "data": {"data": "/data/cad", "train_limit": 200}}
    run_id = store.create_run(config, method=method, task="nli", variant="RH1", regime="cad", model="minilm",
                              seed=seed, name=name)
    if status != "running":
        store.finish_run(run_id, status, results={"combined": combined} if combined is not None else None)
    return run_id


@pytest.fixture
def store(tmp_path):
    with RunStore(tmp_path / "runs.sqlite") as opened:
        yield opened


def test_filters_sort_and_rows(store):
    a = add(store, combined=0.8, alpha=0.2, name="run A")
    b = add(store, method="full", combined=0.9)
    c = add(store, combined=None, alpha=0.05, status="failed", name="Run C")
    d = add(store, combined=0.7, alpha=0.5)
    conn = store.db.conn
    assert run_ids(conn) == [d, c, b, a] and count_runs(conn) == 4
    assert run_ids(conn, RunFilter({"method": "cast"})) == [d, c, a]
    assert run_ids(conn, RunFilter({"method": "cast", "status": "completed"})) == [d, a]
    assert run_ids(conn, RunFilter(name_contains="RUN ")) == [c, a]
    assert count_runs(conn, RunFilter({"method": "full"})) == 1
    assert run_ids(conn, sort="combined", descending=True) == [b, a, d, c]  # failed run (no result) last
    assert run_ids(conn, sort="combined", descending=False) == [d, a, b, c]  # ... in either order
    assert run_ids(conn, sort="alpha", descending=False) == [c, a, d, b]  # full fine-tuning has no α
    assert run_ids(conn, limit=2, offset=1) == [c, b]
    rows = run_rows(conn, [a, b, 999])
    assert set(rows) == {a, b}
    assert rows[a]["alpha"] == 0.2 and rows[a]["lr"] == 5e-5 and rows[a]["data"] == "/data/cad"
    assert rows[a]["train_limit"] == 200 and rows[a]["combined"] == 0.8 and rows[b]["alpha"] is None
    assert distinct_values(conn, "method") == ["cast", "full"]
    with pytest.raises(StoreError, match="cannot sort runs by 'nope'"):
        run_ids(conn, sort="nope")
    with pytest.raises(StoreError, match="cannot filter runs by 'config'"):
        run_ids(conn, RunFilter({"config": "x"}))


def test_cast_runs_pages_its_output(tmp_path, capsys):
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        ids = [add(store, seed=i, combined=0.5 + i / 100) for i in range(7)]
    assert main(["--db", str(path), "runs", "--limit", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [int(line.split()[0]) for line in lines[1:4]] == ids[::-1][:3]
    assert lines[-1] == "runs 1-3 of 7; next: --offset 3 (--limit 0 lists all)"
    assert main(["--db", str(path), "runs", "--limit", "3", "--offset", "6"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [int(line.split()[0]) for line in lines[1:-1]] == [ids[0]]
    assert lines[-1] == "runs 7-7 of 7 (--limit 0 lists all)"
    assert main(["--db", str(path), "runs", "--limit", "0"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 8  # header and every run, no footer
    assert main(["--db", str(path), "runs", "--status", "finished"]) == 2
    assert "--status 'finished' is not a run status" in capsys.readouterr().err


def test_pages_follow_the_whole_order(store):
    for i in range(9):
        add(store, seed=i, combined=None if i % 3 == 0 else 0.5 + (i % 4) / 10, alpha=None if i % 2 else 0.1 * i)
    conn = store.db.conn
    for sort in ("id", "combined", "alpha", "name", "status"):
        for descending in (True, False):
            whole = run_ids(conn, sort=sort, descending=descending)
            pages = [run_ids(conn, sort=sort, descending=descending, limit=4, offset=offset) for offset in (0, 4, 8)]
            assert sum(pages, []) == whole, (sort, descending)
