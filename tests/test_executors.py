"""Executors: N local worker processes and Ray tasks give the same trials as each other."""

from __future__ import annotations

import sys

import pytest

from cast_engine.errors import ConfigError
from cast_engine.experiments import SweepSpec, run_sweep
from cast_engine.experiments.executors import LocalExecutor, RayExecutor, make_executor
from cast_engine.store import RunStore


def _per_trial(store, sweep_id):
    """What each trial measured: test results and the per-epoch losses and validation accuracies."""
    measured = {}
    for run in store.sweep_runs(sweep_id):
        results = {k: v for k, v in run["results"].items() if k not in ("method_info", "train_time_s")}  # seconds differ
        epochs = [(e["epoch"], e["stage"], e["train_loss"], e["val_combined"]) for e in store.epochs(run["id"])]
        measured[run["trial_key"]] = (results, epochs, store.predictions(run["id"]))
    return measured


def test_ray_tasks_match_local_worker_processes(tiny_config, tmp_path):
    ray = pytest.importorskip("ray")
    base = tiny_config("cast", max_epochs=2).to_dict()
    spec = SweepSpec(base, [{"alpha": ["0.01", "0.2"], "seed": ["1", "2"]}], "executors")
    with RunStore(tmp_path / "local.sqlite") as store:
        local = run_sweep(spec, store=store, executor=LocalExecutor(workers=2, threads_per_trial=1))
        assert local.status == "completed", local.failures
        by_local = _per_trial(store, local.sweep_id)
    try:
        with RunStore(tmp_path / "ray.sqlite") as store:
            remote = run_sweep(spec, store=store, executor=RayExecutor(local_cpus=2, cpus_per_trial=1))
            assert remote.status == "completed", remote.failures
            by_ray = _per_trial(store, remote.sweep_id)
            hosts = {run["host"] for run in store.sweep_runs(remote.sweep_id)}
    finally:
        ray.shutdown()
    assert len(by_local) == 4 and set(by_ray) == set(by_local)
    for key, measured in by_local.items():
        assert by_ray[key] == measured, key
    assert len(hosts) == 1  # written by the sweep's process, one host


def test_a_failing_trial_is_reported_and_the_others_finish(tiny_config, tmp_path):
    base = tiny_config("full", max_epochs=1).to_dict()
    # The second model does not exist: that trial fails before it trains; the sweep goes on.
    spec = SweepSpec(base, [{"model": [base["model"], str(tmp_path / "no-such-model")]}], "failing")
    with RunStore(tmp_path / "runs.sqlite") as store:
        result = run_sweep(spec, store=store, executor=LocalExecutor(workers=2, threads_per_trial=1))
        assert result.status == "failed" and len(result.runs) == 1
        (failure,) = result.failures.values()
        assert "no-such-model" in failure


def test_ray_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match="pip install"):
        make_executor("ray")
    with pytest.raises(ConfigError, match="--workers 0"):
        make_executor("local", workers=0)
