"""Run and sweep statuses: which exist, which are final, which can resume (the one place for these rules)."""

from __future__ import annotations

from cast_engine.errors import StoreError

RUN_STATUSES = ("running", "completed", "failed", "cancelled", "interrupted")
RESUMABLE_STATUSES = ("interrupted", "cancelled", "failed")
FINAL_STATUSES = tuple(status for status in RUN_STATUSES if status != "running")
SWEEP_STATUSES = ("running", "completed", "stopped", "failed")


def check_status(status: str, allowed: tuple[str, ...] = RUN_STATUSES) -> str:
    """Refuse a status outside ``allowed``."""
    if status not in allowed:
        raise StoreError(f"unknown run status {status!r}; expected one of {', '.join(allowed)}")
    return status
