"""How values go into the store's columns and come back: JSON, numbers, times, metric splitting."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cast_engine.errors import StoreError

JSON_COLUMNS = {
    "runs": ("config", "versions", "data_hashes", "results"),
    "epochs": ("metrics",),
    "masks": ("per_layer",),
}
EPOCH_COLUMNS = (
    "train_loss",
    "lr",
    "elapsed_s",
    "val_factual",
    "val_counterfactual",
    "val_combined",
    "val_pair",
)
EPOCH_RESERVED_KEYS = ("id", "run_id", "epoch", "stage", "metrics")
def utc_now() -> str:
    """Current time as ISO-8601 UTC text, e.g. ``2025-01-31T12:00:00.000000+00:00``."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def normalize_since(since: str) -> str:
    """Turn an ISO-8601 date or time (naive = UTC) into the stored text format."""
    try:
        moment = datetime.fromisoformat(since)
    except (TypeError, ValueError):
        raise StoreError(f"since={since!r} is not an ISO-8601 date or time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _json_default(value: Any) -> Any:
    """Make numpy/torch scalars and arrays, paths and sets JSON-encodable."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_json(value: Any, what: str) -> str | None:
    """Encode ``value`` as JSON text; None stays NULL."""
    if value is None:
        return None
    try:
        return json.dumps(value, default=_json_default, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what} cannot be stored as JSON: {exc}") from None


class Unreadable(Exception):
    """A JSON cell that does not decode (a damaged row): the row is shown, the cell is not."""


def from_json(text: str | None) -> Any:
    """Decode JSON text; NULL stays None; Unreadable for a damaged cell."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, TypeError, RecursionError):
        raise Unreadable() from None


def from_json_or(text: str | None, fallback: Any) -> Any:
    """Decode JSON text, or ``fallback`` for a damaged cell (one bad row never hides the others)."""
    try:
        return from_json(text)
    except Unreadable:
        return fallback


def to_number(value: Any, what: str) -> float | None:
    """Turn a metric value (float, int, numpy/torch scalar) into a float or None."""
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise StoreError(f"{what}={value!r} is not a number") from None


def to_sql_value(value: Any, what: str) -> Any:
    """Dicts, lists and tuples become JSON text; scalars go in as they are."""
    if isinstance(value, (dict, list, tuple)):
        return to_json(value, what)
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def check_int(value: Any, what: str) -> int:
    """Accept a real int (not a bool) or raise StoreError naming the value."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise StoreError(f"{what} must be an integer, got {value!r}")
    return value


def split_metrics(metrics: Mapping[str, Any]) -> tuple[dict[str, float | None], dict[str, Any]]:
    """Split metrics into named epoch columns and JSON extras; refuse reserved keys."""
    if not isinstance(metrics, Mapping):
        raise StoreError(f"metrics must be a dict, got {type(metrics).__name__}")
    columns: dict[str, float | None] = {}
    extras: dict[str, Any] = {}
    for key, value in metrics.items():
        if key in EPOCH_RESERVED_KEYS:
            raise StoreError(f"metrics key {key!r} is reserved; rename it")
        if key in EPOCH_COLUMNS:
            columns[key] = to_number(value, key)
        else:
            extras[str(key)] = value
    return columns, extras


def decode_row(row: dict[str, Any], table: str) -> dict[str, Any]:
    """Decode the JSON columns of a row of ``table`` in place and return it."""
    for column in JSON_COLUMNS[table]:
        if column in row:
            try:
                row[column] = from_json(row[column])
            except Unreadable:  # shown as empty, and named, so the rest of the history stays readable
                row[column] = {}
                row.setdefault("unreadable", []).append(column)
    return row


def seconds_between(start: str | None, end: str) -> float | None:
    """Seconds from ISO text ``start`` to ``end``; None if start is missing or unreadable."""
    if not start:
        return None
    try:
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) else None
