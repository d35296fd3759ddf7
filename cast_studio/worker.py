"""The run queue: configs run one after another in a background QThread.

The engine's events cross to the GUI thread as a Qt signal carrying the
engine's own frozen event objects, so the studio never reaches into the
loop. A failing run (bad data, out of memory, NaN loss) is recorded by the
engine as failed and the next queued run starts. The thread opens its own
store connection; every studio connection is a GuardedStore, so the studio's
writes never overlap.
"""

from __future__ import annotations

import collections
import gc
import logging
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal

from cast_engine.config import RunConfig
from cast_engine.errors import CastError
from cast_engine.train.events import CancelToken, Message, Progress, RunEnded, RunStarted

from .events import GpuMemory
from .store_access import open_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResumeRequest:
    """A queued resume of stored run ``run_id`` (its config, for the monitor's display)."""

    run_id: int
    config: RunConfig


def config_of(item: RunConfig | ResumeRequest) -> RunConfig:
    """The config a queued item runs with."""
    return item.config if isinstance(item, ResumeRequest) else item


GPU_SAMPLE_EVERY = 20  # steps between GPU memory samples


class _RunThread(QThread):
    """Pulls configs (and resumes) from the queue and runs them until it is empty."""

    def __init__(self, queue: "RunQueue"):
        super().__init__()
        self.queue = queue
        self.setObjectName("cast-training")

    def run(self) -> None:  # runs in the background thread
        store = None
        try:
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
    """Runs configs one after another off the GUI thread and reports their events."""

    run_starting = Signal(object)  # the RunConfig about to run
    event = Signal(object)  # an engine event, or a studio GpuMemory
    run_finished = Signal(int, str, str, object)  # run id (-1: never started), status, reason, test metrics
    queue_changed = Signal(int)  # configs waiting (the running one excluded)
    idle = Signal()

    def __init__(self, db_path: str | Path | None, parent=None):
        super().__init__(parent)
        self.db_path = db_path
        self._waiting: collections.deque[RunConfig | ResumeRequest] = collections.deque()
        self._lock = threading.Lock()
        self._cancel: CancelToken | None = None
        self._thread: _RunThread | None = None
        self.current: RunConfig | None = None

    # ------------------------------------------------------------------ GUI side
    def submit(self, configs: list[RunConfig | ResumeRequest]) -> None:
        """Queue configs (or resumes of stopped runs); starts the background thread when it is not running."""
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
        """Ask the running run to stop; it ends within one training step, saved as cancelled."""
        cancel = self._cancel
        if cancel is not None:
            cancel.cancel()

    def stop_all(self) -> None:
        """Drop the queued configs and stop the running one."""
        with self._lock:
            self._waiting.clear()
        self.queue_changed.emit(0)
        self.stop_current()

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Stop everything and wait for the thread; True when it ended in time."""
        self.stop_all()
        if self._thread is None:
            return True
        return self._thread.wait(timeout_ms)

    # ------------------------------------------------------------ thread side
    def _next(self) -> RunConfig | ResumeRequest | None:
        with self._lock:
            if not self._waiting:
                self.current = None
                return None
            item = self._waiting.popleft()
            waiting = len(self._waiting)
            self.current = config_of(item)
            self._cancel = CancelToken()
        self.queue_changed.emit(waiting)
        return item

    def _run_one(self, item: RunConfig | ResumeRequest, store) -> None:
        try:
            self._run_guarded(item, store)
        finally:
            gc.unfreeze()  # let the collector reclaim the finished run's cycles

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
