"""Epoch checkpoints: what a run needs to continue after a crash, exactly as if it had not stopped.

At the end of every epoch the trainer hands its ``state_dict()`` to the run's
``CheckpointFile``, which writes one file, ``checkpoint.pt`` in the run's
artifact folder: the trainable weights, the optimiser and schedule
state, the random-number state, the trainer's counters and history, the
early-stopping state of the stage in progress (with the best epoch's weights
and mask when ``restore_best`` needs them), and what the method carries between epochs
(CAST's previous mask, the two-stage branch weights, LT-SFT's mask).

Frozen weights and the initial weights are not saved: a resumed run rebuilds
the model from the same seed, which gives the same initial weights bit for
bit, and the checkpoint then overwrites what trains.

The file is written with ``torch.save`` (the optimiser state is nested
Python data, which safetensors cannot hold) to a temporary name, flushed and
renamed, so a kill at any moment leaves either the previous checkpoint or the
new one. It is read back with ``weights_only=True``: only tensors and plain
data, never pickled code.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..errors import CastError
from ..train.state import StageState

FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """One epoch's checkpoint, as saved and as loaded: the trainer's ``state_dict()``, typed."""

    epoch: int
    step: int
    elapsed_s: float
    stage: StageState
    history: list[dict]
    weights: dict[str, torch.Tensor]
    best_weights: dict[str, torch.Tensor] | None
    optimizer: dict
    scheduler: dict
    schedule_steps: int
    rng: dict
    carry: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    #: The mask of the best epoch when it is not the checkpoint's own (None in checkpoints written before it was kept).
    best_mask: dict[str, torch.Tensor] | None = None
    resumes: list[dict] = field(default_factory=list)
    masks_done: int = 0
    #: The training losses reported so far, as (step, epoch, phase, loss, lr): a resumed run's monitor shows them.
    losses: list[tuple] = field(default_factory=list)
    lr_source: str | None = None  # why the run has its learning rate ('user', 'method default')
    examples: int = 0  # training examples processed so far (forward and backward passes)
    train_s: float = 0.0  # seconds spent in training passes so far
    store_id: str = ""  # the owner: a checkpoint is loaded only for this store's run run_id
    run_id: int = 0

    def trainer_state(self) -> dict:
        """The dict ``Trainer.load_state_dict`` takes."""
        state = {name: getattr(self, name) for name in self.__dataclass_fields__ if name not in ("store_id", "run_id")}
        state["stage"] = asdict(self.stage)
        return state

    def to_payload(self) -> dict:
        return {**self.trainer_state(), "store_id": self.store_id, "run_id": self.run_id, "version": FORMAT_VERSION}

    @classmethod
    def from_payload(cls, payload: dict) -> "Checkpoint":
        payload = dict(payload)
        payload.setdefault("store_id", "")  # written before checkpoints named their owner
        payload.setdefault("run_id", 0)
        payload.pop("version", None)
        payload["stage"] = StageState(**payload["stage"])
        return cls(**payload)


class CheckpointFile:
    """The trainer's epoch-end writer for one run: saves each ``state_dict()`` to ``path``, naming
    its owner (``store_id``, ``run_id``): resume refuses a checkpoint of another store or run."""

    def __init__(self, path: Path, store_id: str = "", run_id: int = 0):
        self.path = Path(path)
        self.store_id, self.run_id = store_id, run_id

    def __call__(self, state: dict) -> None:
        save_checkpoint(Checkpoint.from_payload({**state, "store_id": self.store_id, "run_id": self.run_id}), self.path)

    def __str__(self) -> str:
        return str(self.path)


def save_checkpoint(checkpoint: Checkpoint, path: Path) -> None:
    """Write ``checkpoint`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    try:
        with open(partial, "wb") as handle:
            torch.save(checkpoint.to_payload(), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path) -> Checkpoint:
    """Read a checkpoint; CastError naming the file when it is missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise CastError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged file
        raise CastError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("version") != FORMAT_VERSION:
        found = payload.get("version") if isinstance(payload, dict) else type(payload).__name__
        raise CastError(f"checkpoint {path} has format {found!r}; this version of CAST Studio reads format {FORMAT_VERSION}")
    return Checkpoint.from_payload(payload)


def estimated_size(trainable_bytes: int, makes_masks: bool) -> int:
    """Bytes one checkpoint takes: weights, Adam's two moments, best weights, and for the sparse
    methods the last mask and the best epoch's."""
    masks = 2 * (trainable_bytes // 4) if makes_masks else 0  # one bool per fp32 entry
    return 4 * trainable_bytes + masks
