"""The paper's tables and figures from known runs in a fixture store: the files hold the
stored metrics' mean and std, the seed count, which accuracy, and significance marks."""

from __future__ import annotations

import csv
import statistics
import subprocess
import sys
import os
from pathlib import Path

import pytest

from cast_engine.experiments.paper import plan
from cast_engine.experiments.paper_run import run_paper
from cast_engine.store import RunStore

REPO = Path(__file__).resolve().parents[1]
N_TEST = 120


def _gold():
    return [i % 3 for i in range(N_TEST)]


def _predictions(right: int, seed: int) -> list[int]:
    """Predictions with the first ``right`` examples right (shifted a little by seed) and the rest wrong."""
    gold = _gold()
    right = min(N_TEST, right + seed)
    return [g if i < right else (g + 1) % 3 for i, g in enumerate(gold)]


def _store_trial(store, trial, right: int) -> float:
    """A completed run for ``trial`` whose combined accuracy is right/N_TEST (plus its seed)."""
    seed = trial.config.train.seed
    predicted, gold = _predictions(right, seed), _gold()
    accuracy = sum(p == g for p, g in zip(predicted, gold)) / N_TEST
    config = trial.config.to_dict()
    run_id = store.create_run(config, method=trial.config.method.name, task=trial.config.data.task,
                              variant=trial.config.data.variant, regime=trial.config.regime, model=trial.config.model,
                              seed=seed, fingerprint=trial.key)
    store.save_predictions(run_id, "factual", predicted[:60], gold[:60])
    store.save_predictions(run_id, "counterfactual", predicted[60:], gold[60:])
    store.finish_run(run_id, "completed", results={"combined": accuracy, "factual": accuracy / 2})
    return 100 * accuracy


ACCURACY_BY_METHOD = {"full": 60, "cast": 110, "bitfit": 40, "adapters": 58, "lora": 50, "lt_sft": 61}


@pytest.fixture
def table3_store(store_path, cad_dir):
    """Every trial of the quick Table 3 but LoRA on RH2, stored with known accuracies."""
    the_plan = plan("table3", "quick", data=str(cad_dir))
    expected: dict[tuple[str, str], list[float]] = {}
    with RunStore(store_path) as store:
        for trial in the_plan.spec.trials():
            method, variant = trial.config.method.name, trial.config.data.variant
            if (method, variant) == ("lora", "RH2"):
                continue
            expected.setdefault((method, variant), []).append(_store_trial(store, trial, ACCURACY_BY_METHOD[method]))
    return the_plan, expected


def test_table_files_hold_the_stored_mean_std_and_seed_count(table3_store, store_path, tmp_path):
    the_plan, expected = table3_store
    with RunStore(store_path) as store:
        output = run_paper(the_plan, tmp_path / "out", store=store, run=False)
    names = sorted(p.name for p in output.files)
    assert names == ["table3-quick.csv", "table3-quick.md", "table3-quick.tex"]
    rows = list(csv.DictReader((tmp_path / "out" / "table3-quick.csv").open()))
    assert len(rows) == 6 * 5 - 1  # CAST has no No CAD cell; LoRA on RH2 is there with n = 0
    for row in rows:
        values = expected.get((row["method"], row["variant"]), [])
        assert int(row["n"]) == len(values)
        if values:
            assert float(row["mean"]) == pytest.approx(statistics.fmean(values), abs=1e-4)
            assert float(row["std"]) == pytest.approx(statistics.stdev(values), abs=1e-4)
    markdown = (tmp_path / "out" / "table3-quick.md").read_text()
    assert "combined test accuracy" in markdown and "mean ± sample std over seeds" in markdown
    full_rh1 = expected[("full", "RH1")]
    assert f"{statistics.fmean(full_rh1):.1f} ± {statistics.stdev(full_rh1):.1f} (n=2)" in markdown
    assert "| LoRA |" in markdown and markdown.split("| LoRA |")[1].splitlines()[0].rstrip().endswith("| – |")
    latex = (tmp_path / "out" / "table3-quick.tex").read_text()
    assert "\\toprule" in latex and "$\\pm$" in latex and "($n$=2)" in latex


def test_significant_differences_to_the_reference_are_marked(table3_store, store_path, tmp_path):
    the_plan, _ = table3_store
    with RunStore(store_path) as store:
        output = run_paper(the_plan, tmp_path, store=store, run=False)
    table = output.table
    cast = table.cells[("cast", "RH1")]
    assert cast.significant and cast.comparison.p_value < 0.05 and cast.comparison.ci_low > 0
    assert cast.text().endswith("*")
    lt_sft = table.cells[("lt_sft", "RH1")]  # 61 vs 60 right of 120: no difference to speak of
    assert not lt_sft.significant and not lt_sft.text().endswith("*")
    assert table.cells[("full", "RH1")].comparison is None
    rows = {(r["method"], r["variant"]): r for r in csv.DictReader((tmp_path / "table3-quick.csv").open())}
    assert rows[("cast", "RH1")]["significant"] == "true" and float(rows[("cast", "RH1")]["difference"]) > 30
    assert "*: differs from Full fine-tuning" in (tmp_path / "table3-quick.md").read_text()


