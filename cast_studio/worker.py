"""The studio's one job queue: runs, resumes, sweeps and evaluations, one after another in a background QThread.

Every job reports the engine's events, which cross to the GUI thread as a Qt
signal carrying the engine's own frozen event objects, so the studio never
reaches into the loop: a run's events, each sweep trial's events as it trains
(trials in this process), a sweep's ``SweepProgress`` and its ``SweepEnded``.
One cancel token stops the job in progress, whatever it is; a sweep and
queued runs never train at the same time. A failing run (bad data, out of
memory, NaN loss) is recorded by the engine as failed and the next job
starts. The thread opens its own store connection; every studio connection
is a GuardedStore, so the studio's writes never overlap.
"""

from __future__ import annotations

import collections
import gc
import logging
import os
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal

from cast_engine.config import RunConfig
from cast_engine.errors import CastError
from cast_engine.train.events import CancelToken, Message, Progress, RunEnded, RunStarted

from .events import EvaluationEnded, EvaluationJobEnded, EvaluationProgress, GpuMemory, SweepEnded
from .store_access import open_store

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


TRAINING_NICENESS = 10  # how much lower than the window's the training thread's CPU priority is (Linux)


def yield_the_cpu_to_the_interface() -> bool:
    """Lower the calling thread's CPU priority (Linux, where a thread has its own nice value).

    Where training and the window want the same core, the scheduler then runs the window first:
    a page switch or a plot update no longer waits behind a training step. Training loses nothing
    on an idle machine. Returns whether the priority was lowered.
    """
    if not sys.platform.startswith("linux"):
        return False  # elsewhere the call would take a thread id for a process id
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + TRAINING_NICENESS))
    except OSError:
        return False
    return True


class _RunThread(QThread):
    """Pulls configs (and resumes) from the queue and runs them until it is empty."""

    def __init__(self, queue: "RunQueue"):
        super().__init__()
        self.queue = queue
        self.setObjectName("cast-training")

    def run(self) -> None:  # runs in the background thread
        store = None
        try:
            leave_a_core_to_the_interface()
            yield_the_cpu_to_the_interface()  # threads torch starts from here inherit the lower priority
            store = open_store(self.queue.db_path)
            while (item := self.queue._next()) is not None:
                self.queue._run_one(item, store)
        except Exception as exc:  # the store itself could not be opened
            log.exception("run queue stopped")
            self.queue.event.emit(RunEnded(None, "failed", f"{type(exc).__name__}: {exc}", None))
            self.queue.run_finished.emit(-1, "failed", str(exc), None)
        finally:
            if store is not None:
                store.close()


