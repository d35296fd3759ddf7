"""History: every run in the store, filtered, sorted, compared, deleted and exported.

The page reads the store with one ``list_runs`` call per refresh and keeps the
table cells as ready-made text, so a thousand runs stay quick. Tables, model
exports and config diffs are computed by ``cast_engine``; the page shows them
and calls it. Actions that ask the user go through ``confirm`` and
``show_error``, which tests replace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QSortFilterProxyModel,
    Qt,
    QThread,
    Signal,
)
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cast_engine.errors import StoreError
from cast_engine.store import RUN_STATUSES
from cast_studio.pages.compare import (
    METRICS,
    CompareDialog,
    fmt_duration,
    fmt_percent,
    fmt_time,
    params_text,
    parse_time,
)
from cast_studio.store_access import WRITE_LOCK, open_store

ANY = "any"
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
ID_ROLE = Qt.ItemDataRole.UserRole + 2
TABLE_FILTERS = {"CSV (*.csv)": ".csv", "Markdown (*.md)": ".md", "LaTeX (*.tex)": ".tex"}
MODEL_FORMATS = {"hf": "Hugging Face folder", "delta": "sparse delta"}
DIALOG_OPTIONS = QFileDialog.Option.DontUseNativeDialog
_EXPORTS: list = []  # model export threads, kept alive here until they have finished


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
    Column("combined", "Combined", True, "combined test accuracy (%)"),
    Column("factual", "Factual", True, "factual test accuracy (%)"),
    Column("counterfactual", "Counterf.", True, "counterfactual test accuracy (%)"),
    Column("pair", "Pair", True, "pair test accuracy (%): both examples of a pair right"),
    Column("trainable_params", "Trainable", True, "trainable parameters (share of all parameters)"),
    Column("started_at", "Started", False, "start time (local)"),
    Column("wall_time_s", "Wall time", True),
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
    for key in ("id", "seed"):
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


# ------------------------------------------------------------------ export worker

class _LockedArtifacts:
    """The two store calls export_run makes; artifact_dir (a write) under the studio lock."""

    def __init__(self, store):
        self._store = store

    def get_run(self, run_id: int) -> dict:
        return self._store.get_run(run_id)

    def artifact_dir(self, run_id: int) -> Path:
        with WRITE_LOCK:
            return self._store.artifact_dir(run_id)


def export_model_with(store, run_id: int, fmt: str, folder: str | Path) -> Path:
    """Export a run's model (torch loads here, not when the page is imported)."""
    from cast_engine.export.hf import export_run

    return export_run(_LockedArtifacts(store), run_id, fmt, folder)


class ModelExportThread(QThread):
    """Exports one model with its own store connection; ``done(path)`` or ``failed(text)``."""

    done = Signal(object)
    failed = Signal(str)

    def __init__(self, db_path: Path, run_id: int, fmt: str, folder: Path, parent=None):
        super().__init__(parent)
        self.db_path, self.run_id, self.fmt, self.folder = db_path, run_id, fmt, folder

    def run(self) -> None:
        try:
            store = open_store(self.db_path)
        except Exception as exc:  # reported on the GUI thread
            self.failed.emit(f"cannot open the run store: {exc}")
            return
        try:
            self.done.emit(export_model_with(store, self.run_id, self.fmt, self.folder))
        except Exception as exc:
            self.failed.emit(f"cannot export run {self.run_id}: {exc}")
        finally:
            store.close()


def _keep_export(thread: QThread) -> None:
    """Hold a reference to ``thread``; drop those that have finished."""
    _EXPORTS[:] = [t for t in _EXPORTS if t.isRunning()] + [thread]


# ------------------------------------------------------------------ page