def test_the_metric_option_changes_the_accuracy_shown(table3_store, store_path, tmp_path):
    the_plan, expected = table3_store
    with RunStore(store_path) as store:
        output = run_paper(the_plan, tmp_path, store=store, run=False, metric="factual", reference=None)
    cell = output.table.cells[("full", "RP1")]
    assert cell.mean == pytest.approx(statistics.fmean(expected[("full", "RP1")]) / 2)
    assert "original (factual)" in (tmp_path / "table3-quick.md").read_text()


def test_figure2_files_hold_the_grid_means(store_path, cad_dir, tmp_path):
    the_plan = plan("figure2", "quick", data=str(cad_dir), task="nli", alphas=[0.01, 0.05, 0.15], ks=["1e5", "1e6"])
    expected = {}
    with RunStore(store_path) as store:
        for i, trial in enumerate(the_plan.spec.trials()):
            m = trial.config.method
            expected.setdefault((m.alpha, m.k), []).append(_store_trial(store, trial, 40 + 7 * (i // 2)))
        output = run_paper(the_plan, tmp_path, store=store, run=False)
    assert sorted(p.name for p in output.files) == ["figure2-quick.csv", "figure2-quick.md", "figure2-quick.png",
                                                     "figure2-quick.svg"]
    assert (tmp_path / "figure2-quick.png").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in (tmp_path / "figure2-quick.svg").read_bytes()[:500]
    rows = list(csv.DictReader((tmp_path / "figure2-quick.csv").open()))
    assert len(rows) == 6
    for row in rows:
        values = expected[(float(row["alpha"]), row["k"])]
        assert int(row["n"]) == 2
        assert float(row["mean"]) == pytest.approx(statistics.fmean(values), abs=1e-4)
        assert float(row["std"]) == pytest.approx(statistics.stdev(values), abs=1e-4)


def test_cast_paper_figure3_counts_label_pairs(cad_dir, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "CAST_DB": str(tmp_path / "runs.sqlite")}
    done = subprocess.run([sys.executable, "-m", "cast_engine.cli", "paper", "figure3", "--data", str(cad_dir),
                           "--out", str(tmp_path)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = {r["variant"]: r for r in csv.DictReader((tmp_path / "figure3.csv").open())}
    assert set(rows) == {"RP1", "RP2", "RH1", "RH2"}
    assert rows["RH1"] == {"variant": "RH1", "entailment-neutral": "573", "neutral-contradiction": "527",
                           "contradiction-entailment": "566"}
    assert (tmp_path / "figure3.png").stat().st_size > 10_000


def test_tables_on_an_evaluation_use_its_accuracies_and_predictions(table3_store, store_path, tmp_path):
    """`cast paper --eval NAME`: each run's evaluation NAME replaces its own test split."""
    import numpy as np

    from cast_engine.evaluate.metrics import cad_metrics

    the_plan, _ = table3_store
    right_by_method = {"full": 100, "cast": 50}  # on the other set, full fine-tuning is the better one
    expected: dict[str, list[float]] = {}
    with RunStore(store_path) as store:
        for run in store.list_runs(variant="RH1"):
            if run["method"] not in right_by_method:
                continue
            predicted, gold = _predictions(right_by_method[run["method"]], run["seed"]), _gold()
            results = cad_metrics(predicted[:60], gold[:60], predicted[60:], gold[60:], [], 3)
            probabilities = np.full((60, 3), 1 / 3, dtype=np.float32)
            store.add_evaluation(run["id"], name="other", source="hand-made", spec={}, data_sha256="x",
                                 data_files={}, labels=["entailment", "neutral", "contradiction"], results=results,
                                 examples=b"", predictions={"factual": (predicted[:60], gold[:60], probabilities),
                                                            "counterfactual": (predicted[60:], gold[60:], probabilities)})
            expected.setdefault(run["method"], []).append(100 * results["combined"])
        output = run_paper(the_plan, tmp_path, store=store, run=False, evaluation="other")
    table = output.table
    assert table.cells[("full", "RH1")].mean == pytest.approx(statistics.fmean(expected["full"]))
    assert table.cells[("cast", "RH1")].mean == pytest.approx(statistics.fmean(expected["cast"]))
    cast = table.cells[("cast", "RH1")]
    assert cast.significant and cast.comparison.ci_high < 0  # CAST is now the worse one, on the other set's predictions
    assert table.cells[("bitfit", "RH1")].values == []  # runs without the evaluation count as missing
    assert "evaluation 'other'" in (tmp_path / "table3-quick-other.md").read_text()
