"""`cast-studio --smoke-run`: presses Run through the window, waits for the run, exits 0 only if it completed.

The option is what packaging/smoke runs against the desktop bundle; here it
runs from the source tree, in a subprocess as a user would start it, on the
tiny model and a few examples (saved settings choose them, as after a
previous session) so that it stays fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _settings(path: Path, model: str) -> Path:
    """A settings file as the studio saves it: this model, a small subset, short sequences."""
    from PySide6.QtCore import QSettings

    settings = QSettings(str(path), QSettings.Format.IniFormat)
    settings.setValue("experiment", json.dumps({
        "model": model, "methods": ["cast"], "seeds": "1",
        "train": {"batch_size": 8, "max_length": 32, "lr": 0.001, "max_epochs": 3},
        "subset": {"train_limit": 12, "eval_limit": 8},
    }))
    settings.sync()
    return path


def _smoke(tmp_path: Path, model: str) -> tuple[subprocess.CompletedProcess, Path]:
    db = tmp_path / "runs.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen",
           "CAST_STUDIO_SETTINGS": str(_settings(tmp_path / "settings.ini", model))}
    done = subprocess.run([sys.executable, "-m", "cast_studio", "--db", str(db), "--smoke-run"],
                          capture_output=True, text=True, env=env, timeout=300)
    return done, db


def test_smoke_run_completes_a_run_through_the_run_button(tmp_path, tiny_model_dir):
    done, db = _smoke(tmp_path, str(tiny_model_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("smoke-run:")]
    assert "Run pressed; 1 run(s) queued" in lines[1]
    assert lines[2].startswith("smoke-run: run 1 completed; test accuracy factual ")
    assert lines[-1] == "smoke-run: PASS: 1 of 1 run(s) completed"
    from cast_engine.store import RunStore

    with RunStore(db) as store:  # recorded in the store as a completed one-epoch CAST run of the tiny model
        run = store.get_run(1)
        assert run["status"] == "completed"
        assert run["config"]["train"]["max_epochs"] == 1
        assert run["config"]["model"] == str(tiny_model_dir)
        assert run["method"] == "cast"
        assert len(store.epochs(1)) == 1


def test_smoke_run_fails_when_the_run_fails(tmp_path):
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    done, _db = _smoke(tmp_path, str(empty))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"smoke-run: run -1 failed (model '{empty}' is not a model folder" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "smoke-run: FAIL: 0 of 1 run(s) completed"
