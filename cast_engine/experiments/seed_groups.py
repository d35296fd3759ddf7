"""Runs whose configs differ only in seed, taken together: groups, mean curves with a band,
mean ± std (n), and the paired comparison of two groups.

Grouping is the results table's (``export.tables.results_table``), so the studio's
Compare and the exported tables agree on what a group is.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from ..export.tables import TableRow, results_table

BANDS = ("±1 std", "min–max")


@dataclass
class MeanCurve:
    """Per epoch: the mean over the group's runs, the band around it, and how many runs reached it."""

    epochs: list[int]
    mean: list[float]
    low: list[float]
    high: list[float]
    n: list[int]
    band: str


def seed_groups(runs: list[dict], metric: str = "combined") -> list[TableRow]:
    """Completed runs grouped over seeds (each row: run_ids, values in %, mean, std, n)."""
    return results_table(runs, metric).rows


def mean_curve(curves: list[list[dict]], key: str, band: str = BANDS[0], scale: float = 100.0) -> MeanCurve:
    """The mean of ``key`` over runs' epoch rows (the last row of each epoch counts) and a band:
    ±1 sample std (only where two or more runs reached the epoch) or min–max."""
    if band not in BANDS:
        from ..errors import ConfigError

        raise ConfigError(f"band = {band!r} is not one of {', '.join(BANDS)}")
    by_epoch: dict[int, list[float]] = {}
    for rows in curves:
        last: dict[int, float] = {}
        for row in rows:
            value = row.get(key)
            if isinstance(value, (int, float)) and row.get("epoch") is not None:
                last[int(row["epoch"])] = scale * float(value)
        for epoch, value in last.items():
            by_epoch.setdefault(epoch, []).append(value)
    epochs = sorted(by_epoch)
    mean, low, high, n = [], [], [], []
    for epoch in epochs:
        values = by_epoch[epoch]
        centre = statistics.fmean(values)
        if band == BANDS[0]:
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            low.append(centre - spread)
            high.append(centre + spread)
        else:
            low.append(min(values))
            high.append(max(values))
        mean.append(centre)
        n.append(len(values))
    return MeanCurve(epochs, mean, low, high, n, band)


def mean_std_text(row: TableRow) -> str:
    """'84.2 ± 1.3 (n=3)'; a single seed shows no ± part."""
    if row.mean is None:
        return "–"
    spread = f" ± {row.std:.1f}" if row.std is not None else ""
    return f"{row.mean:.1f}{spread} (n={row.n})"