class HistoryPage(QWidget):
    """The run history: a filtered, sortable table of every run and what to do with them."""

    def __init__(self, db_path: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.db_path = Path(db_path)
        self.store = None
        self.compare_dialogs: list[CompareDialog] = []
        self.export_thread: ModelExportThread | None = None
        self.model = RunTableModel(self)
        self.proxy = RunFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self._build_filters()
        self._build_view()
        self._build_actions()
        self._build_layout()
        self._sized = False
        self._open_store()
        self.refresh()

    # -------------------------------------------------------------- building
    def _build_filters(self) -> None:
        self.method_filter = self._combo()
        self.task_filter = self._combo()
        self.variant_filter = self._combo()
        self.status_filter = self._combo(RUN_STATUSES)
        self.since_check = QCheckBox("Since")
        self.since_edit = QDateEdit(QDate.currentDate().addDays(-7))
        self.since_edit.setCalendarPopup(True)
        self.since_edit.setDisplayFormat("yyyy-MM-dd")
        self.since_edit.setEnabled(False)
        self.name_filter = QLineEdit()
        self.name_filter.setPlaceholderText("Filter by name…")
        self.name_filter.setClearButtonEnabled(True)
        for combo in (self.method_filter, self.task_filter, self.variant_filter, self.status_filter):
            combo.currentTextChanged.connect(self._apply_filters)
        self.since_check.toggled.connect(self.since_edit.setEnabled)
        self.since_check.toggled.connect(self._apply_filters)
        self.since_edit.dateChanged.connect(self._apply_filters)
        self.name_filter.textChanged.connect(self._apply_filters)

    @staticmethod
    def _combo(items=()) -> QComboBox:
        combo = QComboBox()
        combo.addItems([ANY, *items])
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        combo.setMinimumContentsLength(6)
        return combo

    def _build_view(self) -> None:
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(COLUMN["id"], Qt.SortOrder.DescendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(self.view.fontMetrics().height() + 8)
        header = self.view.horizontalHeader()
        header.setHighlightSections(False)
        header.setResizeContentsPrecision(200)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.view.selectionModel().selectionChanged.connect(self._update_buttons)
        self.view.doubleClicked.connect(lambda index: self.compare_runs([index.data(ID_ROLE)]))

    def _build_actions(self) -> None:
        self.refresh_button = QPushButton("Refresh")
        self.compare_button = QPushButton("Compare")
        self.delete_button = QPushButton("Delete")
        self.export_button = QPushButton("Export")
        self.export_menu = QMenu(self)
        table_menu = self.export_menu.addMenu("Results table (mean ± std over seeds)")
        self.table_actions = {m: table_menu.addAction(f"{m.capitalize()} accuracy…") for m in METRICS}
        self.model_actions = {fmt: self.export_menu.addAction(f"Model as {label}…") for fmt, label in MODEL_FORMATS.items()}
        self.plots_action = self.export_menu.addAction("Plots of the compare view (PNG + SVG)…")
        self.export_button.setMenu(self.export_menu)
        self.refresh_button.clicked.connect(self.refresh)
        self.compare_button.clicked.connect(lambda: self.compare_runs(sorted(self.selected_ids())))
        self.delete_button.clicked.connect(lambda: self.delete_runs(self.selected_ids()))
        for metric, action in self.table_actions.items():
            action.triggered.connect(lambda _=False, m=metric: self._on_export_table(m))
        for fmt, action in self.model_actions.items():
            action.triggered.connect(lambda _=False, f=fmt: self._on_export_model(f))
        self.plots_action.triggered.connect(self._on_export_plots)
        self.count_label = QLabel()
        self.message_label = QLabel()
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def _build_layout(self) -> None:
        filters = QHBoxLayout()
        for label, widget in (("Method", self.method_filter), ("Task", self.task_filter),
                              ("Variant", self.variant_filter), ("Status", self.status_filter)):
            filters.addWidget(QLabel(label))
            filters.addWidget(widget)
            filters.addSpacing(8)
        filters.addWidget(self.since_check)
        filters.addWidget(self.since_edit)
        filters.addSpacing(8)
        filters.addWidget(self.name_filter, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.count_label)
        buttons.addSpacing(12)
        buttons.addWidget(self.message_label, 1)
        for button in (self.refresh_button, self.compare_button, self.export_button, self.delete_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.view, 1)
        layout.addLayout(buttons)

    def _open_store(self) -> None:
        try:
            self.store = open_store(self.db_path)
        except Exception as exc:
            self.show_error(f"Cannot open the run store {self.db_path}: {exc}")

    # -------------------------------------------------------------- dialogs (tests replace)
    def confirm(self, question: str) -> bool:
        """Ask a yes/no question; True for yes."""
        answer = QMessageBox.question(self, "CAST Studio", question,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def show_error(self, text: str) -> None:
        """Tell the user something went wrong (never raise into the event loop)."""
        self.message_label.setText("")
        QMessageBox.warning(self, "CAST Studio", text)

    def _store_ready(self) -> bool:
        """True when the store is open; otherwise say so."""
        if self.store is None:
            self.show_error(f"The run store {self.db_path} is not open.")
        return self.store is not None

    def show_message(self, text: str) -> None:
        """A short note under the table (exports done, runs deleted)."""
        self.message_label.setText(text)

    # -------------------------------------------------------------- loading
    def refresh(self) -> None:
        """Reload every run from the store, keeping the selection, sort and filters."""
        if self.store is None:
            return
        selected = self.selected_ids()
        try:
            self.store.mark_interrupted()
            runs = self.store.list_runs()
        except StoreError as exc:
            self.show_error(f"Cannot read the run store: {exc}")
            return
        self.model.set_runs(runs)
        self._fill_combos()
        self.proxy.sort(self.proxy.sortColumn(), self.proxy.sortOrder())
        self.select_runs(selected)
        if not self._sized and runs:
            self._size_columns()
        self._update_count()
        self._update_buttons()

    def _fill_combos(self) -> None:
        """Offer the values present in the store; keep each combo's current choice."""
        for combo, key in ((self.method_filter, "method"), (self.task_filter, "task"),
                           (self.variant_filter, "variant")):
            current = combo.currentText()
            values = self.model.values(key)
            if current != ANY and current not in values:
                values = sorted([*values, current])
            combo.blockSignals(True)
            combo.clear()
            combo.addItems([ANY, *values])
            combo.setCurrentText(current)
            combo.blockSignals(False)

    def _size_columns(self) -> None:
        """Fit each column to its title and (a sample of) its cells, once; the name
        column takes what is left."""
        metrics = self.view.fontMetrics()
        header = self.view.horizontalHeader()
        sample = self.model.rows[:300]
        for index, column in enumerate(COLUMNS):
            title = metrics.horizontalAdvance(column.title) + 22  # room for the sort arrow
            cells = max((metrics.horizontalAdvance(row.texts[index]) for row in sample), default=0) + 14
            cap = 280 if column.key == "name" else 170
            header.resizeSection(index, min(max(title, cells), cap))
        header.setSectionResizeMode(COLUMN["name"], QHeaderView.ResizeMode.Stretch)
        self._sized = True

    def _apply_filters(self, *_: Any) -> None:
        since = self.since_edit.date().toPython() if self.since_check.isChecked() else None
        self.proxy.set_filter(method=self.method_filter.currentText(), task=self.task_filter.currentText(),
                              variant=self.variant_filter.currentText(),
                              status=self.status_filter.currentText(), since=since,
                              text=self.name_filter.text())
        self._update_count()
        self._update_buttons()

    def _update_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.count_label.setText(f"{total} runs" if shown == total else f"{shown} of {total} runs shown")

    # -------------------------------------------------------------- selection
    def selected_ids(self) -> list[int]:
        """Ids of the selected rows, in the order shown."""
        rows = sorted(index.row() for index in self.view.selectionModel().selectedRows())
        return [self.proxy.index(row, 0).data(ID_ROLE) for row in rows]

    def visible_ids(self) -> list[int]:
        """Ids of the rows the filters let through, in the order shown."""
        return [self.proxy.index(row, 0).data(ID_ROLE) for row in range(self.proxy.rowCount())]

    def select_runs(self, ids) -> None:
        """Select the rows of ``ids`` that are shown (and only those)."""
        selection = QItemSelection()
        for run_id in ids:
            source_row = self.model.row_of(run_id)
            if source_row is None:
                continue
            index = self.proxy.mapFromSource(self.model.index(source_row, 0))
            if index.isValid():
                selection.select(index, index)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.view.selectionModel().select(selection, flags)
        self._update_buttons()

    def _update_buttons(self, *_: Any) -> None:
        count = len(self.view.selectionModel().selectedRows())
        busy = self.export_thread is not None
        self.compare_button.setEnabled(count >= 2)
        self.delete_button.setEnabled(count >= 1)
        self.export_button.setEnabled(count >= 1)
        for action in self.table_actions.values():
            action.setEnabled(count >= 1)
        for action in self.model_actions.values():
            action.setEnabled(count == 1 and not busy)
        self.plots_action.setEnabled(count >= 1)

    # -------------------------------------------------------------- compare
    def load_runs(self, ids) -> tuple[list[dict], dict[int, list[dict]]]:
        """Fresh run dicts and epoch rows of ``ids`` (only the few being compared)."""
        runs = [self.store.get_run(run_id) for run_id in ids]
        return runs, {run["id"]: self.store.epochs(run["id"]) for run in runs}

    def compare_runs(self, ids) -> CompareDialog | None:
        """Open (and return) a compare dialog for ``ids``."""
        ids = [run_id for run_id in ids if run_id is not None]
        if not ids or self.store is None:
            return None
        try:
            runs, epochs = self.load_runs(ids)
        except StoreError as exc:
            self.show_error(f"Cannot compare: {exc}")
            return None
        dialog = CompareDialog(runs, epochs, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda *_: self._forget(dialog))
        self.compare_dialogs.append(dialog)
        dialog.show()
        return dialog

    def _forget(self, dialog) -> None:
        if dialog in self.compare_dialogs:
            self.compare_dialogs.remove(dialog)

    # -------------------------------------------------------------- delete
    def delete_runs(self, ids) -> list[int]:
        """Delete runs after confirmation; a running run is refused. Returns the ids deleted."""
        ids = list(ids)
        if not ids or self.store is None:
            return []
        try:
            statuses = {run_id: self.store.get_run(run_id)["status"] for run_id in ids}
        except StoreError as exc:
            self.show_error(f"Cannot delete: {exc}")
            self.refresh()
            return []
        running = [run_id for run_id, status in statuses.items() if status == "running"]
        if running:
            listed = ", ".join(f"#{run_id}" for run_id in running)
            self.show_error(f"Run {listed} is still running and cannot be deleted. Stop it first.")
            return []
        if not self.confirm(_delete_question(ids)):
            return []
        deleted = self._delete(ids)
        self.refresh()
        if deleted:
            self.show_message(f"Deleted {len(deleted)} run{'s' if len(deleted) > 1 else ''}.")
        return deleted

    def _delete(self, ids: list[int]) -> list[int]:
        deleted = []
        for run_id in ids:
            try:
                self.store.delete_run(run_id)
            except StoreError as exc:
                self.show_error(f"Cannot delete run {run_id}: {exc}")
                break
            deleted.append(run_id)
        return deleted

    # -------------------------------------------------------------- export: work
    def export_table(self, ids, path: str | Path, metric: str = "combined") -> list[Path]:
        """Write the results table (mean ± std over seeds) of ``ids``; format by extension."""
        from cast_engine.export.tables import results_table, write_table

        if not self._store_ready():
            return []
        try:
            runs = [self.store.get_run(run_id) for run_id in ids]
            table = results_table(runs, metric)
            if not table.rows:
                self.show_error(f"None of the selected runs completed with a {metric} test accuracy: "
                                "there is nothing to put in a table.")
                return []
            written = write_table(table, path)
        except Exception as exc:
            self.show_error(f"Cannot export the results table: {exc}")
            return []
        self.show_message(f"Wrote {written}")
        return [written]

    def export_model(self, run_id: int, fmt: str, folder: str | Path) -> list[Path]:
        """Export one run's model as a Hugging Face folder ('hf') or a delta ('delta')."""
        folder = Path(folder).expanduser()
        problem = _folder_problem(folder)
        if problem or not self._store_ready():
            if problem:
                self.show_error(problem)
            return []
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            written = export_model_with(self.store, run_id, fmt, folder)
        except Exception as exc:
            QApplication.restoreOverrideCursor()
            self.show_error(f"Cannot export run {run_id}: {exc}")
            return []
        QApplication.restoreOverrideCursor()
        self.show_message(f"Exported run {run_id} to {written}")
        return [written]

    def export_model_async(self, run_id: int, fmt: str, folder: str | Path) -> ModelExportThread | None:
        """The same export on a worker thread (the button uses this); returns the thread."""
        folder = Path(folder).expanduser()
        problem = _folder_problem(folder)
        if problem:
            self.show_error(problem)
            return None
        thread = ModelExportThread(self.db_path, run_id, fmt, folder)  # no parent: outlives a closed page
        _keep_export(thread)
        thread.done.connect(self._export_done)
        thread.failed.connect(self.show_error)
        thread.finished.connect(self._export_finished)
        self.export_thread = thread
        self.show_message(f"Exporting run {run_id} as {MODEL_FORMATS.get(fmt, fmt)}…")
        self._update_buttons()
        thread.start()
        return thread

    def _export_done(self, path) -> None:
        run_id = self.export_thread.run_id if self.export_thread is not None else "?"
        self.show_message(f"Exported run {run_id} to {path}")

    def _export_finished(self) -> None:
        self.export_thread = None
        self._update_buttons()

    def export_plots(self, ids, folder: str | Path, metric: str = "combined") -> list[Path]:
        """Write the compare view's plots of ``ids`` as PNG and SVG into ``folder``."""
        if not self._store_ready():
            return []
        try:
            runs, epochs = self.load_runs(ids)
            dialog = CompareDialog(runs, epochs, self, metric=metric)
        except Exception as exc:
            self.show_error(f"Cannot export the plots: {exc}")
            return []
        try:
            written = dialog.export_plots(folder)
        except Exception as exc:
            self.show_error(f"Cannot export the plots to {folder}: {exc}")
            return []
        finally:
            dialog.deleteLater()
        self.show_message(f"Wrote {len(written)} plot files to {folder}")
        return written

    # -------------------------------------------------------------- export: asking
    def _on_export_table(self, metric: str) -> None:
        default = str(Path.home() / f"results-{metric}.csv")
        path, chosen = QFileDialog.getSaveFileName(self, f"Export results table ({metric})", default,
                                                   ";;".join(TABLE_FILTERS), "", DIALOG_OPTIONS)
        if path:
            path = Path(path)
            if path.suffix.lower() not in (".csv", ".md", ".markdown", ".tex"):
                path = path.with_name(path.name + TABLE_FILTERS.get(chosen, ".csv"))
            self.export_table(self.selected_ids(), path, metric)

    def _on_export_model(self, fmt: str) -> None:
        ids = self.selected_ids()
        if len(ids) != 1:
            return
        default = str(Path.home() / f"cast-run-{ids[0]}-{fmt}")
        path, _ = QFileDialog.getSaveFileName(self, f"Export run {ids[0]} as {MODEL_FORMATS[fmt]}: new folder",
                                              default, "", "",
                                              DIALOG_OPTIONS | QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self.export_model_async(ids[0], fmt, path)

    def _on_export_plots(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export plots to folder", str(Path.home()), DIALOG_OPTIONS)
        if folder:
            self.export_plots(self.selected_ids(), folder)


def _delete_question(ids: list[int]) -> str:
    listed = ", ".join(f"#{run_id}" for run_id in ids[:10]) + (" …" if len(ids) > 10 else "")
    what = "this run" if len(ids) == 1 else f"these {len(ids)} runs"
    return (f"Delete {what} ({listed}) with their epochs and masks from the history?\n"
            "Saved model files stay in the artifacts folder. This cannot be undone.")


def _folder_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot receive an export, or None."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        return f"{folder} already exists and is not an empty folder: choose a new folder name."
    return None
