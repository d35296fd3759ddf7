"""Run values as table text: accuracies, parameter counts, wall times and start times.

Shared by the History table and the compare dialog; ``METRICS`` are the test
accuracies a run reports.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

METRICS = ("combined", "factual", "counterfactual", "pair")


def fmt_percent(value: Any) -> str:
    """An accuracy in 0..1 as a percentage with one decimal; '' when missing."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return ""
    return f"{100 * value:.1f}"


def fmt_count(value: Any) -> str:
    """A parameter count: 1.2 k, 3.4 M, 1.1 B."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return ""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f} {unit}"
    return f"{int(value)}"


def fmt_duration(seconds: Any) -> str:
    """Wall time: 12.3 s, 4 m 05 s, 1 h 02 m."""
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} m {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} m"


def fmt_time(iso: str | None) -> str:
    """Stored UTC ISO text as local 'YYYY-MM-DD HH:MM'."""
    moment = parse_time(iso)
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def parse_time(iso: str | None) -> datetime | None:
    """Stored ISO text as a local aware datetime; None if missing or unreadable."""
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso).astimezone()
    except (TypeError, ValueError):
        return None


def params_text(trainable: Any, total: Any) -> str:
    """'2.4 M (9.1 %)': trainable parameters and their share of the total."""
    text = fmt_count(trainable)
    if text and isinstance(total, (int, float)) and total:
        share = 100 * trainable / total
        text += f" ({share:.2g} %)" if share < 10 else f" ({share:.0f} %)"
    return text


def lr_text(run: dict) -> str:
    """'5e-05 (method default)': the learning rate a run trained at and why, as it recorded them."""
    lr = ((run.get("config") or {}).get("train") or {}).get("lr")
    if not isinstance(lr, (int, float)) or not lr:
        return ""
    source = (run.get("results") or {}).get("lr_source")
    return f"{lr:g}" + (f" ({source})" if source else "")
