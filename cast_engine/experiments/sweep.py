"""Run a sweep: find (or resume) it in the store, run the trials it lacks, record each.

A sweep is resumed, never restarted: trials that already have a completed run
are skipped, so stopping or crashing costs at most the trials in flight.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from ..errors import ConfigError, StoreError
from ..train.events import CancelToken
from .grid import SweepSpec, Trial
from .record import TrialJob


@dataclass
class SweepProgress:
    """Where a sweep stands after a trial finished (or at the start: ``last`` is None)."""

    sweep_id: int
    done: int
    total: int
    failed: int
    eta_s: float | None
    last: dict | None = None


@dataclass
class SweepResult:
    """How a sweep ended and which run holds each trial."""

    sweep_id: int
    status: str
    runs: dict[str, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    reused: int = 0
    wall_time_s: float = 0.0


def find_or_create_sweep(store, spec: SweepSpec, trials: list[Trial], kind: str, resume: int | None = None,
                         new: bool = False) -> tuple[int, bool]:
    """The sweep to run: ``resume`` if given, else the newest with the same trials, else a new one.
    Returns (sweep id, whether it existed)."""
    spec_hash = spec.spec_hash(trials)
    if resume is not None:
        sweep = store.get_sweep(resume)
        if sweep["spec_hash"] != spec_hash:
            raise ConfigError(f"sweep {resume} has different trials from the grid given; resume it with its own grid "
                              f"(cast sweep --resume {resume} alone) or start a new sweep")
        return resume, True
    if not new:
        existing = store.list_sweeps(spec_hash=spec_hash)
        if existing:
            return existing[0]["id"], True
    return store.create_sweep(spec.title(), kind, spec.to_dict(), spec_hash, len(trials)), False


def run_sweep(spec: SweepSpec, *, store=None, executor=None, kind: str = "sweep", resume: int | None = None,
              new: bool = False, reuse: bool = False, keep_models: bool = False, cancel: CancelToken | None = None,
              on_progress: Callable[[SweepProgress], None] | None = None, sinks=()) -> SweepResult:
    """Run every trial of ``spec`` that the store does not have yet.

    ``reuse``: a completed run anywhere in the store with a trial's exact config
    (its fingerprint) counts as that trial. ``executor``: see executors.py
    (default: one trial at a time in this process). ``cancel`` stops the sweep;
    finished trials stay recorded. ``sinks`` receive the engine events of the
    trial in training when trials run in this process (the serial executor).
    """
    from ..runs.runner import open_store
    from .executors import SerialExecutor

    store = open_store(store)
    executor = executor or SerialExecutor()
    cancel = cancel or CancelToken()
    trials = spec.trials()
    if not trials:
        raise ConfigError("the sweep has no trials: every grid axis needs at least one value")
    sweep_id, _ = find_or_create_sweep(store, spec, trials, kind, resume, new)
    started = time.perf_counter()
    result = SweepResult(sweep_id, "running")
    by_key = {run["trial_key"]: run["id"] for run in store.sweep_runs(sweep_id)}  # completed trials
    if reuse:
        found = store.runs_by_fingerprint([t.key for t in trials if t.key not in by_key])
        result.reused = len(found)
        by_key.update(found)
    result.runs = {t.key: by_key[t.key] for t in trials if t.key in by_key}
    pending = [t for t in trials if t.key not in by_key]
    store.claim_sweep(sweep_id)
    total, done, failed, ran = len(trials), len(trials) - len(pending), 0, 0
    emit = on_progress or (lambda progress: None)
    emit(SweepProgress(sweep_id, done, total, 0, None))
    jobs = [TrialJob(t.key, t.config.to_dict(), t.label(), keep_models) for t in pending]
    labels = {t.key: t.assignment for t in pending}
    status = "failed"
    try:
        for job, outcome in executor.run(jobs, cancel, sinks):
            ran += 1
            if isinstance(outcome, BaseException):
                failed += 1
                result.failures[job.key] = f"{type(outcome).__name__}: {outcome}"
                last = {"trial": labels[job.key], "status": "error", "reason": str(outcome), "run_id": None}
            else:
                try:
                    run_id = store.record_trial(outcome, sweep_id=sweep_id, trial_key=job.key)
                except StoreError as exc:  # a record refused before it reached the store (see record_trial)
                    failed += 1
                    result.failures[job.key] = f"StoreError: {exc}"
                    last = {"trial": labels[job.key], "status": "error", "reason": str(exc), "run_id": None}
                    emit(SweepProgress(sweep_id, done, total, failed, None, last))
                    continue
                if outcome.status == "completed":
                    done += 1
                    result.runs[job.key] = run_id
                else:
                    failed += 1
                    result.failures[job.key] = f"run {run_id} {outcome.status}: {outcome.run.get('reason')}"
                last = {"trial": labels[job.key], "status": outcome.status, "run_id": run_id,
                        "reason": outcome.run.get("reason"), "results": outcome.results,
                        "wall_time_s": outcome.run.get("wall_time_s")}
            elapsed = time.perf_counter() - started
            remaining = len(pending) - ran
            eta = elapsed / ran * remaining if ran else None
            emit(SweepProgress(sweep_id, done, total, failed, eta, last))
        status = "stopped" if cancel.cancelled else ("completed" if done == total else "failed")
    except KeyboardInterrupt:
        status = "stopped"
        raise
    finally:
        store.finish_sweep(sweep_id, status)
        result.status = status
        result.wall_time_s = time.perf_counter() - started
    return result


def trial_runs(store, sweep_id: int | None, trials: list[Trial], reuse: bool = False) -> dict[str, dict]:
    """The completed run of each trial: the sweep's own, else (``reuse``) the newest completed run
    anywhere in the store with the trial's config fingerprint."""
    runs = {run["trial_key"]: run for run in store.sweep_runs(sweep_id)} if sweep_id is not None else {}
    if reuse:
        missing = [t.key for t in trials if t.key not in runs]
        for key, run_id in store.runs_by_fingerprint(missing).items():
            runs[key] = store.get_run(run_id)
    return runs


def sweep_trial_runs(store, sweep_id: int, reuse: bool = False) -> tuple[SweepSpec, list[Trial], dict[str, dict]]:
    """A stored sweep's spec, its trials and the completed run of each trial that has one."""
    spec = SweepSpec.from_dict(store.get_sweep(sweep_id)["spec"])
    trials = spec.trials()
    return spec, trials, trial_runs(store, sweep_id, trials, reuse)
