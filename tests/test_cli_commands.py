"""`cast runs` filters, `cast sweep --new`, `cast paper` running its trials, and the
README's Python example, each checked against what the store holds."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cast_engine.store import RunStore
from fixture_folders import fixture_folder  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
KAUSHIK = fixture_folder("kaushik")  # a tiny hand-made folder of the Kaushik layout


def cast(*args: str, db: Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "CAST_DB": str(db), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "cast_engine.cli", *args], capture_output=True, text=True, env=env,
                          timeout=600, cwd=cwd)


def listed_ids(done: subprocess.CompletedProcess) -> list[int]:
    assert done.returncode == 0, done.stderr
    return [int(line.split()[0]) for line in done.stdout.splitlines()[1:] if line.split() and line.split()[0].isdigit()]


def test_runs_filters(tmp_path):
    db = tmp_path / "runs.sqlite"
    rows = [  # method, task, variant, final status
        ("cast", "nli", "RH1", "completed"),
        ("full", "nli", "RH1", "failed"),
        ("cast", "sentiment", "CAD", "completed"),
        ("lora", "nli", "RP1", None),  # still running (this process is alive)
        ("cast", "nli", "RP1", "cancelled"),
    ]
    with RunStore(db) as store:
        for seed, (method, task, variant, status) in enumerate(rows, start=1):
            run_id = store.create_run({}, method=method, task=task, variant=variant, regime="cad", model="m", seed=seed)
            if status:
                store.finish_run(run_id, status, results={"combined": seed / 10})
        # `cast runs` opens the store in another process: keep run 4 alive by owning it from here
        store.update_run(4, pid=os.getpid())
    assert listed_ids(cast("runs", db=db)) == [5, 4, 3, 2, 1]  # newest first
    assert listed_ids(cast("runs", "--method", "cast", db=db)) == [5, 3, 1]
    assert listed_ids(cast("runs", "--task", "nli", "--variant", "RH1", db=db)) == [2, 1]
    assert listed_ids(cast("runs", "--status", "completed", db=db)) == [3, 1]
    assert listed_ids(cast("runs", "--status", "running", db=db)) == [4]
    assert listed_ids(cast("runs", "--method", "cast", "--status", "cancelled", db=db)) == [5]
    page = cast("runs", "--limit", "2", db=db)
    assert listed_ids(page) == [5, 4] and "--offset 2" in page.stdout  # a page, saying how to get the next
    assert listed_ids(cast("runs", "--limit", "2", "--offset", "2", db=db)) == [3, 2]
    first = cast("runs", "--method", "cast", "--task", "sentiment", db=db).stdout.splitlines()[1].split()
    assert first[:5] == ["3", "completed", "cast", "sentiment", "CAD"] and first[7] == "30.0"  # combined in %
    none = cast("runs", "--method", "bitfit", db=db)
    assert none.returncode == 0 and "no runs in" in none.stdout
    bad = cast("runs", "--status", "done", db=db)
    assert bad.returncode == 2 and "--status 'done' is not a run status" in bad.stderr


def _sweep(db, model, *extra):
    return cast("sweep", "--data", str(KAUSHIK), "--task", "sentiment", "--model", str(model), "--max-epochs", "1",
                "--max-length", "32", "--device", "cpu", "--grid", "seed=1,2", *extra, db=db)


def test_sweep_new_starts_another_sweep_instead_of_resuming(tiny_model_dir, tmp_path):
    db = tmp_path / "runs.sqlite"
    first = _sweep(db, tiny_model_dir)
    assert first.returncode == 0, first.stderr
    again = _sweep(db, tiny_model_dir)  # the same grid: resumes sweep 1, which has nothing left to run
    assert again.returncode == 0, again.stderr
    with RunStore(db) as store:
        assert [s["id"] for s in store.list_sweeps()] == [1]
        assert len(store.list_runs()) == 2
    new = _sweep(db, tiny_model_dir, "--new")
    assert new.returncode == 0, new.stderr
    with RunStore(db) as store:
        sweeps = {s["id"]: s for s in store.list_sweeps()}
        assert sorted(sweeps) == [1, 2]
        runs = store.list_runs(order="asc")
        assert [(r["sweep_id"], r["seed"], r["status"]) for r in runs] == [
            (1, 1, "completed"), (1, 2, "completed"), (2, 1, "completed"), (2, 2, "completed")]
        # the new sweep trained again: same seeds, same results (training is reproducible on a CPU)
        assert [r["results"]["combined"] for r in runs[2:]] == [r["results"]["combined"] for r in runs[:2]]
    listed = cast("sweeps", db=db).stdout
    assert len(re.findall(r"completed\s+2/2", listed)) == 2


def test_paper_runs_its_trials_and_writes_their_results(tiny_model_dir, tmp_path):
    db = tmp_path / "runs.sqlite"
    out = tmp_path / "out"
    args = ("paper", "figure2", "--data", str(KAUSHIK), "--seeds", "1", "--alphas", "0.01,0.15", "--ks", "10,100",
            "--set", f"model={tiny_model_dir}", "--set", "train.max_epochs=1", "--set", "train.max_length=32",
            "--set", "train.device=cpu", "--out", str(out))
    done = cast(*args, db=db)
    assert done.returncode == 0, done.stderr
    with RunStore(db) as store:
        runs = store.list_runs(order="asc")
        assert len(runs) == 4 and {r["status"] for r in runs} == {"completed"}
        measured = {(r["config"]["method"]["alpha"], r["config"]["method"]["k"]): 100 * r["results"]["combined"]
                    for r in runs}
        assert all(store.predictions(r["id"]) for r in runs)  # kept for significance tests
    assert sorted(measured) == [(0.01, "10"), (0.01, "100"), (0.15, "10"), (0.15, "100")]
    rows = list(csv.DictReader((out / "figure2-quick.csv").open()))
    assert len(rows) == 4
    for row in rows:
        assert int(row["n"]) == 1
        assert float(row["mean"]) == pytest.approx(measured[(float(row["alpha"]), row["k"])], abs=1e-3)
    rerun = cast(*args[:-1], str(tmp_path / "again"), db=db)  # everything is in the store: nothing trains again
    assert rerun.returncode == 0, rerun.stderr
    with RunStore(db) as store:
        assert len(store.list_runs()) == 4


def test_the_readme_python_example_runs_as_written(tmp_path):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## From Python", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    assert code.count("\n") == 4 and "import cast_engine as ce" in code  # the three lines, as a reader sees them
    env = {**os.environ, "PYTHONPATH": str(REPO), "CAST_DB": str(tmp_path / "runs.sqlite"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    combined, pair = (float(x) for x in done.stdout.split())
    with RunStore(tmp_path / "runs.sqlite") as store:
        (stored,) = store.list_runs()
    assert stored["status"] == "completed" and stored["method"] == "cast" and stored["variant"] == "RH1"
    assert stored["config"]["method"]["alpha"] == 0.05 and stored["config"]["method"]["k"] == "1%"
    assert (combined, pair) == (stored["results"]["combined"], stored["results"]["pair"])
