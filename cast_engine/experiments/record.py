"""A trial run away from the store: recorded in memory, written later in one piece.

``run_trial`` is what every executor calls, in this process, in a worker
process or as a Ray task. It runs the engine against a ``TrialRecorder``
(a ``RunRecorder`` like the store, keeping everything in memory) and
returns a picklable ``TrialRecord``. Only the sweep's own process opens the
SQLite file, so trials never write it from several processes or hosts.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..store.codec import seconds_between, utc_now
from ..store.interface import RunRecorder
from ..store.runs import default_run_name


@dataclass
class TrialJob:
    """What a worker needs to run one trial: its key and config (as a dict)."""

    key: str
    config: dict
    label: str = ""
    keep_model: bool = False


@dataclass
class TrialRecord:
    """Everything a trial wrote: the run row, epochs, masks, predictions, model files."""

    run: dict
    epochs: list[tuple] = field(default_factory=list)
    masks: list[tuple] = field(default_factory=list)
    predictions: dict[str, tuple[list[int], list[int]]] = field(default_factory=dict)
    artifacts: dict[str, bytes] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.run["status"]

    @property
    def results(self) -> dict:
        return self.run.get("results") or {}


class TrialRecorder(RunRecorder):
    """A run's rows kept in memory (``cast_engine.runs.runner.run`` writes to it as to the store)."""

    def __init__(self) -> None:
        self.record: TrialRecord | None = None
        self._folder: Path | None = None
        self.path = Path("<trial>")

    def create_run(self, config, **fields: Any) -> int:
        now = utc_now()
        name = fields.pop("name", None)
        row = {"config": dict(config), **fields, "status": "running", "created_at": now, "started_at": now,
               "pid": os.getpid(), "host": socket.gethostname()}
        row["name"] = name or default_run_name(*(fields[k] for k in ("method", "task", "variant", "regime", "seed")))
        self.record = TrialRecord(run=row)
        return 0

    def add_epoch(self, run_id: int, epoch: int, stage: str, metrics: dict) -> None:
        self.record.epochs.append((epoch, stage, dict(metrics)))

    def add_mask(self, run_id, epoch, kept, eligible, jaccard, per_layer) -> None:
        self.record.masks.append((epoch, kept, eligible, jaccard, dict(per_layer)))

    def save_predictions(self, run_id: int, split: str, predicted: list[int], gold: list[int]) -> None:
        self.record.predictions[split] = (list(predicted), list(gold))

    def artifact_dir(self, run_id: int) -> Path:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="cast-trial-"))
        return self._folder

    def finish_run(self, run_id: int, status: str, *, reason=None, results=None, best_epoch=None, wall_time_s=None) -> None:
        row = self.record.run
        row.update(status=status, reason=reason, results=results, best_epoch=best_epoch, finished_at=utc_now())
        row["wall_time_s"] = wall_time_s if wall_time_s is not None else seconds_between(row["started_at"], row["finished_at"])

    def disk_folder(self) -> None:
        return None  # rows stay in memory; the model files are read back and the folder removed

    def collect(self) -> TrialRecord:
        """The finished record, with the model files read in and the temporary folder gone."""
        if self._folder is not None:
            for path in sorted(self._folder.iterdir()):
                self.record.artifacts[path.name] = path.read_bytes()
            shutil.rmtree(self._folder, ignore_errors=True)
        return self.record


def run_trial(job: TrialJob, device: str | None = None, threads: int | None = None, cancel=None,
              sinks=()) -> TrialRecord:
    """Run one trial; ``device`` overrides the config's, ``threads`` sets torch's CPU threads,
    ``sinks`` receive its engine events.

    Bad input raises the engine's CastError (nothing was recorded); a failure
    during training comes back as a record with status 'failed'.
    """
    from ..config import RunConfig
    from ..runs.runner import run

    if threads:
        import torch

        torch.set_num_threads(threads)
    config = RunConfig.from_dict(job.config)
    if device:
        config.train.device = device
    recorder = TrialRecorder()
    run(config, store=recorder, sinks=sinks, cancel=cancel, save_model=job.keep_model, checkpoint=False)
    return recorder.collect()
