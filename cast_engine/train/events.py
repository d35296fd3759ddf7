"""Events the training loop emits, and the cancellation flag it checks.

Nothing here knows about Qt: a sink is any callable taking an event (the
store writer, the CLI progress bar, the studio's signal bridge, a list in a
test). Events are small frozen dataclasses so they can cross threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class RunStarted:
    run_id: int | None
    config: dict
    trainable_params: int
    total_params: int
    device: str
    #: What the method resolved for this model (CAST: k, k_share, eligible_params), from ``Method.describe``.
    method_info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PhaseChanged:
    """A new phase began: 'factual pass', 'counterfactual pass', 'merge', 'evaluation', ..."""

    phase: str
    epoch: int
    stage: str


@dataclass(frozen=True)
class Progress:
    step: int
    planned_steps: int
    epoch: int
    phase: str
    elapsed_s: float
    eta_s: float | None


@dataclass(frozen=True)
class LossReported:
    step: int
    epoch: int
    phase: str
    loss: float
    lr: float


@dataclass(frozen=True)
class EpochEnded:
    """Validation metrics of one epoch (CAST: one iteration)."""

    epoch: int
    stage: str
    metrics: dict
    improved: bool
    best_epoch: int


@dataclass(frozen=True)
class MaskComputed:
    epoch: int
    kept: int
    eligible: int
    per_layer: dict
    jaccard: float | None


@dataclass(frozen=True)
class Message:
    """A line for the log: what the engine decided or noticed."""

    text: str
    level: str = "info"


@dataclass(frozen=True)
class RunEnded:
    run_id: int | None
    status: str
    reason: str | None
    results: dict | None


Event = Any
Sink = Callable[[Event], None]


class CancelToken:
    """A thread-safe stop flag the loop checks every training step."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = "stopped by the user"

    def cancel(self, reason: str = "stopped by the user") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass
class Emitter:
    """Fans events out: to ``essential`` sinks first (the store writer: a failure there fails
    the run, so no metric is lost silently), then to the displays, where a failing sink is
    reported once and removed, never fatal."""

    sinks: list[Sink] = field(default_factory=list)
    essential: list[Sink] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        for sink in self.essential:
            sink(event)
        self.show(event)

    def show(self, event: Event) -> None:
        """Send ``event`` to the displays only (a resumed run replays what the store already holds)."""
        for sink in list(self.sinks):
            try:
                sink(event)
            except Exception as exc:  # a broken display must not kill a training run
                self.sinks.remove(sink)
                import logging

                logging.getLogger(__name__).exception("event sink %r failed and was removed: %s", sink, exc)
