"""kill -9 `cast run` at random moments, then `cast resume` it: nothing lost, same result.

For each trial: start a `cast run` process on a shared store, wait until its
run row appears, kill it with SIGKILL after a random share of an
uninterrupted run's training time, then check

* the store passes ``PRAGMA integrity_check`` and ``foreign_key_check``;
* the killed run shows as interrupted (or completed, when the kill came too late);
* every other run in the store is exactly as it was before the kill;
* ``cast resume RUN`` continues from the last epoch checkpoint and ends with
  the same per-epoch metrics, masks, test results, predictions and weights as
  the uninterrupted reference run with the same seed (a kill before the first
  checkpoint must instead be refused with a message saying so).

    .venv/bin/python bench/crash_resume.py --trials 12                 # tiny random model (fast)
    .venv/bin/python bench/crash_resume.py --trials 10 --model minilm  # the packaged MiniLM

tests/test_crash_kill.py runs a few trials of the same harness in CI.
"""

from __future__ import annotations

import argparse
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_SCRIPT = Path(sys.executable).with_name("cast")  # the installed `cast` command, as a user runs it
CAST = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "cast_engine.cli"]
IGNORED_EPOCH_KEYS = ("id", "run_id", "elapsed_s", "train_time_s")  # timing differs between processes; nothing else may


@dataclass
class Trial:
    index: int
    kill_after_s: float
    run_id: int | None = None
    killed_at_epoch: int | None = None
    outcome: str = ""
    resumed_from: int | None = None
    resume_s: float | None = None


def cast(args: list[str], store: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*CAST, "--db", str(store), *args], capture_output=True, text=True, cwd=ROOT, **kwargs)


def snapshot(store: Path, skip: int | None = None) -> dict:
    """Every run's row, epochs, masks and predictions, keyed by run id (``skip`` left out)."""
    with sqlite3.connect(store) as db:
        db.row_factory = sqlite3.Row
        runs = {}
        for row in db.execute("SELECT * FROM runs ORDER BY id"):
            if row["id"] == skip:
                continue
            rid = row["id"]
            runs[rid] = {
                "run": dict(row),
                "epochs": [dict(r) for r in db.execute("SELECT * FROM epochs WHERE run_id = ? ORDER BY id", (rid,))],
                "masks": [dict(r) for r in db.execute("SELECT * FROM masks WHERE run_id = ? ORDER BY id", (rid,))],
                "predictions": [dict(r) for r in db.execute("SELECT * FROM predictions WHERE run_id = ? ORDER BY split", (rid,))],
            }
    return runs


def comparable(store: Path, run_id: int) -> dict:
    """What must match between a resumed run and the uninterrupted reference."""
    import json

    data = snapshot(store)[run_id]
    results = json.loads(data["run"]["results"] or "{}")
    results.pop("resumed", None)
    results.pop("train_time_s", None)  # seconds, as the epochs' timing
    return {
        "status": data["run"]["status"], "best_epoch": data["run"]["best_epoch"], "results": results,
        "epochs": [without_timing(e) for e in data["epochs"]],
        "masks": [{k: v for k, v in m.items() if k not in ("id", "run_id")} for m in data["masks"]],
        "predictions": [{k: v for k, v in p.items() if k != "run_id"} for p in data["predictions"]],
        "weights": weights(run_folder_of(store, run_id) / "delta.safetensors"),
    }


def without_timing(epoch: dict) -> dict:
    """An epoch row without what timing makes differ between processes (also inside its metrics)."""
    import json

    row = {k: v for k, v in epoch.items() if k not in IGNORED_EPOCH_KEYS}
    if row.get("metrics"):
        row["metrics"] = {k: v for k, v in json.loads(row["metrics"]).items() if k not in IGNORED_EPOCH_KEYS}
    return row


def mark_dead_runs(store: Path) -> None:
    """What opening the store for writing does (the studio, `cast run`): a 'running' run whose
    lock no process holds any more is marked interrupted."""
    from cast_engine.store import RunStore

    with RunStore(store) as opened:
        opened.mark_interrupted()


def run_folder_of(store: Path, run_id: int) -> Path:
    """The run's folder, derived from the store's location and identity (rows hold no paths)."""
    from cast_engine.store import RunStore

    with RunStore(store) as opened:
        return opened.artifact_dir(run_id, create=False)


def weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return {name: tensor.numpy().tobytes() for name, tensor in sorted(load_file(path).items())}


def integrity(store: Path) -> None:
    with sqlite3.connect(store) as db:
        result = db.execute("PRAGMA integrity_check").fetchall()
        assert result == [("ok",)], f"integrity_check: {result}"
        broken = db.execute("PRAGMA foreign_key_check").fetchall()
        assert not broken, f"foreign_key_check: {broken}"


