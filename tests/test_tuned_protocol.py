"""The tuned protocol: each method's learning-rate grid, the rate picked on validation accuracy
(never test), the picked rate's test accuracy reported, the whole grid in the CSV."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cast_engine.errors import ConfigError
from cast_engine.experiments.paper import plan
from cast_engine.experiments.paper_run import run_paper
from cast_engine.methods.registry import get_method
from cast_engine.store import RunStore

REPO = Path(__file__).resolve().parents[1]
N_TEST = 60


def _store(store, trial, dev: float, test_right: int) -> int:
    """A completed run of ``trial`` with validation accuracy ``dev`` and ``test_right`` of N_TEST test examples right."""
    gold = [i % 2 for i in range(N_TEST)]
    predicted = [g if i < test_right else 1 - g for i, g in enumerate(gold)]
    c = trial.config
    run_id = store.create_run(c.to_dict(), method=c.method.name, task=c.data.task, variant=c.data.variant,
                              regime=c.regime, model=c.model, seed=c.train.seed, fingerprint=trial.key)
    store.save_predictions(run_id, "factual", predicted[:30], gold[:30])
    store.save_predictions(run_id, "counterfactual", predicted[30:], gold[30:])
    store.add_epoch(run_id, 1, "train", {"val_combined": dev, "train_examples": 100, "train_time_s": 2.0})
    store.finish_run(run_id, "completed", best_epoch=1,
                     results={"combined": test_right / N_TEST, "best_val": {"combined": dev, "epoch": 1},
                              "train_examples": 100, "train_time_s": 2.0})
    return run_id


def _tuned_plan():
    return plan("table2", "quick", data="upstream", protocol="tuned", seeds=[1, 2])


def test_tuned_plan_runs_each_methods_own_grid():
    the_plan = _tuned_plan()
    trials = the_plan.spec.trials()
    for method in ("full", "cast", "bitfit", "adapters", "lora", "lt_sft"):
        rates = {t.config.train.lr for t in trials if t.config.method.name == method}
        assert rates == set(get_method(method).config_cls.lr_grid), method
    assert len(trials) == 5 * 2 * 3 * 2 + 1 * 3 * 2  # baselines x (No CAD, CAD) x rates x seeds + CAST
    paper = plan("table2", "quick", data="upstream", seeds=[1, 2])
    assert {t.config.train.lr for t in paper.spec.trials()} == {1e-4}  # the paper protocol: one rate
    own = plan("table2", "quick", data="upstream", protocol="tuned", seeds=[1], lr_grids={"lora": [2e-4]})
    assert {t.config.train.lr for t in own.spec.trials() if t.config.method.name == "lora"} == {2e-4}
    with pytest.raises(ConfigError, match="protocol 'best'"):
        plan("table2", "quick", data="upstream", protocol="best")


def test_the_pick_follows_validation_even_where_test_disagrees(store_path, tmp_path):
    """At every method's smallest rate validation is best and test worst; at its largest, the reverse."""
    the_plan = _tuned_plan()
    trials = the_plan.spec.trials()
    with RunStore(store_path) as store:
        for trial in trials:
            grid = sorted(get_method(trial.config.method.name).config_cls.lr_grid)
            rank = grid.index(trial.config.train.lr)  # 0 smallest … 2 largest
            dev = [0.80, 0.60, 0.40][rank] + 0.01 * trial.config.train.seed
            test_right = [20, 35, 55][rank] + trial.config.train.seed
            _store(store, trial, dev, test_right)
        output = run_paper(the_plan, tmp_path, store=store, run=False)
    table = output.table
    for (method, variant), cell in table.cells.items():
        smallest = min(get_method(method).config_cls.lr_grid)
        assert cell.lr == smallest, (method, variant)  # the best validation, the worst test
        assert cell.values == [100 * 21 / N_TEST, 100 * 22 / N_TEST]  # that rate's test accuracy over the seeds
    assert "Protocol tuned" in table.caption and "never test" in table.caption
    assert "LoRA 0.0001" in table.caption and "BitFit 0.0001" in table.caption and "Full fine-tuning 2e-05" in table.caption
    rows = list(csv.DictReader((tmp_path / "table2-quick-tuned.csv").open()))
    assert len(rows) == (5 * 2 + 1) * 3  # every cell x every rate of the grid
    lora_cad = {float(r["lr"]): r for r in rows if r["method"] == "lora" and r["variant"] == "CAD"}
    assert set(lora_cad) == set(get_method("lora").config_cls.lr_grid)
    assert lora_cad[1e-4]["picked"] == "true" and lora_cad[1e-3]["picked"] == "false"
    assert float(lora_cad[1e-3]["dev_mean"]) == pytest.approx(41.5) and float(lora_cad[1e-3]["mean"]) > 90
    assert lora_cad[1e-4]["train_examples"] == "100"
    markdown = (tmp_path / "table2-quick-tuned.md").read_text()
    assert "Compute per run" in markdown and "100 / 2 s" in markdown


