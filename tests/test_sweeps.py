"""Sweeps: grids, recording every trial once, resuming after a kill, cancelling."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cast_engine.config import RunConfig
from cast_engine.errors import ConfigError
from cast_engine.experiments import SweepSpec, parse_axis, run_sweep
from cast_engine.store import RunStore
from cast_engine.train.events import CancelToken

REPO = Path(__file__).resolve().parents[1]


def test_axis_text_and_short_names():
    assert parse_axis("alpha=0.01,0.05") == ("method.alpha", ["0.01", "0.05"])
    assert parse_axis("lr=1e-5:5e-5:2e-5") == ("train.lr", ["1e-05", "3e-05", "5e-05"])
    assert parse_axis("train.seed=1,2,3") == ("train.seed", ["1", "2", "3"])
    assert parse_axis("variant=RP1,RH1") == ("data.variant", ["RP1", "RH1"])
    with pytest.raises(ConfigError, match="'alhpa' is not a config field"):
        parse_axis("alhpa=0.1")
    with pytest.raises(ConfigError, match="expected FIELD=V1,V2"):
        parse_axis("alpha")


def test_grid_product_skips_fields_a_method_lacks_and_drops_duplicates():
    spec = SweepSpec(RunConfig().to_dict(), [{"method": ["full", "cast"], "alpha": ["0.01", "0.05"], "seed": ["1", "2"]}])
    trials = spec.trials()
    labels = [t.label() for t in trials]
    assert labels == ["method full, seed 1", "method full, seed 2",
                      "method cast, alpha 0.01, seed 1", "method cast, alpha 0.01, seed 2",
                      "method cast, alpha 0.05, seed 1", "method cast, alpha 0.05, seed 2"]
    assert trials[2].config.method.alpha == 0.01 and trials[3].config.train.seed == 2
    assert len({t.key for t in trials}) == 6


def test_a_trial_key_means_what_the_run_measures():
    from cast_engine.config import config_fingerprint

    base = RunConfig().to_dict()
    same = RunConfig().to_dict()
    same["name"], same["train"]["device"], same["data"]["variant"] = "renamed", "cuda", "CAD"  # CAD: the default
    assert config_fingerprint(same) == config_fingerprint(base)
    other = RunConfig().to_dict()
    other["train"]["seed"] = 2
    assert config_fingerprint(other) != config_fingerprint(base)


def test_a_bad_grid_value_names_the_trial():
    spec = SweepSpec(RunConfig().to_dict(), [{"method": ["cast"], "alpha": ["0.05", "1.5"]}])
    with pytest.raises(ConfigError, match=r"grid trial \(method=cast, method.alpha=1.5\).*alpha = 1.5 is out of range"):
        spec.trials()
    with pytest.raises(ConfigError, match="lr = 'fast'"):
        SweepSpec(RunConfig().to_dict(), [{"lr": ["fast"]}]).trials()


def _tiny_spec(tiny_config, **axes) -> SweepSpec:
    base = tiny_config("cast", max_epochs=1).to_dict()
    return SweepSpec(base, [axes or {"alpha": ["0.01", "0.1"], "seed": ["1", "2"]}], "tiny")


def test_every_trial_is_recorded_once_and_a_rerun_runs_nothing(tiny_config, store_path):
    spec = _tiny_spec(tiny_config)
    seen = []
    with RunStore(store_path) as store:
        first = run_sweep(spec, store=store, on_progress=seen.append)
        assert first.status == "completed" and len(first.runs) == 4
        runs = store.sweep_runs(first.sweep_id)
        assert sorted(r["trial_key"] for r in runs) == sorted(t.key for t in spec.trials())
        assert all(r["status"] == "completed" and r["sweep_id"] == first.sweep_id for r in runs)
        assert all(store.epochs(r["id"]) and store.predictions(r["id"]) for r in runs)
        assert [p.done for p in seen] == [0, 1, 2, 3, 4]
        assert seen[-1].eta_s == 0 and seen[1].eta_s > 0
        again = run_sweep(spec, store=store)
        assert again.sweep_id == first.sweep_id and again.runs == first.runs
        assert len(store.list_runs()) == 4
        assert store.get_sweep(first.sweep_id)["state"] == "completed"


def test_cancel_stops_the_sweep_and_resume_finishes_it(tiny_config, store_path):
    spec = _tiny_spec(tiny_config)
    cancel = CancelToken()

    def stop_after_first(progress):
        if progress.done == 1:
            cancel.cancel("enough")

    with RunStore(store_path) as store:
        stopped = run_sweep(spec, store=store, cancel=cancel, on_progress=stop_after_first)
        assert stopped.status == "stopped"
        completed = [r for r in store.list_runs() if r["status"] == "completed"]
        assert len(completed) == 1
        resumed = run_sweep(spec, store=store)
        assert resumed.status == "completed" and resumed.sweep_id == stopped.sweep_id
        keys = [r["trial_key"] for r in store.sweep_runs(stopped.sweep_id)]
        assert sorted(keys) == sorted(t.key for t in spec.trials())


def test_killed_sweep_resumes_to_exactly_the_grid(tiny_model_dir, tmp_path):
    """kill -9 the `cast sweep` process after two trials; running it again completes the grid."""
    db = tmp_path / "runs.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO), "CAST_DB": str(db)}
    command = [sys.executable, "-m", "cast_engine.cli", "sweep", "--model", str(tiny_model_dir), "--method", "cast",
               "--max-epochs", "2", "--max-length", "48", "--device", "cpu", "--grid", "alpha=0.01,0.05,0.1",
               "--grid", "seed=1,2"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    completed = 0
    while completed < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    completed = conn.execute("SELECT COUNT(*) FROM runs WHERE status = 'completed'").fetchone()[0]
            except sqlite3.OperationalError:
                pass  # the tables are not there yet
    assert process.poll() is None, "the sweep ended before it could be killed: " + process.stdout.read()
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stdout.close()

    with RunStore(db) as store:
        (sweep,) = store.list_sweeps()
        assert sweep["state"] == "interrupted" and 2 <= sweep["done"] < 6
        done_before = {r["trial_key"]: r["id"] for r in store.sweep_runs(sweep["id"])}
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{len(done_before)} already done" in resumed.stdout
    with RunStore(db) as store:
        runs = store.list_runs()
        keys = [r["trial_key"] for r in runs]
        assert len(runs) == 6 and len(set(keys)) == 6  # every trial exactly once, nothing partial
        assert all(r["status"] == "completed" for r in runs)
        assert {k: i for k, i in ((r["trial_key"], r["id"]) for r in runs) if k in done_before} == done_before
        assert store.get_sweep(sweep["id"])["state"] == "completed"


def test_every_trial_is_checked_before_the_sweep_starts_k_and_values_of_other_methods_too(tiny_config):
    base = tiny_config("cast").to_dict()
    with pytest.raises(ConfigError, match=r"grid trial \(method.k=1e9\): k = 1000000000 is larger than the [\d,]+ "
                                          r"eligible parameters of this model"):
        SweepSpec(base, [{"method.k": ["1e3", "1e9"]}]).trials()
    with pytest.raises(ConfigError, match=r"alpha = 2.0 is out of range"):  # full has no α, yet α = 2 is still wrong
        SweepSpec(base, [{"method": ["full"], "alpha": ["2"]}]).trials()


def test_an_unnamed_sweep_is_named_from_its_grid_and_its_trials_by_their_configs():
    from cast_engine.experiments.grid import axis_notes

    spec = SweepSpec(RunConfig().to_dict(), [{"method": ["full", "cast"], "alpha": ["0.01", "0.05"], "seed": ["1", "2"]}])
    assert spec.title() == "full+cast sentiment-CAD: alpha 0.01, 0.05 × seed 1, 2"
    names = [t.config.name or t.config.default_name() for t in spec.trials()]
    assert len(set(names)) == len(names) == 6 and "cast-a0.05-k9.1%-sentiment-CAD-seed2" in names
    assert axis_notes(spec) == ["alpha does not apply to full: its 2 values make one trial, not 2"]
    assert SweepSpec(RunConfig().to_dict(), [{"seed": ["1"]}], name="mine").title() == "mine"
