"""kill -9 of a real `cast run` process, then `cast resume` (bench/crash_resume.py, a few trials)."""

from __future__ import annotations

import pytest

from tests.bench_scripts import load_bench_script


@pytest.mark.timeout(600)
def test_killed_runs_resume_to_the_reference_result(tiny_model_dir, tmp_path):
    harness = load_bench_script("crash_resume")
    lines = []
    run_args = ["--model", str(tiny_model_dir), "--method", "cast", "--k", "5%", "--max-epochs", "3",
                "--max-length", "32", "--device", "cpu", "--seed", "2"]
    trials = harness.crash_trials(2, run_args, tmp_path, seed=1, say=lines.append, after_epoch=1)
    assert len(trials) == 2
    assert all(t.outcome.startswith(("resumed", "finished")) for t in trials), lines  # each kill came after a checkpoint
    assert any(t.outcome.startswith("resumed") for t in trials), lines
