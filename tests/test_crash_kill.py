"""kill -9 of a real `cast run` process, then `cast resume` (bench/crash_resume.py, a few trials)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parent.parent / "bench" / "crash_resume.py"


def load_harness():
    spec = importlib.util.spec_from_file_location("crash_resume", HARNESS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(600)
def test_killed_runs_resume_to_the_reference_result(tiny_model_dir, tmp_path):
    harness = load_harness()
    lines = []
    run_args = ["--model", str(tiny_model_dir), "--method", "cast", "--k", "5%", "--max-epochs", "3",
                "--max-length", "32", "--device", "cpu", "--seed", "2"]
    trials = harness.crash_trials(2, run_args, tmp_path, seed=1, say=lines.append, after_epoch=1)
    assert len(trials) == 2
    assert any(t.outcome.startswith("resumed") for t in trials), lines  # at least one kill landed mid-run
