"""The History page's table of runs: a model over the store that holds only the ordered ids of
the runs its filters let through, fetches the cells of the rows on screen in blocks and formats
a cell when the view asks for it. Filters and sorting are SQL (``cast_engine.store.run_table``),
so a store of 100,000 runs opens as fast as one of a thousand."""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from datetime import date, datetime, timezone
from datetime import time as day_start
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QTableView

from cast_engine.store.run_table import RUN_COLUMNS, RunColumn, RunFilter, distinct_values, run_ids, run_rows

from .run_format import METRICS, fmt_duration, fmt_percent, fmt_time, params_text

ANY = "any"
ID_ROLE = Qt.ItemDataRole.UserRole + 2
COLUMNS: tuple[RunColumn, ...] = RUN_COLUMNS
COLUMN = {column.key: index for index, column in enumerate(COLUMNS)}
STATUS_COLOURS = {  # background, text
    "completed": ("#d3f0d6", "#1b5e20"),
    "failed": ("#f8d3d6", "#8b1a22"),
    "cancelled": ("#fdebc1", "#7a5200"),
    "interrupted": ("#fdebc1", "#7a5200"),
    "running": ("#d5e6fb", "#0b4f9c"),
}
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_DISPLAY, _TIP = Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole
_BACKGROUND, _FOREGROUND = Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole
_ALIGN = Qt.ItemDataRole.TextAlignmentRole
_STATUS = COLUMN["status"]
_NAME = COLUMN["name"]


def cell_text(key: str, row: dict) -> str:
    """The text of one cell of a fetched row (``run_table.run_rows``)."""
    value = row.get(key)
    if key in METRICS:
        return fmt_percent(value)
    if key == "trainable_params":
        return params_text(value, row.get("total_params"))
    if key == "started_at":
        return fmt_time(value)
    if key == "wall_time_s":
        return fmt_duration(value)
    if key == "data":
        return _data_text(value)
    if key == "lr" and isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


def _data_text(value: Any) -> str:
    """A data folder or file as its last part (the tooltip has the whole path)."""
    text = "" if value is None else str(value)
    return text.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or text


def since_text(since: date) -> str:
    """Local midnight of ``since`` as the store's UTC text (start times compare as text)."""
    local = datetime.combine(since, day_start.min).astimezone()
    return local.astimezone(timezone.utc).isoformat(timespec="microseconds")


class _Block:
    """The fetched rows of one block of the table, each with its cell texts made on first use."""

    __slots__ = ("rows", "texts")

    def __init__(self, rows: list[dict | None]):
        self.rows = rows
        self.texts: list[list[str | None]] = [[None] * len(COLUMNS) for _ in rows]


