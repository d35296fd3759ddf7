"""A sweep in a background QThread: the engine's run_sweep, its progress as a Qt signal.

The thread opens its own guarded store connection; trials run in that thread
(one at a time), in local worker processes, or as Ray tasks, and every
finished trial is written by this thread alone.
"""

from __future__ import annotations

import gc
import logging
import traceback
from pathlib import Path

from PySide6.QtCore import QThread, Signal

from cast_engine.errors import CastError
from cast_engine.train.events import CancelToken

from .store_access import open_store

log = logging.getLogger(__name__)


class SweepThread(QThread):
    """Runs one sweep; ``progress`` carries the engine's SweepProgress, ``done`` how it ended."""

    progress = Signal(object)
    done = Signal(str, str)  # status (completed, stopped, failed, error), message

    def __init__(self, db_path: str | Path, spec, executor=None, parent=None):
        super().__init__(parent)
        self.setObjectName("cast-sweep")
        self.db_path, self.spec, self.executor = db_path, spec, executor
        self.cancel = CancelToken()
        self.sweep_id: int | None = None

    def stop(self) -> None:
        """Stop after (serial: within a step of) the trials in flight; finished trials stay."""
        self.cancel.cancel("sweep stopped by the user")

    def run(self) -> None:  # the background thread
        from cast_engine.experiments import run_sweep

        store = None
        # As the run queue does: objects alive now (the window's wrappers among them) are never
        # collected in this thread. A Qt object destroyed here by the cyclic GC while the GUI
        # thread deletes another deadlocks on Qt's lock and the GIL (seen in the tests).
        gc.freeze()
        try:
            store = open_store(self.db_path)
            result = run_sweep(self.spec, store=store, executor=self.executor, cancel=self.cancel,
                               on_progress=self._progress)
            failures = "; ".join(result.failures.values())
            self.done.emit(result.status, f"sweep {result.sweep_id} {result.status}" + (f": {failures}" if failures else ""))
        except CastError as exc:
            self.done.emit("error", str(exc))
        except Exception as exc:  # a bug or the environment: shown, logged, the studio goes on
            log.error("sweep failed:\n%s", traceback.format_exc())
            self.done.emit("error", f"{type(exc).__name__}: {exc}")
        finally:
            if store is not None:
                store.close()
            gc.unfreeze()

    def _progress(self, progress) -> None:
        self.sweep_id = progress.sweep_id
        gc.freeze()  # what the GUI made since the last trial stays out of this thread's collections too
        self.progress.emit(progress)