def test_stored_trials_are_reused_not_rerun(store_path, tmp_path):
    the_plan = _tuned_plan()
    with RunStore(store_path) as store:
        for trial in the_plan.spec.trials():
            _store(store, trial, 0.5, 30)

    class NothingMayRun:
        def run(self, jobs, cancel, sinks=()):
            assert not jobs, f"{len(jobs)} trials were run again"
            return iter(())

    with RunStore(store_path) as store:
        output = run_paper(the_plan, tmp_path, store=store, executor=NothingMayRun())
    assert output.sweep.reused == len(the_plan.spec.trials()) and output.sweep.status == "completed"


def test_cast_paper_protocol_option(store_path, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "CAST_DB": str(store_path)}
    args = [sys.executable, "-m", "cast_engine.cli", "paper", "table2", "--data", "upstream", "--no-run",
            "--seeds", "1", "--out", str(tmp_path)]
    done = subprocess.run(args + ["--protocol", "tuned", "--lr-grid", "lora=2e-4,3e-4"], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Protocol tuned" in done.stdout and (tmp_path / "table2-quick-tuned.csv").is_file()
    rows = list(csv.DictReader((tmp_path / "table2-quick-tuned.csv").open()))
    assert {r["lr"] for r in rows if r["method"] == "lora"} == {"0.0002", "0.0003"}
    wrong = subprocess.run(args + ["--lr-grid", "lora=fast"], capture_output=True, text=True, env=env, timeout=300)
    assert wrong.returncode == 2 and "--lr-grid 'lora=fast'" in wrong.stderr


def test_picked_rates_of_a_sweep_follow_validation(store_path):
    from cast_engine.config import RunConfig
    from cast_engine.experiments.grid import SweepSpec
    from cast_engine.experiments.tuning import picked_rates, tuned_grids

    base = RunConfig(method=get_method("lora").config_cls()).to_dict()
    grids = tuned_grids(base, {"train.seed": ["1", "2"]})
    trials = SweepSpec(base, grids).trials()
    assert sorted({t.config.train.lr for t in trials}) == sorted(get_method("lora").config_cls.lr_grid)
    runs = {}
    with RunStore(store_path) as store:
        for trial in trials:
            dev = {1e-4: 0.5, 5e-4: 0.7, 1e-3: 0.6}[trial.config.train.lr]
            test = {1e-4: 50, 5e-4: 20, 1e-3: 58}[trial.config.train.lr]
            runs[trial.key] = store.get_run(_store(store, trial, dev, test))
        (picked,) = picked_rates(store, trials, runs)
    assert picked.picked.lr == 5e-4 and picked.picked.test == pytest.approx([100 * 20 / N_TEST] * 2)
    assert "lr 0.0005 (validation 70.0, test 33.3; n=2)" in picked.text()
    with pytest.raises(ConfigError, match="remove the train.lr axis"):
        tuned_grids(base, {"train.lr": ["1e-4"]})


def test_a_table_can_keep_only_some_columns():
    the_plan = plan("table3", "quick", data="upstream", protocol="tuned", seeds=[1], variants=["RH1"])
    assert the_plan.columns == [("RAW", "No CAD"), ("RH1", "RH1")]
    assert {t.config.data.variant for t in the_plan.spec.trials()} == {"RAW", "RH1"}
    with pytest.raises(ConfigError, match="variant 'CAD' is not a column of table3"):
        plan("table3", "quick", data="upstream", variants=["CAD"])