class RunTableModel(QAbstractTableModel):
    """The runs of the store that pass the filters, in the chosen order.

    Holds the ordered ids only; rows come from the store a block at a time as
    the view shows them (``BLOCK`` rows, the last ``CACHED_BLOCKS`` kept).
    """

    BLOCK = 64
    CACHED_BLOCKS = 16

    def __init__(self, parent=None):
        super().__init__(parent)
        self.conn: sqlite3.Connection | None = None
        self.where = RunFilter()
        self.sort_key, self.descending = "id", True
        self.total = 0  # runs in the store, filters aside
        self._ids: list[int] = []
        self._row_of: dict[int, int] | None = None
        self._blocks: OrderedDict[int, _Block] = OrderedDict()

    # ------------------------------------------------------------ loading
    def set_connection(self, conn: sqlite3.Connection | None) -> None:
        """Read from ``conn`` (the page's store connection) from now on."""
        self.conn = conn
        self.reload()

    def reload(self) -> None:
        """Ask the store again for the ids that pass the filters (rows are fetched as shown).

        Raises ``StoreError`` when the store cannot be read; the table is then empty."""
        self.beginResetModel()
        self._ids, self._row_of, self.total = [], None, 0
        self._blocks.clear()
        try:
            if self.conn is not None:
                self._ids = run_ids(self.conn, self.where, self.sort_key, self.descending)
                unfiltered = self.where.where()[0] == ""
                self.total = len(self._ids) if unfiltered else self.conn.execute("SELECT count(*) FROM runs").fetchone()[0]
        finally:
            self.endResetModel()

    def set_filter(self, **changes: Any) -> None:
        """Change filters: method/task/variant/status (None or 'any' = any), since (a date), text."""
        equal = dict(self.where.equal)
        since, text = self.where.started_since, self.where.name_contains
        for key, value in changes.items():
            if key in ("method", "task", "variant", "status"):
                equal[key] = None if value in (None, "", ANY) else value
            elif key == "since":
                since = since_text(value) if value is not None else None
            elif key == "text":
                text = (value or "").strip()
            else:
                raise KeyError(key)
        self.where = RunFilter(equal, since, text)
        self.reload()

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:  # Qt: the view's header asks
        self.sort_key = COLUMNS[column].key
        self.descending = order == Qt.SortOrder.DescendingOrder
        self.reload()

    def sortColumn(self) -> int:  # noqa: N802 (Qt's naming)
        return COLUMN[self.sort_key]

    def sortOrder(self) -> Qt.SortOrder:  # noqa: N802 (Qt's naming)
        return Qt.SortOrder.DescendingOrder if self.descending else Qt.SortOrder.AscendingOrder

    # ------------------------------------------------------------ lookups
    def run_ids(self) -> list[int]:
        """Ids of the rows, in the order shown."""
        return list(self._ids)

    def run_id(self, row: int) -> int:
        return self._ids[row]

    def row_of(self, run_id: int) -> int | None:
        """The row of ``run_id``; None when it is filtered out or not in the store."""
        if self._row_of is None:
            self._row_of = {run_id: row for row, run_id in enumerate(self._ids)}
        return self._row_of.get(run_id)

    def values(self, key: str) -> list[str]:
        """Distinct non-empty values of a filterable column in the whole store, sorted."""
        return distinct_values(self.conn, key) if self.conn is not None else []

    def row_values(self, row: int) -> dict | None:
        """The fetched columns of ``row`` (see ``run_table.run_rows``); None if the run is gone."""
        block = self._block(row // self.BLOCK)
        return block.rows[row % self.BLOCK]

    def texts(self, row: int) -> list[str]:
        """Every cell text of ``row``, in column order."""
        return [self.text(row, column) for column in range(len(COLUMNS))]

    def _block(self, number: int) -> _Block:
        block = self._blocks.get(number)
        if block is not None:
            self._blocks.move_to_end(number)
            return block
        ids = self._ids[number * self.BLOCK:(number + 1) * self.BLOCK]
        fetched = run_rows(self.conn, ids) if self.conn is not None and ids else {}
        block = _Block([fetched.get(run_id) for run_id in ids])
        self._blocks[number] = block
        if len(self._blocks) > self.CACHED_BLOCKS:
            self._blocks.popitem(last=False)
        return block

    def text(self, row: int, column: int) -> str:
        """The text of one cell, made (and kept) the first time it is asked for."""
        block = self._block(row // self.BLOCK)
        texts = block.texts[row % self.BLOCK]
        text = texts[column]
        if text is None:
            values = block.rows[row % self.BLOCK]
            text = texts[column] = cell_text(COLUMNS[column].key, values) if values is not None else ""
        return text

    # ------------------------------------------------------------ Qt model
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 (Qt)
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 (Qt)
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=_DISPLAY):  # noqa: N802 (Qt)
        if orientation != Qt.Orientation.Horizontal:
            return None
        column = COLUMNS[section]
        if role == _DISPLAY:
            return column.title
        if role == _TIP:
            return column.tip or column.title
        return None

    def data(self, index: QModelIndex, role=_DISPLAY):
        row, column = index.row(), index.column()
        if role == _DISPLAY:
            return self.text(row, column)
        if role == ID_ROLE:
            return self._ids[row]
        if role == _ALIGN:
            return _RIGHT if COLUMNS[column].numeric else None
        if column == _STATUS and role in (_BACKGROUND, _FOREGROUND, _TIP):
            return _status_data(self.row_values(row), role)
        if role == _TIP:
            return self._tip(row, column)
        return None

    def _tip(self, row: int, column: int) -> str | None:
        values = self.row_values(row)
        if values is None:
            return None
        if column == _NAME:
            return _name_tip(values)
        if COLUMNS[column].key == "data":
            return str(values.get("data") or "")
        return None


def _status_data(values: dict | None, role):
    """Colours of the status cell; the reason as its tooltip."""
    if values is None:
        return None
    colours = STATUS_COLOURS.get(values.get("status"))
    if role == _BACKGROUND and colours:
        return QColor(colours[0])
    if role == _FOREGROUND and colours:
        return QColor(colours[1])
    if role == _TIP:
        return values.get("reason") or values.get("status")
    return None


def _name_tip(values: dict) -> str:
    """Name, model and (if any) the reason the run ended early."""
    lines = [values.get("name") or "", f"model: {values.get('model')}"]
    if values.get("reason"):
        lines.append(f"{values.get('status')}: {values['reason']}")
    return "\n".join(lines)


def fit_columns(view: QTableView, model: RunTableModel, columns=None) -> None:
    """Fit ``columns`` (all by default) to their title and the cells of the first block of rows,
    which are fetched anyway; the last column takes what is left."""
    metrics = view.fontMetrics()
    header = view.horizontalHeader()
    rows = range(min(model.rowCount(), model.BLOCK))
    for index in columns if columns is not None else range(len(COLUMNS)):
        title = metrics.horizontalAdvance(COLUMNS[index].title) + 20  # room for the sort arrow
        cells = max((metrics.horizontalAdvance(model.text(row, index)) for row in rows), default=0) + 12
        cap = 600 if index == _NAME else 300  # a longer cell shows in full in its tooltip
        header.resizeSection(index, min(max(title, cells), cap))
    header.setStretchLastSection(True)
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
