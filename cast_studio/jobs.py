"""The studio's jobs (runs, resumes, sweeps, evaluations) and how one of them runs.

This module never imports Qt: it is what the training process (``trainer.py``)
imports. A job reports through ``report(kind, *payload)``:

- ``("run_starting", config)``: a run (or a sweep's trial) is about to train;
- ``("event", event)``: an engine event, or a studio one (``events.py``);
- ``("run_finished", run_id, status, reason, test_metrics)``: a run or resume is over
  (run id -1: it never started).

A failing run (bad data, out of memory, NaN loss) is recorded by the engine
as failed and the job ends normally; the next job starts.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from cast_engine.config import RunConfig
from cast_engine.errors import CastError
from cast_engine.train.events import CancelToken, Message, Progress, RunEnded, RunStarted

from .events import EvaluationEnded, EvaluationJobEnded, EvaluationProgress, GpuMemory, SweepEnded

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResumeRequest:
    """A queued resume of stored run ``run_id`` (its config, for the monitor's display)."""

    run_id: int
    config: RunConfig


@dataclass(eq=False)
class SweepJob:
    """A queued sweep (a grid and the executor its trials run in); ``sweep_id`` once it started."""

    spec: object
    executor: object = None
    sweep_id: int | None = None


@dataclass(eq=False)
class EvaluationJob:
    """A queued evaluation of stored runs on other paired data (cast_engine.runs.evaluate)."""

    run_ids: list[int]
    config: object  # an EvaluateConfig


Job = RunConfig | ResumeRequest | SweepJob | EvaluationJob
Report = Callable[..., None]


def config_of(item: Job) -> RunConfig:
    """The config a queued item runs with (a sweep's base config)."""
    if isinstance(item, SweepJob):
        return item.spec.base
    return item.config if isinstance(item, ResumeRequest) else item


GPU_SAMPLE_EVERY = 20  # steps between GPU memory samples


def leave_a_core_to_the_interface() -> int:
    """Train on one CPU thread fewer than the machine has (unless OMP_NUM_THREADS says otherwise).

    PyTorch's CPU threads spin while they wait for work; with one per core they
    hold every core, and the window, whose thread then waits for a core, stalls
    for a tenth of a second at a time. Returns the number of threads set.
    """
    import torch

    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    threads = max(1, (os.cpu_count() or 1) - 1)
    if torch.get_num_threads() > threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


TRAINING_NICENESS = 10  # how much lower than the window's the training process's CPU priority is


def yield_the_cpu_to_the_interface() -> bool:
    """Lower the calling thread's CPU priority (Linux, where a thread has its own nice value).

    Called in the training process before it starts any thread, so every thread it
    starts (PyTorch's included) inherits it. Where training and the window want the
    same core, the scheduler then runs the window first. Training loses nothing on
    an idle machine. Returns whether the priority was lowered.
    """
    if not sys.platform.startswith("linux"):
        return False  # elsewhere the call would take a thread id for a process id
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + TRAINING_NICENESS))
    except OSError:
        return False
    return True


def freeze_long_lived(event) -> None:
    """Once a run's model and tokenised data exist, move them out of the cyclic GC's scans.

    The tokenised sets are millions of small lists; a full collection over them
    took up to 0.3 s of the training process's time, in the middle of a step.
    Frozen objects are still freed normally by reference counting.
    """
    if isinstance(event, RunStarted):
        gc.freeze()


