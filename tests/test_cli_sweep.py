"""`cast sweep`, `cast sweeps`, `cast compare` and `cast paper` from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cast_engine.store import RunStore

REPO = Path(__file__).resolve().parents[1]


def cast(*args: str, db: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "CAST_DB": str(db)}
    return subprocess.run([sys.executable, "-m", "cast_engine.cli", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def test_sweep_list_compare(tiny_model_dir, tmp_path):
    db = tmp_path / "runs.sqlite"
    done = cast("sweep", "--model", str(tiny_model_dir), "--max-epochs", "1", "--max-length", "48", "--device", "cpu",
                "--grid", "method=full,bitfit", "--grid", "seed=1,2", "--sweep-name", "two methods", db=db)
    assert done.returncode == 0, done.stderr
    assert "4 trials; executor local" in done.stdout
    assert "[4/4 done] method bitfit, seed 2: run 4: combined" in done.stdout and "ETA" in done.stdout
    assert "sweep 1: completed; 4 trials have a completed run" in done.stdout
    listed = cast("sweeps", db=db)
    assert "completed" in listed.stdout and "4/4" in listed.stdout and "two methods" in listed.stdout
    compared = cast("compare", "--a", "1", "2", "--b", "3", "4", db=db)
    assert compared.returncode == 0, compared.stderr
    assert "paired bootstrap 95 % CI" in compared.stdout and "McNemar" in compared.stdout
    assert "2 seed pair(s)" in compared.stdout


def test_bad_grid_and_unknown_run_are_clear_errors(tmp_path):
    db = tmp_path / "runs.sqlite"
    bad = cast("sweep", "--grid", "alhpa=0.1", db=db)
    assert bad.returncode == 2 and "grid field 'alhpa' is not a config field" in bad.stderr
    out_of_range = cast("sweep", "--method", "cast", "--grid", "alpha=0.1,7", db=db)
    assert out_of_range.returncode == 2 and "alpha = 7.0 is out of range" in out_of_range.stderr
    assert not db.exists()  # a refused grid opens (or creates) no store
    missing = cast("compare", "--a", "1", "--b", "2", db=db)
    assert missing.returncode == 2 and f"no run store at {db}" in missing.stderr
    RunStore(db).close()
    missing = cast("compare", "--a", "1", "--b", "2", db=db)
    assert missing.returncode == 2 and "no run 1" in missing.stderr
    resume = cast("sweep", "--resume", "9", db=db)
    assert resume.returncode == 2 and "no sweep 9" in resume.stderr


def test_paper_table_from_an_empty_store_writes_empty_cells(cad_dir, tmp_path):
    db = tmp_path / "runs.sqlite"
    done = cast("paper", "table2", "--data", str(cad_dir), "--no-run", "--out", str(tmp_path / "out"), db=db)
    assert done.returncode == 0, done.stderr
    markdown = (tmp_path / "out" / "table2-quick.md").read_text()
    assert "| CAST | – | – |" in markdown and "n = seeds completed of 2" in markdown
    listed = cast("sweeps", db=db)
    assert "no sweeps" in listed.stdout  # --no-run only reads
