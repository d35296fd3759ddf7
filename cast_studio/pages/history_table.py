"""The History page's table of runs: its columns, the model that prepares every cell once, the
proxy that filters and sorts it (numbers as numbers, empty cells last) and the columns' widths."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QTableView

from .run_format import METRICS, fmt_count, fmt_duration, fmt_percent, fmt_time, lr_text, params_text, parse_time

ANY = "any"
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
ID_ROLE = Qt.ItemDataRole.UserRole + 2


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    numeric: bool = False
    tip: str = ""


COLUMNS = (
    Column("id", "ID", True),
    Column("name", "Name"),
    Column("status", "Status"),
    Column("method", "Method"),
    Column("task", "Task"),
    Column("variant", "Variant"),
    Column("regime", "Regime"),
    Column("seed", "Seed", True),
    Column("sweep_id", "Sweep", True, "the sweep this run is a trial of (see the Sweep page)"),
    Column("combined", "Combined", True, "combined test accuracy (%)"),
    Column("factual", "Factual", True, "factual test accuracy (%)"),
    Column("counterfactual", "Counterf.", True, "counterfactual test accuracy (%)"),
    Column("pair", "Pair", True, "pair test accuracy (%): both examples of a pair right"),
    Column("trainable_params", "Trainable", True, "trainable parameters (share of all parameters)"),
    Column("started_at", "Started", False, "start time (local)"),
    Column("wall_time_s", "Wall time", True),
    Column("lr", "LR", True, "learning rate the run trained at (the method's recommended one, or set by the user)"),
    Column("train_examples", "Examples", True,
           "training examples processed (forward and backward passes; CAST's two passes count twice)"),
    Column("train_time_s", "Train time", True, "time spent in training passes (no evaluation)"),
)
COLUMN = {column.key: index for index, column in enumerate(COLUMNS)}
STATUS_COLOURS = {  # background, text
    "completed": ("#d3f0d6", "#1b5e20"),
    "failed": ("#f8d3d6", "#8b1a22"),
    "cancelled": ("#fdebc1", "#7a5200"),
    "interrupted": ("#fdebc1", "#7a5200"),
    "running": ("#d5e6fb", "#0b4f9c"),
}


# ------------------------------------------------------------------ model

@dataclass
class _Row:
    """One run with its cells prepared: text, sort keys, local start date."""

    run: dict
    texts: list[str]
    keys: list[Any]
    started: date | None


def _cell_values(run: dict) -> dict[str, tuple[str, Any]]:
    """(text, sort key) of every column for one run; a missing number sorts as None."""
    results = run.get("results") or {}
    values: dict[str, tuple[str, Any]] = {}
    for key in ("name", "status", "method", "task", "variant", "regime"):
        text = str(run.get(key) or "")
        values[key] = (text, text.lower())
    for key in ("id", "seed", "sweep_id"):
        number = run.get(key)
        values[key] = ("" if number is None else str(number), number)
    for metric in METRICS:
        value = results.get(metric)
        text = fmt_percent(value)
        values[metric] = (text, 100 * value if text else None)
    trainable = run.get("trainable_params")
    values["trainable_params"] = (params_text(trainable, run.get("total_params")), trainable)
    values["started_at"] = (fmt_time(run.get("started_at")), run.get("started_at") or None)
    values["wall_time_s"] = (fmt_duration(run.get("wall_time_s")), run.get("wall_time_s"))
    lr = ((run.get("config") or {}).get("train") or {}).get("lr")
    values["lr"] = (lr_text(run), lr if isinstance(lr, (int, float)) else None)
    examples = results.get("train_examples")
    values["train_examples"] = (fmt_count(examples), examples if isinstance(examples, int) else None)
    values["train_time_s"] = (fmt_duration(results.get("train_time_s")), results.get("train_time_s"))
    return values


def make_row(run: dict) -> _Row:
    values = _cell_values(run)
    started = parse_time(run.get("started_at"))
    return _Row(run, [values[c.key][0] for c in COLUMNS], [values[c.key][1] for c in COLUMNS],
                started.date() if started else None)


class RunTableModel(QAbstractTableModel):
    """Every run of the store, one row each, cells prepared once per load."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[_Row] = []
        self._row_of: dict[int, int] = {}

    def set_runs(self, runs: list[dict]) -> None:
        self.beginResetModel()
        self.rows = [make_row(run) for run in runs]
        self._row_of = {row.run["id"]: index for index, row in enumerate(self.rows)}
        self.endResetModel()

    def run_at(self, row: int) -> dict:
        return self.rows[row].run

    def row_of(self, run_id: int) -> int | None:
        return self._row_of.get(run_id)

    def run_ids(self) -> list[int]:
        return [row.run["id"] for row in self.rows]

    def values(self, key: str) -> list[str]:
        """Distinct non-empty values of a text column, sorted."""
        return sorted({str(row.run.get(key)) for row in self.rows if row.run.get(key)})

    def sort_key(self, row: int, column: int) -> Any:
        return self.rows[row].keys[column]

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 (Qt)
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 (Qt)
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 (Qt)
        if orientation != Qt.Orientation.Horizontal:
            return None
        column = COLUMNS[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return column.tip or column.title
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, column = self.rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return row.texts[column]
        if role == SORT_ROLE:
            return row.keys[column]
        if role == ID_ROLE:
            return row.run["id"]
        if role == Qt.ItemDataRole.TextAlignmentRole and COLUMNS[column].numeric:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if column == COLUMN["status"]:
            return self._status_data(row.run, role)
        if role == Qt.ItemDataRole.ToolTipRole and column == COLUMN["name"]:
            return _name_tip(row.run)
        return None

    @staticmethod
    def _status_data(run: dict, role):
        """Colours of the status cell; the reason as its tooltip."""
        colours = STATUS_COLOURS.get(run.get("status"))
        if role == Qt.ItemDataRole.BackgroundRole and colours:
            return QColor(colours[0])
        if role == Qt.ItemDataRole.ForegroundRole and colours:
            return QColor(colours[1])
        if role == Qt.ItemDataRole.ToolTipRole:
            return run.get("reason") or run.get("status")
        return None


def _name_tip(run: dict) -> str:
    """Name, model and (if any) the reason the run ended early."""
    lines = [run.get("name") or "", f"model: {run.get('model')}"]
    if run.get("reason"):
        lines.append(f"{run.get('status')}: {run['reason']}")
    return "\n".join(lines)


# ------------------------------------------------------------------ proxy

class RunFilterProxy(QSortFilterProxyModel):
    """Filters by method, task, variant, status, start date and name; numeric sort,
    empty cells last in either order."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.filters: dict[str, str | None] = {"method": None, "task": None, "variant": None, "status": None}
        self.since: date | None = None
        self.text = ""
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    def set_filter(self, **changes: Any) -> None:
        """Change filters: method/task/variant/status (None = any), since, text."""
        self.beginFilterChange()
        for key, value in changes.items():
            if key in self.filters:
                self.filters[key] = None if value in (None, "", ANY) else value
            elif key == "since":
                self.since = value
            elif key == "text":
                self.text = (value or "").strip().lower()
            else:
                raise KeyError(key)
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent) -> bool:  # noqa: N802 (Qt)
        row = self.sourceModel().rows[source_row]
        run = row.run
        for key, wanted in self.filters.items():
            if wanted is not None and str(run.get(key) or "") != wanted:
                return False
        if self.since is not None and (row.started is None or row.started < self.since):
            return False
        return not self.text or self.text in (run.get("name") or "").lower()

    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:  # noqa: N802 (Qt)
        model = self.sourceModel()
        a = model.sort_key(left.row(), left.column())
        b = model.sort_key(right.row(), right.column())
        if a is None or b is None:
            if a is None and b is None:
                return left.row() < right.row()
            descending = self.sortOrder() == Qt.SortOrder.DescendingOrder
            return descending if a is None else not descending
        try:
            return a < b
        except TypeError:
            return str(a) < str(b)


def fit_columns(view: QTableView, model: RunTableModel) -> None:
    """Fit each column to its title and (a sample of) its cells; the name column takes what is left."""
    metrics = view.fontMetrics()
    header = view.horizontalHeader()
    sample = model.rows[:300]
    for index, column in enumerate(COLUMNS):
        title = metrics.horizontalAdvance(column.title) + 22  # room for the sort arrow
        cells = max((metrics.horizontalAdvance(row.texts[index]) for row in sample), default=0) + 14
        cap = 280 if column.key == "name" else 170
        header.resizeSection(index, min(max(title, cells), cap))
    header.setSectionResizeMode(COLUMN["name"], QHeaderView.ResizeMode.Stretch)
