"""Studio-only events that travel beside the engine's training events.

Plain frozen dataclasses, like ``cast_engine.train.events``: nothing here
knows about Qt, so they cross threads through a signal as ``object``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SweepEnded:
    """How a sweep job ended: the engine's status (completed, stopped, failed) or 'error', and a message."""

    sweep_id: int | None
    status: str
    message: str


@dataclass(frozen=True)
class GpuMemory:
    """CUDA memory of the training device, sampled by the run queue at a step."""

    step: int
    allocated_bytes: int
    reserved_bytes: int
    total_bytes: int


@dataclass(frozen=True)
class EvaluationProgress:
    """Examples done of one run of an evaluation job (``job``: the queued EvaluationJob)."""

    job: object
    run_id: int
    done: int
    total: int


@dataclass(frozen=True)
class EvaluationEnded:
    """One run of an evaluation job is done: its evaluation's name and whether it was stored
    earlier, or why it could not be evaluated (``error``)."""

    job: object
    run_id: int
    name: str | None
    reused: bool = False
    error: str | None = None


@dataclass(frozen=True)
class EvaluationJobEnded:
    """An evaluation job is over: the names it stored or found, and whether it was stopped."""

    job: object
    names: tuple[str, ...]
    stopped: bool
