"""A run's folder (the store's artifact folder of the run): which files it holds. No torch."""

from __future__ import annotations

from pathlib import Path

from ..sparse.mask_file import MASK_FILE

CHECKPOINT_FILE = "checkpoint.pt"  # the epoch checkpoint (cast_engine.runs.checkpoint)


def checkpoint_path(folder: Path) -> Path:
    """Where the epoch checkpoint of the run with artifact folder ``folder`` is written."""
    return Path(folder) / CHECKPOINT_FILE


def delete_run(store, run_id: int) -> None:
    """Delete a run from the store with its evaluations, its checkpoint, which (gigabytes for a large
    model) can only resume this run, and its final mask; saved model files in its folder are left on disk."""
    folder = store.delete_run(run_id)
    if folder is not None:
        for name in (CHECKPOINT_FILE, CHECKPOINT_FILE + ".partial", MASK_FILE, MASK_FILE + ".partial"):
            (folder / name).unlink(missing_ok=True)
