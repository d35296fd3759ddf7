"""Runs whose configs differ only in seed, taken together: groups, mean curves with a band,
mean ± std (n), and the paired comparison of two groups.

Grouping is the results table's (``export.tables.results_table``), so the studio's
Compare and the exported tables agree on what a group is. ``stored_seed_groups`` asks
the store for the groups with the same rule in SQL (``export.tables.group_by_sql``), so a
large history is grouped without reading its runs into Python.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
from dataclasses import dataclass

from ..errors import StoreError
from ..export.tables import ID_COLUMNS, METRICS, SeedStats, TableRow, group_by_sql, results_table
from ..store.run_table import RUN_COLUMNS, RunFilter, value_sql

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


#: Run-table columns every run of a group shares: the identity columns and the config's.
SHARED_COLUMNS = tuple(column.key for column in RUN_COLUMNS
                       if column.key in ID_COLUMNS or column.sql.startswith("json_extract(config,"))


@dataclass
class SeedValues(SeedStats):
    """One metric of a group in percent, one value per seed that has it."""

    values: list[float]


def stored_seed_groups(conn: sqlite3.Connection, where: RunFilter | None = None) -> list[dict]:
    """The seed groups of the completed runs ``where`` lets through, one dict each, as SQL computes them.

    Members are the runs ``results_table`` would group for the combined accuracy (of
    ``where.evaluation`` when set). Each dict has ``SHARED_COLUMNS``, ``n``, ``first_id`` and
    ``last_id``, ``started_at`` (the newest), ``trainable_params`` and ``total_params``, and per
    metric ``mean_<metric>`` (a fraction; None when no run has it); the run ids, seeds and
    values stay JSON text until ``group_run_ids`` / ``group_values`` read them.
    """
    where = where or RunFilter()
    clause, params = where.where()
    combined = value_sql("combined", where.evaluation)
    member = f"status = 'completed' AND typeof({combined}) IN ('integer', 'real')"
    clause = f"{clause} AND {member}" if clause else f" WHERE {member}"
    metrics = ", ".join(f"avg({value_sql(m, where.evaluation)}) AS mean_{m}, "
                        f"json_group_array({value_sql(m, where.evaluation)}) AS values_{m}" for m in METRICS)
    groups = (f"SELECT min(id) AS first_id, max(id) AS last_id, count(*) AS n, json_group_array(id) AS run_ids, "
              f"json_group_array(seed) AS seeds, {metrics}, max(started_at) AS started_at, "
              f"max(trainable_params) AS trainable_params, max(total_params) AS total_params "
              f"FROM runs{clause} GROUP BY {group_by_sql()}")
    shared = ", ".join(f"{value_sql(key)} AS {key}" for key in SHARED_COLUMNS)  # read once per group, from its first run
    sql = f"SELECT g.*, {shared} FROM ({groups}) AS g JOIN runs ON runs.id = g.first_id ORDER BY g.last_id DESC"
    try:
        cursor = conn.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
    except sqlite3.Error as exc:
        raise StoreError(f"cannot group the runs table over seeds: {exc}") from exc


def group_run_ids(group: dict) -> list[int]:
    """The ids of a stored group's runs, ascending."""
    return sorted(json.loads(group["run_ids"]))


def group_values(group: dict, metric: str) -> SeedValues:
    """A stored group's ``metric`` in percent, in the order of its run ids."""
    pairs = sorted(zip(json.loads(group["run_ids"]), json.loads(group[f"values_{metric}"])))
    return SeedValues([100.0 * float(value) for _, value in pairs if isinstance(value, (int, float))])


def group_seeds(group: dict) -> list[int | None]:
    """The seeds of a stored group's runs, in the order of its run ids."""
    return [seed for _, seed in sorted(zip(json.loads(group["run_ids"]), json.loads(group["seeds"])))]
