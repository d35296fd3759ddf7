"""What the trainer needs to continue after an epoch: early-stopping state and random-number state.

The trainer's whole resume state is one plain dict (``Trainer.state_dict()``);
the run layer decides where and how it is saved (``cast_engine.runs.checkpoint``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class StageState:
    """Early-stopping state of the ``fit`` stage in progress."""

    stage: str
    epochs_done: int = 0
    best_score: float | None = None
    best_epoch: int | None = None
    waited: int = 0


def rng_state(device: torch.device) -> dict:
    """Every random-number state training draws from (dropout, and whatever the model code uses)."""
    import numpy

    kind, keys, pos, has_gauss, gauss = numpy.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.copy()), pos, has_gauss, gauss],
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    """Put back a state from ``rng_state``."""
    import numpy

    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    numpy.random.set_state((kind, keys.numpy(), pos, has_gauss, gauss))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