class JobRunner:
    """Runs one job on ``store`` under ``cancel``, telling ``report`` what happens."""

    def __init__(self, store, cancel: CancelToken, report: Report):
        self.store = store
        self.cancel = cancel
        self.report = report

    def run(self, item: Job) -> None:
        try:
            if isinstance(item, SweepJob):
                self._run_sweep(item)
            elif isinstance(item, EvaluationJob):
                self._run_evaluation(item)
            else:
                self._run_guarded(item)
        finally:
            gc.unfreeze()  # let the collector reclaim the finished run's cycles

    def _event(self, event) -> None:
        self.report("event", event)

    def _run_sweep(self, job: SweepJob) -> None:
        """A sweep as a job: its progress and each trial's events, under the job's cancel token."""
        from cast_engine.experiments import run_sweep

        gc.freeze()  # as for a run: objects alive now are never collected

        def trial_events(event) -> None:
            if isinstance(event, RunStarted):  # a new trial: the Monitor follows it
                self.report("run_starting", RunConfig.from_dict(event.config))
            self._event(event)

        def progress(update) -> None:
            job.sweep_id = update.sweep_id
            gc.freeze()
            self._event(update)

        try:
            result = run_sweep(job.spec, store=self.store, executor=job.executor, cancel=self.cancel,
                               on_progress=progress, sinks=[freeze_long_lived, trial_events])
            failures = "; ".join(result.failures.values())
            ended = SweepEnded(result.sweep_id, result.status,
                               f"sweep {result.sweep_id} {result.status}" + (f": {failures}" if failures else ""))
        except CastError as exc:
            ended = SweepEnded(job.sweep_id, "error", str(exc))
        except Exception as exc:  # a bug or the environment: shown, logged, the studio goes on
            log.error("sweep failed:\n%s", traceback.format_exc())
            ended = SweepEnded(job.sweep_id, "error", f"{type(exc).__name__}: {exc}")
        self._event(ended)

    def _run_evaluation(self, job: EvaluationJob) -> None:
        """Evaluate each run of ``job`` under the cancel token; progress and results as events."""
        from cast_engine.errors import RunCancelled
        from cast_engine.runs.evaluate import evaluate_run

        names, stopped = [], False
        for run_id in job.run_ids:
            if self.cancel.cancelled:
                stopped = True
                break
            try:
                outcome = evaluate_run(self.store, run_id, job.config, cancel=self.cancel,
                                       progress=lambda done, total, r=run_id: self._event(
                                           EvaluationProgress(job, r, done, total)))
            except RunCancelled:
                stopped = True
                break
            except CastError as exc:  # bad data or a run without a model: the next run still gets its turn
                self._event(EvaluationEnded(job, run_id, None, error=str(exc)))
                continue
            except Exception as exc:  # a bug or the environment: shown, logged, the studio goes on
                log.error("evaluation of run %s failed:\n%s", run_id, traceback.format_exc())
                self._event(EvaluationEnded(job, run_id, None, error=f"{type(exc).__name__}: {exc}"))
                continue
            names.append(outcome.evaluation["name"])
            self._event(EvaluationEnded(job, run_id, outcome.evaluation["name"], outcome.reused))
        self._event(EvaluationJobEnded(job, tuple(names), stopped))

    def _run_guarded(self, item: RunConfig | ResumeRequest) -> None:
        from cast_engine.runs.runner import resume, run

        config = config_of(item)
        self.report("run_starting", config)
        gc.freeze()  # see freeze_long_lived
        sinks = [freeze_long_lived, self._event, *self._gpu_sampler(config)]
        try:
            if isinstance(item, ResumeRequest):
                result = resume(item.run_id, store=self.store, sinks=sinks, cancel=self.cancel)
            else:
                result = run(config, store=self.store, sinks=sinks, cancel=self.cancel)
        except CastError as exc:  # bad input: found before anything was written
            self._event(Message(f"not started: {exc}", "error"))
            self._event(RunEnded(None, "failed", str(exc), None))
            self.report("run_finished", -1, "failed", str(exc), None)
            return
        except Exception as exc:  # a bug or the environment; the next run still starts
            text = f"{type(exc).__name__}: {exc}"
            self._event(Message(traceback.format_exc(), "error"))
            self._event(RunEnded(None, "failed", text, None))
            self.report("run_finished", -1, "failed", text, None)
            return
        self.report("run_finished", result.run_id if result.run_id is not None else -1, result.status,
                    result.reason or "", result.test)

    def _gpu_sampler(self, config: RunConfig) -> list:
        """A sink that samples CUDA memory every few steps, when training on CUDA."""
        import torch

        if config.train.device.startswith("cpu") or config.train.device == "mps" or not torch.cuda.is_available():
            return []
        total = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory

        def sample(event) -> None:
            if isinstance(event, Progress) and event.step % GPU_SAMPLE_EVERY == 1:
                self._event(GpuMemory(event.step, torch.cuda.memory_allocated(), torch.cuda.memory_reserved(), total))

        return [sample]
