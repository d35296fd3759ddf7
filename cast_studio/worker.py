"""The studio's one job queue: runs, resumes, sweeps and evaluations, one after another.

The queue lives in the window's process; each job trains in the training
process (``trainer.py``), and a QThread of the queue hands the jobs over and
turns what the training process reports into Qt signals: the engine's own
frozen event objects, so the studio never reaches into the loop (a run's
events, each sweep trial's events as it trains, a sweep's ``SweepProgress``
and its ``SweepEnded``). Stop ends the job in progress, whatever it is; a
sweep and queued runs never train at the same time. A failing run (bad data,
out of memory, NaN loss) is recorded by the engine as failed, and a crash of
the training process fails only the job in progress: the next job starts a
new process.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal

from cast_engine.train.events import Message, RunEnded

from .events import EvaluationJobEnded, SweepEnded
from .jobs import EvaluationJob, Job, ResumeRequest, SweepJob, config_of
from .trainer import TrainingProcessEnded, shared_trainer

__all__ = ["EvaluationJob", "Job", "ResumeRequest", "RunQueue", "SweepJob", "config_of"]

log = logging.getLogger(__name__)


class _RunThread(QThread):
    """Hands the queue's jobs to the training process, one after another, until the queue is empty."""

    def __init__(self, queue: "RunQueue"):
        super().__init__()
        self.queue = queue
        self.setObjectName("cast-run-queue")

    def run(self) -> None:  # runs in the background thread
        while (item := self.queue._next()) is not None:
            self.queue._run_one(item)


class RunQueue(QObject):
    """Runs jobs (configs, resumes, sweeps) one after another off the GUI thread and reports their events."""

    run_starting = Signal(object)  # the RunConfig about to run (a sweep's: each trial's)
    event = Signal(object)  # an engine event, or a studio GpuMemory
    run_finished = Signal(int, str, str, object)  # run id (-1: never started), status, reason, test metrics
    queue_changed = Signal(int)  # configs waiting (the running one excluded)
    idle = Signal()

    #: How long a thread holds the interpreter before one that waits for it gets it. Python's 5 ms
    #: default is paid by the GUI thread each time it takes the interpreter back from a background
    #: thread (loading data, exporting), and drawing a page takes it back hundreds of times (every
    #: call into Qt releases it).
    GIL_SWITCH_S = 0.0005

    def __init__(self, db_path: str | Path | None, parent=None, *, trainer_setup: Callable[[], None] | None = None):
        """``trainer_setup``: a module-level function the training process runs before its first job."""
        super().__init__(parent)
        sys.setswitchinterval(min(sys.getswitchinterval(), self.GIL_SWITCH_S))
        self.db_path = db_path
        self.trainer = shared_trainer(trainer_setup)
        self._waiting: collections.deque[Job] = collections.deque()
        self._lock = threading.Lock()
        self._ticket: int | None = None  # the job in progress's, for stop
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

    def warm_up(self) -> None:
        """Start the training process now, in the background, so the first run need not wait for it."""
        threading.Thread(target=self.trainer.start, name="cast-trainer-start", daemon=True).start()

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    def stop_current(self) -> None:
        """Ask the running job to stop: a run ends within one training step, saved as cancelled;
        a sweep after (serial: within a step of) the trials in flight, its finished trials kept."""
        ticket = self._ticket
        if ticket is not None:
            self.trainer.stop(ticket)

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
            self._ticket = self.trainer.ticket()
        self.queue_changed.emit(waiting)
        return item

    def _run_one(self, item: Job) -> None:
        try:
            self.trainer.run(self._ticket, self.db_path, item, self._reporter(item))
        except TrainingProcessEnded as exc:  # a crash: this job failed, the next starts a new process
            log.error("%s: %s", exc, item)
            self._job_failed(item, str(exc))
        except Exception as exc:  # the job could not be sent (it does not pickle): a bug, shown
            log.exception("job not sent to the training process")
            self._job_failed(item, f"not started: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self.current = None
                self._ticket = None

    def _reporter(self, item: Job) -> Callable[..., None]:
        """What turns the training process's reports of ``item`` into this queue's signals."""
        from cast_engine.experiments.sweep import SweepProgress

        def report(kind: str, *payload) -> None:
            if kind == "run_starting":
                self.run_starting.emit(payload[0])
            elif kind == "run_finished":
                self.run_finished.emit(*payload)
            else:
                event = payload[0]
                if isinstance(event, SweepProgress):
                    item.sweep_id = event.sweep_id
                if dataclasses.is_dataclass(event) and hasattr(event, "job"):  # the studio's own job, not a copy
                    event = dataclasses.replace(event, job=item)
                self.event.emit(event)

        return report

    def _job_failed(self, item: Job, text: str) -> None:
        """Say that ``item`` ended without finishing, in the words each page listens for."""
        self.event.emit(Message(text, "error"))
        if isinstance(item, SweepJob):
            self.event.emit(SweepEnded(item.sweep_id, "error", text))
        elif isinstance(item, EvaluationJob):
            self.event.emit(EvaluationJobEnded(item, (), True))
        else:
            self.event.emit(RunEnded(None, "failed", text, None))
            self.run_finished.emit(-1, "failed", text, None)
