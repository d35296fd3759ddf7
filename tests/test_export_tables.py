"""Results tables (cast_engine.export.tables) from hand-made run dicts."""

from __future__ import annotations

import csv
import io
import re
import statistics

import pytest

from cast_engine.errors import ConfigError
from cast_engine.export.tables import (
    config_diff,
    flatten_config,
    results_table,
    to_csv,
    to_latex,
    to_markdown,
    write_table,
)


def make_run(run_id, *, method="cast", seed=1, combined=0.8, status="completed", alpha=0.05, lr=5e-5,
             variant="CAD", name=None, **results):
    """A run dict shaped like RunStore.get_run's."""
    method_cfg = {"name": method, "alpha": alpha, "k": "9.1%"} if method == "cast" else {"name": method}
    config = {"model": "minilm", "regime": "cad", "name": name or f"run{run_id}",
              "data": {"data": "demo", "task": "sentiment", "variant": variant},
              "train": {"lr": lr, "seed": seed, "device": "cpu"}, "method": method_cfg}
    return {"id": run_id, "name": name or f"run{run_id}", "status": status, "method": method,
            "task": "sentiment", "variant": variant, "regime": "cad", "model": "minilm", "seed": seed,
            "config": config, "results": {"combined": combined, "factual": 0.9, **results}}


CAST_A = [0.80, 0.83, 0.85]   # alpha 0.05, three seeds
CAST_B = [0.70, 0.74]         # alpha 0.2, two seeds
FULL = [0.765]                # one seed


@pytest.fixture
def runs():
    rows = [make_run(i + 1, seed=i + 1, combined=v) for i, v in enumerate(CAST_A)]
    rows += [make_run(10 + i, seed=i + 1, combined=v, alpha=0.2) for i, v in enumerate(CAST_B)]
    rows += [make_run(20, method="full", combined=FULL[0])]
    rows += [make_run(30, status="failed", combined=0.1), make_run(31, status="running", combined=0.2)]
    return rows


def by_hand(values):
    pct = [100 * v for v in values]
    return statistics.fmean(pct), (statistics.stdev(pct) if len(pct) > 1 else None)


def test_groups_over_seeds_and_ignores_unfinished(runs):
    table = results_table(runs)
    assert [(r.method, r.n) for r in table.rows] == [("cast", 3), ("cast", 2), ("full", 1)]
    assert sorted(table.rows[0].run_ids) == [1, 2, 3]
    assert all(30 not in r.run_ids and 31 not in r.run_ids for r in table.rows)
    mean, std = by_hand(CAST_A)
    assert table.rows[0].mean == pytest.approx(mean)
    assert table.rows[0].std == pytest.approx(std)
    assert table.rows[2].std is None


def test_only_differing_settings_are_columns(runs):
    table = results_table(runs)
    assert table.setting_keys == ["method.alpha"]
    assert table.setting_labels() == ["alpha"]
    assert [r.settings["method.alpha"] for r in table.rows] == [0.05, 0.2, None]


def test_name_and_seed_do_not_split_groups():
    rows = [make_run(1, seed=1, name="first"), make_run(2, seed=2, name="second")]
    table = results_table(rows)
    assert len(table.rows) == 1 and table.rows[0].n == 2 and table.setting_keys == []


def test_other_settings_split_groups():
    table = results_table([make_run(1, lr=1e-5), make_run(2, lr=5e-5)])
    assert len(table.rows) == 2 and table.setting_keys == ["train.lr"]


def test_metric_choice_and_bad_metric(runs):
    table = results_table(runs, "factual")
    assert table.rows[0].mean == pytest.approx(90.0)
    assert "factual test accuracy" in table.caption
    with pytest.raises(ConfigError):
        results_table(runs, "accuracy")


def test_runs_without_the_metric_are_skipped():
    run = make_run(1)
    run["results"] = {"epochs_completed": 1}
    assert results_table([run]).rows == []


def test_csv_numbers(runs):
    rows = list(csv.DictReader(io.StringIO(to_csv(results_table(runs)))))
    assert [row["method"] for row in rows] == ["cast", "cast", "full"]
    for row, values in zip(rows, (CAST_A, CAST_B, FULL)):
        mean, std = by_hand(values)
        assert float(row["combined_mean"]) == pytest.approx(mean, abs=1e-4)
        assert (row["combined_std"] == "") if std is None else float(row["combined_std"]) == pytest.approx(std, abs=1e-4)
        assert int(row["n"]) == len(values)
    assert rows[0]["alpha"] == "0.05" and rows[2]["alpha"] == "–"
    assert rows[0]["run_ids"] == "1 2 3"


