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


# ------------------------------------------------------------------ what a cluster could reach


def test_a_local_ray_instance_is_its_own_and_listens_on_loopback_only(monkeypatch):
    """Without --address, RAY_ADDRESS (or a cluster in /tmp/ray) is never joined."""
    ray = pytest.importorskip("ray")
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:9")  # some other cluster named by the environment
    executor = RayExecutor(local_cpus=1)
    try:
        executor._start()
        nodes = ray.nodes()
        assert nodes and {node["NodeManagerAddress"] for node in nodes} == {"127.0.0.1"}
        assert executor.workers == 1
    finally:
        ray.shutdown()


def _record(**run):
    from cast_engine.experiments.record import TrialRecord

    row = {"config": {"model": "m"}, "method": "full", "task": "sentiment", "variant": "CAD", "regime": "cad",
           "model": "m", "seed": 1, "name": "trial", "status": "completed", "created_at": "2026-01-01T00:00:00+00:00",
           "started_at": "2026-01-01T00:00:00+00:00", "finished_at": "2026-01-01T00:01:00+00:00", **run}
    return TrialRecord(run=row)


HOSTILE_RECORDS = {
    "sql in a column name": lambda r: r.run.update({"status) VALUES ('x'); DROP TABLE epochs; --": 1}),
    "unknown column": lambda r: r.run.update(shell="rm -rf ~"),
    "artifact folder of its choosing": lambda r: r.run.update(artifact_dir="/"),
    "run id of its choosing": lambda r: r.run.update(id=1),
    "parent folder in a file name": lambda r: r.artifacts.update({"../escaped.txt": b"x"}),
    "absolute file name": lambda r: r.artifacts.update({"/tmp/escaped.txt": b"x"}),
    "sub-folder in a file name": lambda r: r.artifacts.update({"sub/escaped.txt": b"x"}),
    "backslash in a file name": lambda r: r.artifacts.update({"..\\escaped.txt": b"x"}),
    "dot-dot as a file name": lambda r: r.artifacts.update({"..": b"x"}),
    "text as file contents": lambda r: r.artifacts.update({"delta.safetensors": "not bytes"}),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_RECORDS))
def test_a_hostile_trial_record_is_refused_before_it_touches_store_or_disk(case, tmp_path):
    from cast_engine.errors import StoreError

    record = _record()
    HOSTILE_RECORDS[case](record)
    store_dir = tmp_path / "deep" / "store"
    with RunStore(store_dir / "runs.sqlite") as store:
        before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
        with pytest.raises(StoreError, match="trial record"):
            store.record_trial(record)
        assert store.list_runs() == []
        assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
        assert store.db["epochs"].exists()
        good = _record()
        good.artifacts["delta.safetensors"] = b"weights"
        run_id = store.record_trial(good)
        assert (store.artifact_dir(run_id) / "delta.safetensors").read_bytes() == b"weights"


def test_a_sweep_counts_a_refused_record_as_a_failed_trial(tiny_config, tmp_path):
    class Hostile:
        name, workers = "hostile", 1

        def run(self, jobs, cancel, sinks=()):
            for i, job in enumerate(jobs):
                record = _record(seed=i)
                if i == 0:
                    record.artifacts["../../outside.txt"] = b"x"
                yield job, record

    base = tiny_config("full", max_epochs=1).to_dict()
    spec = SweepSpec(base, [{"seed": ["1", "2"]}], "hostile")
    with RunStore(tmp_path / "runs.sqlite") as store:
        result = run_sweep(spec, store=store, executor=Hostile())
        assert len(result.runs) == 1 and len(result.failures) == 1
        assert "not a plain file name" in next(iter(result.failures.values()))
    assert not (tmp_path.parent / "outside.txt").exists()
