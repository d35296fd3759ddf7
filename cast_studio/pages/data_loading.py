"""Loading CAD data off the GUI thread, for the Data page.

``BackgroundLoader`` runs the engine's own loader (``cast_engine.runs.dataset.load_data``,
the one training uses, so the preview is what trains) and ``dataset_stats`` in a
thread pool and reports only the newest request. Every problem becomes a message
(``problem_text``), never an exception.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from cast_engine.config import DataConfig
from cast_engine.data import CadDataset, dataset_stats
from cast_engine.data.reading import stop_reading_when
from cast_engine.errors import CastError
from cast_engine.runs.dataset import load_data


def problem_text(exc: BaseException) -> str:
    """The message shown for a failed load (DataError already names the file and line)."""
    if isinstance(exc, CastError):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc}"


class _LoadSignals(QObject):
    """The loader's mailbox for load jobs (one object, owned by the loader)."""

    done = Signal(int, object, object)  # generation, dataset, stats
    failed = Signal(int, str)  # generation, message


class _LoadJob(QRunnable):
    """Load one DataConfig with load_cad and compute its statistics, off the GUI thread."""

    def __init__(self, generation: int, cfg: DataConfig, cache_dir: str | None, signals: _LoadSignals, superseded):
        super().__init__()
        self.generation, self.cfg, self.cache_dir, self.signals = generation, cfg, cache_dir, signals
        self.superseded = superseded

    def run(self) -> None:
        try:
            with stop_reading_when(self.superseded):  # a newer request stops this read (and frees its memory)
                dataset = load_data(self.cfg, self.cache_dir)
            stats = dataset_stats(dataset)
        except Exception as exc:  # every problem is shown on the page, never raised
            self._send("failed", self.generation, problem_text(exc))
        else:
            self._send("done", self.generation, dataset, stats)

    def _send(self, name: str, *args) -> None:
        try:
            getattr(self.signals, name).emit(*args)
        except RuntimeError:  # the window closed while the data loaded: nobody is listening
            pass


class BackgroundLoader(QObject):
    """Runs load jobs in a thread pool; a newer request supersedes an older one, whose
    reading stops within a few thousand rows.

    ``loaded(cfg, dataset, stats)`` and ``failed(message)`` come on the GUI
    thread, and only for the request started last.
    """

    loaded = Signal(object, object, object)  # DataConfig, CadDataset, stats
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._generation = 0
        self._requests: dict[int, DataConfig] = {}
        self._pool = QThreadPool(self)  # created before the mailbox: deleted (and waited for) first
        self._pool.setMaxThreadCount(2)
        self._signals = _LoadSignals(self)
        self._signals.done.connect(self._on_done)
        self._signals.failed.connect(self._on_failed)

    def start(self, cfg: DataConfig, cache_dir: str | None) -> None:
        """Load ``cfg`` in the pool."""
        self._generation += 1
        self._requests[self._generation] = cfg
        generation = self._generation
        self._pool.start(_LoadJob(generation, cfg, cache_dir, self._signals, lambda: self._generation != generation))

    def wait(self, msecs: int) -> None:
        """Wait for the running jobs (at most ``msecs`` milliseconds)."""
        self._pool.waitForDone(msecs)

    def _on_done(self, generation: int, dataset: CadDataset, stats: dict) -> None:
        cfg = self._finish(generation)
        if cfg is not None:
            self.loaded.emit(cfg, dataset, stats)

    def _on_failed(self, generation: int, message: str) -> None:
        if self._finish(generation) is not None:
            self.failed.emit(message)

    def _finish(self, generation: int) -> DataConfig | None:
        """The config of a finished job, or None when a newer load superseded it."""
        cfg = self._requests.pop(generation, None)
        if generation != self._generation or cfg is None:
            return None
        return cfg
