"""Model exports of the History page: the thread that exports one run's model, and the checks around it.

``export_model_with`` imports torch only when an export runs, never when the
page is imported. ``keep_export`` holds each thread until it has finished, so
an export outlives a closed page.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QThread, Signal

from cast_studio.store_access import WRITE_LOCK, open_store

MODEL_FORMATS = {"hf": "Hugging Face folder", "delta": "sparse delta"}
_EXPORTS: list = []  # model export threads, kept alive here until they have finished


class _LockedArtifacts:
    """What export_run asks of the store; artifact_dir (it may create a folder) under the studio lock."""

    def __init__(self, store):
        self._store = store
        self.store_id = store.store_id

    def get_run(self, run_id: int) -> dict:
        return self._store.get_run(run_id)

    def artifact_dir(self, run_id: int, *, create: bool = True) -> Path:
        with WRITE_LOCK:
            return self._store.artifact_dir(run_id, create=create)


def export_model_with(store, run_id: int, fmt: str, folder: str | Path) -> Path:
    """Export a run's model (torch loads here, not when the page is imported)."""
    from cast_engine.export.hf import export_run

    return export_run(_LockedArtifacts(store), run_id, fmt, folder)


class ModelExportThread(QThread):
    """Exports one model with its own store connection; ``done(path)`` or ``failed(text)``."""

    done = Signal(object)
    failed = Signal(str)

    def __init__(self, db_path: Path, run_id: int, fmt: str, folder: Path, parent=None):
        super().__init__(parent)
        self.db_path, self.run_id, self.fmt, self.folder = db_path, run_id, fmt, folder

    def run(self) -> None:
        try:
            store = open_store(self.db_path)
        except Exception as exc:  # reported on the GUI thread
            self.failed.emit(f"cannot open the run store: {exc}")
            return
        try:
            self.done.emit(export_model_with(store, self.run_id, self.fmt, self.folder))
        except Exception as exc:
            self.failed.emit(f"cannot export run {self.run_id}: {exc}")
        finally:
            store.close()


def keep_export(thread: QThread) -> None:
    """Hold a reference to ``thread``; drop those that have finished."""
    _EXPORTS[:] = [t for t in _EXPORTS if t.isRunning()] + [thread]


def folder_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot receive an export, or None."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        return f"{folder} already exists and is not an empty folder: choose a new folder name."
    return None


def model_problem(run: dict | None) -> str | None:
    """Why run ``run`` has no model to export (not completed, or a sweep trial that kept none), or None."""
    if run is None:
        return "Select one completed run."
    if run.get("status") != "completed":
        return f"Run {run['id']} is {run.get('status')}: only completed runs save a model."
    folder = run.get("artifact_dir")
    if "artifact_dir" in run and not (folder and (Path(folder) / "delta.safetensors").is_file()):
        return f"Run {run['id']} kept no model (sweep trials keep none unless asked to)."
    return None
