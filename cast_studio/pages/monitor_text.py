"""Text the Monitor page shows: durations, method names and settings, and its log lines for events."""

from __future__ import annotations

from cast_engine.methods import registry
from cast_engine.train.events import EpochEnded, MaskComputed

from .monitor_series import VAL_SERIES

def format_duration(seconds: float | None) -> str:
    """``h:mm:ss`` of a number of seconds; '–' when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:  # None, NaN or negative
        return "–"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def method_title(name: str) -> str:
    return registry.method_title(name) if name else "?"


def method_options(method: dict) -> str:
    """A few method settings worth a glance: CAST's k and alpha, LoRA's rank…"""
    keys = ("k", "alpha", "r", "rank", "reduction_factor", "mask_criterion")
    shown = [f"{key}={method[key]}" for key in keys if key in method and method[key] not in (None, "")]
    return ", ".join(shown[:4])


def epoch_line(event: EpochEnded) -> str:
    """'epoch 2: train loss 0.4123  val combined 81.2, … %  lr 3e-05  (best so far)'."""
    metrics = event.metrics or {}
    parts = [f"epoch {event.epoch}" + (f" [{event.stage}]" if event.stage else "") + ":"]
    for key, label in (("train_loss", "train loss"), ("cf_loss", "cf loss"), ("refine_loss", "refine loss")):
        if isinstance(metrics.get(key), (int, float)):
            parts.append(f"{label} {metrics[key]:.4f}")
    vals = [f"{key} {100 * metrics[f'val_{key}']:.1f}" for key in VAL_SERIES
            if isinstance(metrics.get(f"val_{key}"), (int, float))]
    if vals:
        parts.append("val " + ", ".join(vals) + " %")
    if isinstance(metrics.get("lr"), (int, float)):
        parts.append(f"lr {metrics['lr']:.3g}")
    parts.append("(best so far)" if event.improved else f"(best: epoch {event.best_epoch})")
    return "  ".join(parts)


def mask_line(event: MaskComputed) -> str:
    """How much of the model a new mask keeps, and its overlap with the previous one."""
    share = 100 * event.kept / event.eligible if event.eligible else 0.0
    overlap = f", Jaccard with the previous mask {event.jaccard:.3f}" if event.jaccard is not None else ""
    return f"mask (epoch {event.epoch}): {event.kept:,} of {event.eligible:,} entries kept ({share:.3f} %){overlap}"


def test_accuracy_line(results: dict) -> str:
    """'test accuracy: factual 84.0, … %'; '' when the results have no accuracy."""
    accs = [f"{key} {100 * results[key]:.1f}" for key in VAL_SERIES if isinstance(results.get(key), (int, float))]
    return "test accuracy: " + ", ".join(accs) + " %" if accs else ""


def sparse_line(method_info: dict) -> str:
    """'mask keeps K = 227,144 of 22,714,371 eligible (1 %)' for a sparse method; '' for others."""
    k, eligible = method_info.get("k"), method_info.get("eligible_params")
    if not isinstance(k, int) or not isinstance(eligible, int) or not eligible:
        return ""
    return f"mask keeps K = {k:,} of {eligible:,} eligible ({100 * k / eligible:.3g} %)"
