"""What a run writes to: the interface the SQLite run store and a sweep's in-memory trial recorder share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class RunRecorder(ABC):
    """Where a run's rows go while it trains: the run, its epochs, masks, test predictions and end."""

    @abstractmethod
    def create_run(self, config: Mapping[str, Any], *, method: str, task: str, variant: str, regime: str,
                   model: str, seed: int, name: str | None = None, data_hashes: Mapping[str, str] | None = None,
                   versions: Mapping[str, str] | None = None, trainable_params: int | None = None,
                   total_params: int | None = None, fingerprint: str | None = None, **more: Any) -> int:
        """Record a new run in status 'running'; return its id."""

    @abstractmethod
    def add_epoch(self, run_id: int, epoch: int, stage: str, metrics: Mapping[str, Any]) -> None:
        """Record the metrics of one (epoch, stage)."""

    @abstractmethod
    def add_mask(self, run_id: int, epoch: int, kept: int, eligible: int, jaccard: float | None,
                 per_layer: Mapping[str, Any]) -> None:
        """Record a sparsity mask summary."""

    @abstractmethod
    def save_predictions(self, run_id: int, split: str, predicted: list[int], gold: list[int]) -> None:
        """Record per-example test predictions of one split."""

    @abstractmethod
    def artifact_dir(self, run_id: int) -> Path:
        """The folder for the run's files (saved model, checkpoint), created on demand."""

    @abstractmethod
    def finish_run(self, run_id: int, status: str, *, reason: str | None = None,
                   results: Mapping[str, Any] | None = None, best_epoch: int | None = None,
                   wall_time_s: float | None = None) -> None:
        """Record the end of a run."""

    @abstractmethod
    def disk_folder(self) -> Path | None:
        """The folder whose disk the store's files fill (checked for free space before a run); None: memory."""
