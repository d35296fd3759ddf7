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

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QTableView

from cast_engine.store.run_table import (RUN_COLUMNS, RunColumn, RunFilter, count_runs, distinct_values, run_ids,
                                         run_rows)

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
# Roles as plain ints: the view asks seven roles of every cell it paints, so data() answers
# the ones it has nothing for before it does anything else.
_DISPLAY, _TIP = int(Qt.ItemDataRole.DisplayRole), int(Qt.ItemDataRole.ToolTipRole)
_BACKGROUND, _FOREGROUND = int(Qt.ItemDataRole.BackgroundRole), int(Qt.ItemDataRole.ForegroundRole)
_ALIGN = int(Qt.ItemDataRole.TextAlignmentRole)
_ID = int(ID_ROLE)
_STATUS = COLUMN["status"]
_NAME = COLUMN["name"]
_NUMERIC = tuple(column.numeric for column in COLUMNS)


def column_header(columns, section: int, orientation, role):
    """A horizontal header cell of ``columns`` (RunColumn-like: title, tip): its title, or its tip as tooltip."""
    if orientation != Qt.Orientation.Horizontal:
        return None
    column = columns[section]
    if role == _DISPLAY:
        return column.title
    if role == _TIP:
        return column.tip or column.title
    return None


def cell_text(key: str, row: dict) -> str:
    """The text of one cell of a fetched row (``run_table.run_rows``)."""
    value = row.get(key)
    if key in METRICS:
        return fmt_percent(value)
    if key == "trainable_params":
        return params_text(value, row.get("total_params"))
    if key == "started_at":
        return fmt_time(value)
    if key == "wall_time_s" or key == "train_time_s":
        return fmt_duration(value)
    if key == "train_examples" and isinstance(value, int):
        return f"{value:,}"
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

    A (re)load asks the store for two things only: how many runs pass the
    filters and the ids of the first ``BLOCK`` of them in order (one indexed
    query each), so opening, filtering and sorting do not grow with the store.
    The ordered ids of all the runs are read when first needed (scrolling past
    the first block, selecting a run further down). Rows come from the store a
    block at a time as the view shows them (the last ``CACHED_BLOCKS`` kept).
    """

    BLOCK = 64
    CACHED_BLOCKS = 16
    columns = COLUMNS

    def __init__(self, parent=None):
        super().__init__(parent)
        self.conn: sqlite3.Connection | None = None
        self.where = RunFilter()
        self.sort_key, self.descending = "id", True
        self.total = 0  # runs in the store, filters aside
        self._count = 0  # runs that pass the filters: the rows
        self._first: list[int] = []  # the ids of the first block's rows
        self._all: list[int] | None = None  # the ids of every row, read when first needed
        self._row_of: dict[int, int] | None = None
        self._blocks: OrderedDict[int, _Block] = OrderedDict()
        self._last: tuple[int, _Block | None] = (-1, None)  # the block asked for last (painting asks it again)

    # ------------------------------------------------------------ loading
    def set_connection(self, conn: sqlite3.Connection | None) -> None:
        """Read from ``conn`` (the page's store connection) from now on."""
        self.conn = conn
        self.reload()

    def reload(self) -> None:
        """Ask the store again for the ids that pass the filters (rows are fetched as shown).

        Raises ``StoreError`` when the store cannot be read; the table is then empty."""
        self.beginResetModel()
        self._count, self._first, self._all, self._row_of, self.total = 0, [], None, None, 0
        self._blocks.clear()
        self._last = (-1, None)
        try:
            if self.conn is not None:
                self._first = run_ids(self.conn, self.where, self.sort_key, self.descending, limit=self.BLOCK)
                self._count = count_runs(self.conn, self.where)
                self.total = self._count if self.where.where()[0] == "" else count_runs(self.conn)
        finally:
            self.endResetModel()

    def _ids(self) -> list[int]:
        """The ids of every row in order (read from the store the first time they are needed)."""
        if self._all is None:
            self._all = run_ids(self.conn, self.where, self.sort_key, self.descending) if self.conn else []
            if len(self._all) != self._count or self._all[:self.BLOCK] != self._first:
                # The store changed since the reload (a run finished or was deleted): show it as it is now.
                QTimer.singleShot(0, self.reload)
        return self._all

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
        self.where = RunFilter(equal, since, text, self.where.evaluation)
        self.reload()

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:  # Qt: the view's header asks
        key, descending = COLUMNS[column].key, order == Qt.SortOrder.DescendingOrder
        if (key, descending) == (self.sort_key, self.descending):
            return  # the rows are in this order already (Qt's sortByColumn asks twice: the second read cost 10-40 ms)
        self.sort_key, self.descending = key, descending
        self.reload()

    def sortColumn(self) -> int:  # noqa: N802 (Qt's naming)
        return COLUMN[self.sort_key]

    def sortOrder(self) -> Qt.SortOrder:  # noqa: N802 (Qt's naming)
        return Qt.SortOrder.DescendingOrder if self.descending else Qt.SortOrder.AscendingOrder

    # ------------------------------------------------------------ lookups
    def run_ids(self) -> list[int]:
        """Ids of the rows, in the order shown."""
        return list(self._ids()) if self._count > len(self._first) else list(self._first)

    def run_id(self, row: int) -> int | None:
        """The id of the run in ``row`` (None past the end of a store that shrank meanwhile)."""
        ids = self._first if row < len(self._first) else self._ids()
        return ids[row] if row < len(ids) else None

    def row_of(self, run_id: int) -> int | None:
        """The row of ``run_id``; None when it is filtered out or not in the store."""
        if run_id in self._first:
            return self._first.index(run_id)
        if self._count <= len(self._first):
            return None
        if self._row_of is None:
            self._row_of = {run_id: row for row, run_id in enumerate(self._ids())}
        return self._row_of.get(run_id)

    def values(self, key: str) -> list[str]:
        """Distinct non-empty values of a filterable column in the whole store, sorted."""
        return distinct_values(self.conn, key) if self.conn is not None else []

    def row_values(self, row: int) -> dict | None:
        """The fetched columns of ``row`` (see ``run_table.run_rows``); None if the run is gone."""
        rows = self._block(row // self.BLOCK).rows
        return rows[row % self.BLOCK] if row % self.BLOCK < len(rows) else None

    def texts(self, row: int) -> list[str]:
        """Every cell text of ``row``, in column order."""
        return [self.text(row, column) for column in range(len(COLUMNS))]

    def _block(self, number: int) -> _Block:
        if self._last[0] == number:
            return self._last[1]
        block = self._blocks.get(number)
        if block is not None:
            self._blocks.move_to_end(number)
            self._last = (number, block)
            return block
        ids = self._first if number == 0 else self._ids()[number * self.BLOCK:(number + 1) * self.BLOCK]
        fetched = run_rows(self.conn, ids, evaluation=self.where.evaluation) if self.conn is not None and ids else {}
        block = _Block([fetched.get(run_id) for run_id in ids])
        self._blocks[number] = block
        if len(self._blocks) > self.CACHED_BLOCKS:
            self._blocks.popitem(last=False)
        self._last = (number, block)
        return block

    def text(self, row: int, column: int) -> str:
        """The text of one cell, made (and kept) the first time it is asked for."""
        block, within = self._block(row // self.BLOCK), row % self.BLOCK
        if within >= len(block.rows):  # past the end of a store that shrank since the reload
            return ""
        texts = block.texts[within]
        text = texts[column]
        if text is None:
            values = block.rows[within]
            text = texts[column] = cell_text(COLUMNS[column].key, values) if values is not None else ""
        return text

    # ------------------------------------------------------------ Qt model
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 (Qt)
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 (Qt)
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=_DISPLAY):  # noqa: N802 (Qt)
        return column_header(COLUMNS, section, orientation, role)

    def data(self, index: QModelIndex, role=_DISPLAY):
        if role == _DISPLAY:  # the cell's text, from the block painted last when it is that one
            row = index.row()
            number, block = self._last
            if number != row // self.BLOCK:
                block = self._block(row // self.BLOCK)
            texts = block.texts[row % self.BLOCK] if row % self.BLOCK < len(block.texts) else None
            text = texts[index.column()] if texts is not None else ""
            return text if text is not None else self.text(row, index.column())
        if role == _ALIGN:
            return _RIGHT if _NUMERIC[index.column()] else None
        if role == _BACKGROUND or role == _FOREGROUND:
            return _status_data(self.row_values(index.row()), role) if index.column() == _STATUS else None
        if role == _TIP:
            row, column = index.row(), index.column()
            return _status_data(self.row_values(row), role) if column == _STATUS else self._tip(row, column)
        if role == _ID:
            return self.run_id(index.row())
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


def fit_columns(view: QTableView, model, columns=None, grow_only: bool = False) -> None:
    """Fit ``columns`` (the shown ones by default) of ``model`` (the per-run or the grouped table) to
    their title and the cells of the first block of rows, which are fetched anyway; the last column
    takes what is left. ``grow_only`` widens a column whose cells no longer fit and never narrows
    one (the user's own widths stay). A hidden column is fitted when it is shown (measuring the
    hidden ones and each repeated text was most of a refresh's 13-19 ms)."""
    metrics = view.fontMetrics()
    header = view.horizontalHeader()
    rows = range(min(model.rowCount(), model.BLOCK))
    if columns is None:
        columns = [index for index in range(len(model.columns)) if not view.isColumnHidden(index)]
    for index in columns:
        title = metrics.horizontalAdvance(model.columns[index].title) + 20  # room for the sort arrow
        texts = {model.text(row, index) for row in rows}  # each distinct text measured once
        cells = max(map(metrics.horizontalAdvance, texts), default=0) + 12
        cap = 600 if model.columns[index].key == "name" else 300  # a longer cell shows in full in its tooltip
        width = min(max(title, cells), cap)
        if not grow_only or width > header.sectionSize(index):
            header.resizeSection(index, width)
    header.setStretchLastSection(True)
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
