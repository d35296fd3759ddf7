"""History's table with seeds grouped: one row per group of completed runs whose configs differ
only in seed, with n and each test accuracy as mean ± std over the seeds.

The groups are the results table's, computed by SQLite in one query
(``cast_engine.experiments.seed_groups.stored_seed_groups``) with the filters of the
per-run table; the model keeps their raw values, sorts them in Python and makes a
cell's text the first time the view asks for it, so only the rows on screen are
formatted.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt

from cast_engine.experiments.seed_groups import (SHARED_COLUMNS, group_run_ids, group_seeds, group_values,
                                                 stored_seed_groups)
from cast_engine.store.run_table import RUN_COLUMN, RunColumn, RunFilter

from .history_table import cell_text, column_header
from .run_format import METRICS

RUNS_KEY, N_KEY = "runs", "n"
GROUP_COLUMNS: tuple[RunColumn, ...] = (
    RunColumn(RUNS_KEY, "Runs", "", True, "the ids of the group's runs (all in the tooltip)"),
    *(RUN_COLUMN[key] for key in SHARED_COLUMNS),
    RunColumn(N_KEY, "n", "", True, "seeds: the group's completed runs"),
    *(dataclasses.replace(RUN_COLUMN[m], tip=RUN_COLUMN[m].tip.replace("(%)", "(%), mean ± std over seeds"))
      for m in METRICS),
    RUN_COLUMN["trainable_params"],
    dataclasses.replace(RUN_COLUMN["started_at"], tip="start time of the group's newest run (local)"),
)
GROUP_COLUMN = {column.key: index for index, column in enumerate(GROUP_COLUMNS)}
#: Shown whatever columns the user picked: what tells groups apart from runs.
ALWAYS_SHOWN = (RUNS_KEY, N_KEY)
SHOWN_IDS = 5  # ids listed in a Runs cell before "…"
TIP_LINES = 20  # runs listed in a Runs cell's tooltip

_DISPLAY, _TIP = int(Qt.ItemDataRole.DisplayRole), int(Qt.ItemDataRole.ToolTipRole)
_ALIGN = int(Qt.ItemDataRole.TextAlignmentRole)
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


def mean_std_cell(stats) -> str:
    """'84.2 ± 1.3'; one seed shows its value alone; '' when no seed has one."""
    mean, std = stats.mean, stats.std  # each computed once: a group may hold many seeds
    if mean is None:
        return ""
    return f"{mean:.1f}" if std is None else f"{mean:.1f} ± {std:.1f}"


def group_cell_text(key: str, group: dict) -> str:
    """The text of one cell of a stored group."""
    if key == RUNS_KEY:
        ids = group_run_ids(group)
        return ", ".join(map(str, ids[:SHOWN_IDS])) + (", …" if len(ids) > SHOWN_IDS else "")
    if key == N_KEY:
        return str(group["n"])
    if key in METRICS:
        return mean_std_cell(group_values(group, key))
    return cell_text(key, group)


def _sort_value(key: str, group: dict) -> Any:
    if key == RUNS_KEY:
        return group["last_id"]
    if key in METRICS:
        return group[f"mean_{key}"]
    return group.get(key)


def _ordered(value: Any) -> tuple:
    """Numbers by value before text without case (a column holds one kind in practice)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value).casefold())


class GroupTableModel(QAbstractTableModel):
    """The seed groups of the runs that pass the History filters, in the chosen order."""

    BLOCK = 64  # rows whose cells fit the column widths (as the per-run table's first block)
    columns = GROUP_COLUMNS

    def __init__(self, parent=None):
        super().__init__(parent)
        self.groups: list[dict] = []
        self.sort_key, self.descending = RUNS_KEY, True
        self._texts: dict[int, list[str | None]] = {}
        self._row_of: dict[int, int] | None = None

    def reload(self, conn: sqlite3.Connection | None, where: RunFilter) -> None:
        """Group the runs ``where`` lets through again (raises ``StoreError``; the table is then empty)."""
        self.beginResetModel()
        self.groups = []
        try:
            if conn is not None:
                self.groups = stored_seed_groups(conn, where)
                self._order()
        finally:
            self._texts, self._row_of = {}, None
            self.endResetModel()

    def _order(self) -> None:
        """Sort by the chosen column, empty values last in either direction, ties newest group first."""
        key = self.sort_key
        filled = [g for g in self.groups if _sort_value(key, g) is not None]
        empty = [g for g in self.groups if _sort_value(key, g) is None]
        filled.sort(key=lambda g: (_ordered(_sort_value(key, g)), g["last_id"]), reverse=self.descending)
        empty.sort(key=lambda g: g["last_id"], reverse=True)
        self.groups = filled + empty

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:  # Qt: the view's header asks
        self.beginResetModel()
        self.sort_key = GROUP_COLUMNS[column].key
        self.descending = order == Qt.SortOrder.DescendingOrder
        self._order()
        self._texts, self._row_of = {}, None
        self.endResetModel()

    # ------------------------------------------------------------ lookups
    @property
    def run_count(self) -> int:
        """Runs in all the groups."""
        return sum(group["n"] for group in self.groups)

    def run_ids(self, row: int) -> list[int]:
        """The ids of the runs of the group in ``row``."""
        return group_run_ids(self.groups[row]) if 0 <= row < len(self.groups) else []

    def row_of(self, run_id: int) -> int | None:
        """The row of the group that holds ``run_id``; None when no group does."""
        if self._row_of is None:
            self._row_of = {i: row for row, group in enumerate(self.groups) for i in group_run_ids(group)}
        return self._row_of.get(run_id)

    def text(self, row: int, column: int) -> str:
        """The text of one cell, made (and kept) the first time it is asked for."""
        if not 0 <= row < len(self.groups):
            return ""
        texts = self._texts.get(row)
        if texts is None:
            texts = self._texts[row] = [None] * len(GROUP_COLUMNS)
        if texts[column] is None:
            texts[column] = group_cell_text(GROUP_COLUMNS[column].key, self.groups[row])
        return texts[column]

    def texts(self, row: int) -> list[str]:
        """Every cell text of ``row``, in column order."""
        return [self.text(row, column) for column in range(len(GROUP_COLUMNS))]

    # ------------------------------------------------------------ Qt model
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 (Qt)
        return 0 if parent.isValid() else len(self.groups)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 (Qt)
        return 0 if parent.isValid() else len(GROUP_COLUMNS)

    def headerData(self, section, orientation, role=_DISPLAY):  # noqa: N802 (Qt)
        return column_header(GROUP_COLUMNS, section, orientation, role)

    def data(self, index: QModelIndex, role=_DISPLAY):
        if role == _DISPLAY:
            return self.text(index.row(), index.column())
        if role == _ALIGN:
            return _RIGHT if GROUP_COLUMNS[index.column()].numeric else None
        if role == _TIP:
            return self._tip(index.row(), GROUP_COLUMNS[index.column()].key)
        return None

    def _tip(self, row: int, key: str) -> str | None:
        if not 0 <= row < len(self.groups):
            return None
        group = self.groups[row]
        if key == RUNS_KEY:
            lines = [f"run {run_id}: seed {seed}" for run_id, seed in zip(group_run_ids(group), group_seeds(group))]
            more = len(lines) - TIP_LINES
            return "\n".join(lines[:TIP_LINES] + ([f"… and {more} more"] if more > 0 else []))
        if key in METRICS:
            values = group_values(group, key).values
            return "per seed: " + ", ".join(f"{value:.1f}" for value in values)
        if key == "data":
            return str(group.get("data") or "")
        return None
