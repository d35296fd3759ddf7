"""Downloading the Kaushik et al. CAD files for the Data page.

``DownloadThread`` runs ``download_cad`` in a QThread with progress and a stop
flag; ``CadDownload`` owns that thread and the widgets that show it (status
line, progress bar, Cancel button), which the page places in its status row.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal
from PySide6.QtWidgets import QLabel, QPushButton

from cast_engine.data import download_cad
from cast_engine.errors import RunCancelled

from .lazy_progress import LazyProgressBar
from .data_loading import problem_text


class DownloadThread(QThread):
    """download_cad in a QThread, with progress and a stop flag."""

    progress = Signal(int, int, str)
    done = Signal(str)
    failed = Signal(str)
    cancelled = Signal(str)

    def __init__(self, cache_dir: str | None, tasks: tuple[str, ...]):
        super().__init__()
        self.cache_dir, self.tasks = cache_dir, tasks
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        try:
            root = download_cad(
                Path(self.cache_dir) if self.cache_dir else None,
                tasks=self.tasks,
                progress=lambda i, n, name: self.progress.emit(i, n, name),
                should_stop=self._stop.is_set,
            )
        except RunCancelled as exc:
            self.cancelled.emit(str(exc))
        except Exception as exc:
            self.failed.emit(problem_text(exc))
        else:
            self.done.emit(str(root))


class CadDownload(QObject):
    """One download at a time: its thread, ``status`` line, progress ``bar`` and ``cancel_button``.

    ``done(root)``, ``failed(message)`` and ``cancelled()`` tell the page how it
    ended; ``running_changed(running)`` when it starts and when its thread is gone.
    """

    done = Signal(str)
    failed = Signal(str)
    cancelled = Signal()
    running_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.thread: DownloadThread | None = None
        self.status = QLabel("")
        self.bar = LazyProgressBar()
        self.bar.setFixedWidth(160)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the download before its next file (files already fetched stay cached)")
        self.cancel_button.clicked.connect(self.cancel)
        self._show_running(False)

    def is_running(self) -> bool:
        """True from ``start`` until the thread has finished."""
        return self.thread is not None

    def start(self, cache_dir: str | None, tasks: tuple[str, ...]) -> None:
        """Download ``tasks`` into ``cache_dir`` (None: the default cache)."""
        thread = DownloadThread(cache_dir, tasks)
        thread.progress.connect(self._on_progress)
        thread.done.connect(self._on_done)
        thread.failed.connect(self._on_failed)
        thread.cancelled.connect(self._on_cancelled)
        thread.finished.connect(self._on_finished)
        self.thread = thread
        self.bar.setRange(0, 0)
        self.bar.setFormat("%v / %m files")
        self.status.setText("Connecting…")
        self._show_running(True)
        thread.start()

    def cancel(self) -> None:
        """Ask a running download to stop before its next file."""
        if self.thread is not None:
            self.thread.stop()
            self.status.setText("Cancelling…")

    def shutdown(self, msecs: int) -> None:
        """Stop a running download and wait for its thread (at most ``msecs`` milliseconds)."""
        if self.thread is not None:
            self.thread.stop()
            self.thread.wait(msecs)

    def _on_progress(self, done: int, total: int, name: str) -> None:
        self.bar.setRange(0, total)
        self.bar.setValue(done)
        self.status.setText(f"Downloading {name}")

    def _on_done(self, root: str) -> None:
        self.status.setText("Download complete")
        self.done.emit(root)

    def _on_failed(self, message: str) -> None:
        self.status.setText("Download failed")
        self.failed.emit(message)

    def _on_cancelled(self, message: str) -> None:
        self.cancelled.emit()
        self.status.setText(message[:1].upper() + message[1:] + " (fetched files stay cached)")

    def _on_finished(self) -> None:
        thread, self.thread = self.thread, None
        self._show_running(False)
        if thread is not None:
            thread.deleteLater()

    def _show_running(self, running: bool) -> None:
        self.bar.setVisible(running)
        self.cancel_button.setVisible(running)
        self.running_changed.emit(running)
        self.status.setVisible(running or bool(self.status.text()))