def test_markdown_numbers(runs):
    text = to_markdown(results_table(runs))
    assert text.splitlines()[0] == "Combined test accuracy (%), mean ± std over seeds."
    lines = [line for line in text.splitlines() if line.startswith("| cast") or line.startswith("| full")]
    for line, values in zip(lines, (CAST_A, CAST_B, FULL)):
        mean, std = by_hand(values)
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[-2] == str(len(values))
        expected = f"{mean:.1f} ± {std:.1f}" if std is not None else f"{mean:.1f} ± –"
        assert cells[-1] == expected


def test_latex_numbers(runs):
    text = to_latex(results_table(runs))
    assert "\\toprule" in text and "\\midrule" in text and "\\bottomrule" in text
    assert "\\caption{Combined test accuracy (\\%), mean $\\pm$ std over seeds.}" in text
    rows = [line for line in text.splitlines() if re.match(r"^(cast|full) &", line)]
    assert len(rows) == 3
    for line, values in zip(rows, (CAST_A, CAST_B, FULL)):
        mean, std = by_hand(values)
        cells = [c.strip() for c in line.removesuffix("\\\\").split("&")]
        assert cells[-2] == str(len(values))
        assert cells[-1] == f"{mean:.1f} $\\pm$ " + (f"{std:.1f}" if std is not None else "--")


def test_latex_escapes_text():
    run = make_run(1)
    run["model"] = "/models/tiny_bert"
    assert "/models/tiny\\_bert" in to_latex(results_table([run]))


def test_write_table_by_extension(tmp_path, runs):
    table = results_table(runs)
    assert write_table(table, tmp_path / "t.csv").read_text().startswith("method,")
    assert write_table(table, tmp_path / "t.md").read_text().startswith("Combined")
    assert "\\begin{tabular}" in write_table(table, tmp_path / "t.tex").read_text()
    with pytest.raises(ConfigError, match="unknown table format"):
        write_table(table, tmp_path / "t.xlsx")


def test_flatten_and_diff():
    a = {"train": {"lr": 1e-3, "seed": 1}, "method": {"name": "cast", "alpha": 0.05}}
    b = {"train": {"lr": 1e-3, "seed": 2}, "method": {"name": "cast", "alpha": 0.2}}
    c = {"train": {"lr": 1e-3, "seed": 2}, "method": {"name": "full"}}
    assert flatten_config(a) == {"train.lr": 1e-3, "train.seed": 1, "method.name": "cast", "method.alpha": 0.05}
    assert config_diff([a, b]) == {"method.alpha": [0.05, 0.2], "train.seed": [1, 2]}
    assert config_diff([b, c]) == {"method.alpha": [0.2, None], "method.name": ["cast", "full"]}


def test_the_store_groups_seeds_as_the_results_table_does(tmp_path):
    """stored_seed_groups (SQL, for History) finds the groups and values results_table finds."""
    from cast_engine.experiments.seed_groups import group_run_ids, group_values, stored_seed_groups
    from cast_engine.store import RunStore
    from cast_engine.store.run_table import RunFilter

    def add(store, seed, combined, status="completed", method="cast", device="cpu", **changes):
        run = make_run(0, method=method, seed=seed, combined=combined, name=f"seed {seed} on {device}")
        run["config"]["train"].update(device=device, **changes)
        run_id = store.create_run(run["config"], method=method, task="sentiment", variant="CAD", regime="cad",
                                  model="minilm", seed=seed, name=run["name"])
        store.finish_run(run_id, status, results=run["results"])
        return run_id

    with RunStore(tmp_path / "runs.sqlite") as store:
        add(store, 1, 0.80), add(store, 2, 0.83, device="cuda"), add(store, 3, 0.85)  # device is ignored
        add(store, 1, 0.70, lr=1e-5), add(store, 2, 0.74, lr=1e-5)
        add(store, 1, 0.72, weight_decay=0.01)  # a setting History shows no column for still splits
        add(store, 1, 0.765, method="full")
        add(store, 4, 0.10, status="failed")
        runs = [store.get_run(run["id"]) for run in store.list_runs()]
        expected = {tuple(sorted(row.run_ids)): (row.mean, row.std) for row in results_table(runs).rows}
        stored = stored_seed_groups(store.db.conn)
        found = {tuple(group_run_ids(g)): (group_values(g, "combined").mean, group_values(g, "combined").std)
                 for g in stored}
        assert found.keys() == expected.keys() and len(found) == 4
        for ids, (mean, std) in expected.items():
            assert found[ids][0] == pytest.approx(mean) and found[ids][1] == pytest.approx(std)
        assert [g["n"] for g in stored_seed_groups(store.db.conn, RunFilter({"method": "full"}))] == [1]