def wait_for_run_row(store: Path, pid: int, timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if store.exists():
            try:
                with sqlite3.connect(store, timeout=5) as db:
                    row = db.execute("SELECT id FROM runs WHERE pid = ? AND status = 'running'", (pid,)).fetchone()
                if row:
                    return row[0]
            except sqlite3.OperationalError:
                pass  # the schema is being created
        time.sleep(0.02)
    raise AssertionError(f"process {pid} wrote no run row within {timeout:.0f} s")


def last_epoch(store: Path, run_id: int) -> int:
    with sqlite3.connect(store) as db:
        return db.execute("SELECT COALESCE(MAX(epoch), 0) FROM epochs WHERE run_id = ?", (run_id,)).fetchone()[0]


def wait_for_epoch(store: Path, run_id: int, epoch: int, process: subprocess.Popen) -> None:
    while last_epoch(store, run_id) < epoch and process.poll() is None:
        time.sleep(0.02)


def crash_trials(trials: int, run_args: list[str], workdir: Path, seed: int = 0, say=print,
                 after_epoch: int | None = None) -> list[Trial]:
    """Run the reference, then ``trials`` kill-and-resume trials; AssertionError on the first broken promise.

    Each kill waits until a random number of epochs (0 to all but one; or
    ``after_epoch``) is stored, then a random time up to 1.2 epochs of the
    reference run, so kills land in every phase: start-up, passes, merge,
    evaluation, checkpoint writing, test, the final row.
    """
    store = workdir / "runs.sqlite"
    started = time.monotonic()
    reference = cast(["run", *run_args], store)
    assert reference.returncode == 0, reference.stderr[-3000:]
    with sqlite3.connect(store) as db:
        ref_id, train_s = db.execute("SELECT id, wall_time_s FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        epochs = db.execute("SELECT COUNT(*) FROM epochs WHERE run_id = ?", (ref_id,)).fetchone()[0]
    epoch_s = train_s / max(epochs, 1)
    expected = comparable(store, ref_id)
    say(f"reference run {ref_id}: {epochs} epochs, {train_s:.1f} s from its row to its end "
        f"({time.monotonic() - started:.1f} s with start-up)")
    rng = random.Random(seed)
    done: list[Trial] = []
    for index in range(1, trials + 1):
        wait_epochs = rng.randint(0, max(epochs - 1, 0)) if after_epoch is None else after_epoch
        trial = Trial(index, kill_after_s=rng.uniform(0.0, 1.2 * epoch_s))
        process = subprocess.Popen([*CAST, "--db", str(store), "run", *run_args], cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        trial.run_id = wait_for_run_row(store, process.pid)
        before = snapshot(store, skip=trial.run_id)
        wait_for_epoch(store, trial.run_id, wait_epochs, process)
        time.sleep(trial.kill_after_s)
        process.send_signal(signal.SIGKILL)
        process.wait()
        trial.killed_at_epoch = last_epoch(store, trial.run_id)
        integrity(store)
        listing = cast(["runs"], store)  # a read-only listing: it changes nothing
        assert listing.returncode == 0, listing.stderr
        mark_dead_runs(store)
        assert snapshot(store, skip=trial.run_id) == before, f"trial {index}: another run changed"
        status = snapshot(store)[trial.run_id]["run"]["status"]
        if status == "completed":
            trial.outcome = "finished before the kill"
            assert comparable(store, trial.run_id) == expected
        else:
            assert status == "interrupted", f"trial {index}: killed run is {status}"
            t0 = time.monotonic()
            resumed = cast(["resume", str(trial.run_id)], store)
            trial.resume_s = time.monotonic() - t0
            if "has no checkpoint" in resumed.stderr:
                assert resumed.returncode == 2, resumed.stderr
                trial.outcome = "killed before the first checkpoint: resume refused, run left as it was"
                assert snapshot(store)[trial.run_id]["run"]["status"] == "interrupted"
            else:
                assert resumed.returncode == 0, f"trial {index}: resume failed:\n{resumed.stdout[-2000:]}\n{resumed.stderr[-3000:]}"
                row = snapshot(store)[trial.run_id]["run"]
                import json

                trial.resumed_from = json.loads(row["results"])["resumed"][-1]["after_epoch"]
                got = comparable(store, trial.run_id)
                differs = sorted(key for key in expected if got.get(key) != expected[key])
                assert got == expected, f"trial {index}: resumed run {trial.run_id} differs from reference {ref_id} in {differs}: " \
                    f"{ {k: (got.get(k), expected[k]) for k in differs if k not in ('weights', 'epochs')} }"
                trial.outcome = "resumed: identical to the reference"
        integrity(store)
        done.append(trial)
        say(f"trial {index:>2}: killed {trial.kill_after_s:5.2f} s after epoch {wait_epochs} was stored "
            f"(epoch rows at the kill: {trial.killed_at_epoch}), "
            f"run {trial.run_id}: {trial.outcome}"
            + (f" (from epoch {trial.resumed_from}, {trial.resume_s:.1f} s)" if trial.resumed_from is not None else ""))
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0, help="Seed of the kill moments.")
    parser.add_argument("--model", default="tiny", help="'tiny' (random, built here), 'minilm' or a model folder.")
    parser.add_argument("--method", default="cast")
    parser.add_argument("--max-epochs", default="4")
    args, extra = parser.parse_known_args(argv)
    with tempfile.TemporaryDirectory(prefix="cast-crash-") as tmp:
        model = args.model
        if model == "tiny":
            sys.path.insert(0, str(ROOT))
            from tests.engine_fixtures import build_tiny_model

            model = str(build_tiny_model(Path(tmp) / "tiny-model"))
        run_args = ["--model", model, "--method", args.method, "--max-epochs", args.max_epochs,
                    "--device", "cpu", "--seed", "3", *extra]
        print(f"cast run {' '.join(run_args)}")
        started = time.monotonic()
        trials = crash_trials(args.trials, run_args, Path(tmp), args.seed)
    outcomes: dict[str, int] = {}
    for trial in trials:
        outcomes[trial.outcome] = outcomes.get(trial.outcome, 0) + 1
    print(f"\n{len(trials)} kills in {time.monotonic() - started:.0f} s; every check passed:")
    for outcome, count in outcomes.items():
        print(f"  {count:>3} × {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