class RunQueue(QObject):
    """Runs jobs (configs, resumes, sweeps) one after another off the GUI thread and reports their events."""

    run_starting = Signal(object)  # the RunConfig about to run (a sweep's: each trial's)
    event = Signal(object)  # an engine event, or a studio GpuMemory
    run_finished = Signal(int, str, str, object)  # run id (-1: never started), status, reason, test metrics
    queue_changed = Signal(int)  # configs waiting (the running one excluded)
    idle = Signal()

    #: How long a thread holds the interpreter before one that waits for it gets it. Python's 5 ms
    #: default is paid by the GUI thread each time it takes the interpreter back from a training
    #: thread, and drawing a page takes it back hundreds of times (every call into Qt releases it).
    GIL_SWITCH_S = 0.0005

    def __init__(self, db_path: str | Path | None, parent=None):
        super().__init__(parent)
        sys.setswitchinterval(min(sys.getswitchinterval(), self.GIL_SWITCH_S))
        self.db_path = db_path
        self._waiting: collections.deque[Job] = collections.deque()
        self._lock = threading.Lock()
        self._cancel: CancelToken | None = None
        self._thread: _RunThread | None = None
        self.current: Job | None = None

    # ------------------------------------------------------------------ GUI side
    def submit(self, configs: list[Job]) -> None:
        """Queue configs, resumes of stopped runs or sweeps; starts the background thread when it is not running."""
        with self._lock:
            self._waiting.extend(configs)
            waiting = len(self._waiting)
        self.queue_changed.emit(waiting)
        if self._thread is None or not self._thread.isRunning():
            self._thread = _RunThread(self)
            self._thread.finished.connect(self.idle)
            self._thread.start()

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    def stop_current(self) -> None:
        """Ask the running job to stop: a run ends within one training step, saved as cancelled;
        a sweep after (serial: within a step of) the trials in flight, its finished trials kept."""
        cancel = self._cancel
        if cancel is not None:
            cancel.cancel()

    def cancel(self, job: Job) -> None:
        """Take ``job`` off the queue, or stop it when it is the one running."""
        with self._lock:
            waiting = [item for item in self._waiting if item is not job]
            dropped = len(waiting) != len(self._waiting)
            self._waiting = collections.deque(waiting)
            running = self.current is job
        if dropped:
            self.queue_changed.emit(len(waiting))
        if running:
            self.stop_current()

    def is_pending(self, job: Job) -> bool:
        """Whether ``job`` waits in the queue or runs now."""
        with self._lock:
            return self.current is job or any(item is job for item in self._waiting)

    def stop_all(self) -> None:
        """Drop the queued configs and stop the running one."""
        with self._lock:
            self._waiting.clear()
        self.queue_changed.emit(0)
        self.stop_current()

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Stop everything and wait for the thread; True when it ended in time."""
        self.stop_all()
        return self.wait(timeout_ms)

    def wait(self, timeout_ms: int) -> bool:
        """Wait for the thread to end (the queue emptied); True when it did in time."""
        if self._thread is None:
            return True
        return self._thread.wait(timeout_ms)

    # ------------------------------------------------------------ thread side
    def _next(self) -> Job | None:
        with self._lock:
            if not self._waiting:
                self.current = None
                return None
            item = self._waiting.popleft()
            waiting = len(self._waiting)
            self.current = item
            self._cancel = CancelToken()
        self.queue_changed.emit(waiting)
        return item

    def _run_one(self, item: Job, store) -> None:
        try:
            if isinstance(item, SweepJob):
                self._run_sweep(item, store)
            elif isinstance(item, EvaluationJob):
                self._run_evaluation(item, store)
            else:
                self._run_guarded(item, store)
        finally:
            gc.unfreeze()  # let the collector reclaim the finished run's cycles
            with self._lock:
                self.current = None

    def _run_sweep(self, job: SweepJob, store) -> None:
        """A sweep as a job: its progress and each trial's events through ``event``, under the queue's cancel token."""
        from cast_engine.experiments import run_sweep

        gc.freeze()  # as for a run: objects alive now are never collected in this thread

        def trial_events(event) -> None:
            if isinstance(event, RunStarted):  # a new trial: the Monitor follows it
                self.run_starting.emit(RunConfig.from_dict(event.config))
            self.event.emit(event)

        def progress(update) -> None:
            job.sweep_id = update.sweep_id
            gc.freeze()  # what the GUI made since the last trial stays out of this thread's collections too
            self.event.emit(update)

        try:
            result = run_sweep(job.spec, store=store, executor=job.executor, cancel=self._cancel,
                               on_progress=progress, sinks=[freeze_long_lived, trial_events])
            failures = "; ".join(result.failures.values())
            ended = SweepEnded(result.sweep_id, result.status,
                               f"sweep {result.sweep_id} {result.status}" + (f": {failures}" if failures else ""))
        except CastError as exc:
            ended = SweepEnded(job.sweep_id, "error", str(exc))
        except Exception as exc:  # a bug or the environment: shown, logged, the studio goes on
            log.error("sweep failed:\n%s", traceback.format_exc())
            ended = SweepEnded(job.sweep_id, "error", f"{type(exc).__name__}: {exc}")
        self.event.emit(ended)

    def _run_evaluation(self, job: EvaluationJob, store) -> None:
        """Evaluate each run of ``job`` under the queue's cancel token; progress and results through ``event``."""
        from cast_engine.errors import RunCancelled
        from cast_engine.runs.evaluate import evaluate_run

        names, stopped = [], False
        for run_id in job.run_ids:
            if self._cancel.cancelled:
                stopped = True
                break
            try:
                outcome = evaluate_run(store, run_id, job.config, cancel=self._cancel,
                                       progress=lambda done, total, r=run_id: self.event.emit(
                                           EvaluationProgress(job, r, done, total)))
            except RunCancelled:
                stopped = True
                break
            except CastError as exc:  # bad data or a run without a model: the next run still gets its turn
                self.event.emit(EvaluationEnded(job, run_id, None, error=str(exc)))
                continue
            except Exception as exc:  # a bug or the environment: shown, logged, the studio goes on
                log.error("evaluation of run %s failed:\n%s", run_id, traceback.format_exc())
                self.event.emit(EvaluationEnded(job, run_id, None, error=f"{type(exc).__name__}: {exc}"))
                continue
            names.append(outcome.evaluation["name"])
            self.event.emit(EvaluationEnded(job, run_id, outcome.evaluation["name"], outcome.reused))
        self.event.emit(EvaluationJobEnded(job, tuple(names), stopped))

    def _run_guarded(self, item: RunConfig | ResumeRequest, store) -> None:
        from cast_engine.runs.runner import resume, run

        config = config_of(item)
        self.run_starting.emit(config)
        gc.freeze()  # see freeze_long_lived
        sinks = [freeze_long_lived, self.event.emit, *self._gpu_sampler(config)]
        try:
            if isinstance(item, ResumeRequest):
                result = resume(item.run_id, store=store, sinks=sinks, cancel=self._cancel)
            else:
                result = run(config, store=store, sinks=sinks, cancel=self._cancel)
        except CastError as exc:  # bad input: found before anything was written
            self.event.emit(Message(f"not started: {exc}", "error"))
            self.event.emit(RunEnded(None, "failed", str(exc), None))
            self.run_finished.emit(-1, "failed", str(exc), None)
            return
        except Exception as exc:  # a bug or the environment; the next run still starts
            text = f"{type(exc).__name__}: {exc}"
            self.event.emit(Message(traceback.format_exc(), "error"))
            self.event.emit(RunEnded(None, "failed", text, None))
            self.run_finished.emit(-1, "failed", text, None)
            return
        self.run_finished.emit(result.run_id if result.run_id is not None else -1, result.status,
                               result.reason or "", result.test)

    def _gpu_sampler(self, config: RunConfig) -> list:
        """A sink that samples CUDA memory every few steps, when training on CUDA."""
        import torch

        if config.train.device.startswith("cpu") or config.train.device == "mps" or not torch.cuda.is_available():
            return []
        total = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory

        def sample(event) -> None:
            if isinstance(event, Progress) and event.step % GPU_SAMPLE_EVERY == 1:
                self.event.emit(GpuMemory(event.step, torch.cuda.memory_allocated(), torch.cuda.memory_reserved(), total))

        return [sample]


def freeze_long_lived(event) -> None:
    """Once a run's model and tokenised data exist, move them out of the cyclic GC's scans.

    The tokenised sets are millions of small lists; a full collection over
    them held the GIL for up to 0.3 s in the training thread, freezing the
    window (measured with bench/gui_stall.py). Frozen objects are still freed
    normally by reference counting.
    """
    if isinstance(event, RunStarted):
        gc.freeze()
