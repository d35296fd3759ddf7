"""History: every run in the store, filtered, sorted, compared, deleted and exported.

The table's model (``history_table``) asks the store for the ordered ids of
the runs the filters let through and fetches only the rows on screen, so a
store of 100,000 runs opens as quickly as a small one; filters and sorting are
SQL. The user picks the columns (the header's context menu). "Group seeds"
shows a second table (``history_groups``) with one row per group of runs that
differ only in seed; what the page does to selected rows there it does to the
groups' runs. Tables, model exports and config diffs are computed by
``cast_engine``; the page shows them and calls it. Actions that ask the user go
through ``confirm`` and ``show_error``, which tests replace. The table's model
lives in ``history_table``, its filter row in ``history_filters``, the model
export thread in ``history_export``.
"""

from __future__ import annotations

import dataclasses

from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cast_engine.errors import StoreError
from cast_engine.runs.folders import delete_run

from ..store_access import open_store
from .compare import CompareDialog
from .history_analysis import AnalysisBar
from .history_export import (MODEL_FORMATS, ModelExportThread, export_model_with, folder_problem, keep_export,
                             model_problem)
from .history_filters import RunFilterBar
from .history_groups import ALWAYS_SHOWN, GROUP_COLUMN, GroupTableModel
from .history_table import COLUMN, COLUMNS, ID_ROLE, RunTableModel, fit_columns
from .run_format import METRICS
from .table_views import lay_out_on_reset, paint_after_reset

TABLE_FILTERS = {"CSV (*.csv)": ".csv", "Markdown (*.md)": ".md", "LaTeX (*.tex)": ".tex"}
DIALOG_OPTIONS = QFileDialog.Option.DontUseNativeDialog


# ------------------------------------------------------------------ page

class HistoryPage(QWidget):
    """The run history: a filtered, sortable table of every run and what to do with them."""

    resume_requested = Signal(int, dict)  # run id, its stored config: continue it from its checkpoint
    columns_changed = Signal(list)  # the keys of the columns shown, after the user picked columns

    def __init__(self, db_path: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.db_path = Path(db_path)
        self.store = None
        self.compare_dialogs: list[CompareDialog] = []
        self.export_thread: ModelExportThread | None = None
        self.model = RunTableModel(self)
        self.proxy = self.model  # what the view shows (filtered and sorted by the model itself)
        self.groups = GroupTableModel(self)  # the table with seeds grouped, filled while it shows
        self.grouped = False
        self._kept_selection: list[int] = []
        self._kept_groups: list[int] = []
        self._sized = self._groups_sized = False
        self._stale = False  # runs changed while the page was hidden: refresh when it shows
        self._build_filters()
        self.analysis = AnalysisBar(self)
        self.analysis.evaluation_changed.connect(lambda _: self.refresh())
        self.analysis.group_check.toggled.connect(self.set_grouped)
        self._build_view()
        self._build_actions()
        self._build_layout()
        self.model.modelAboutToBeReset.connect(self._keep_selection)
        self.model.modelReset.connect(self._restore_selection)
        self.groups.modelAboutToBeReset.connect(self._keep_group_selection)
        self.groups.modelReset.connect(self._restore_group_selection)
        # The table's cells (15-30 ms on a 2-core CPU) paint in the turn after a filter's query and the page's repaint.
        self.stagger = paint_after_reset([self.model, self.groups], self.views, self)
        self._open_store()
        self.refresh()

    # -------------------------------------------------------------- building
    def _build_filters(self) -> None:
        self.filters = RunFilterBar()
        for name in RunFilterBar.PARTS:  # the filters under the page's names
            setattr(self, name, getattr(self.filters, name))
        self.filters.changed.connect(self._apply_filters)

    def _build_view(self) -> None:
        self.view = self._table_view(self.model, COLUMN["id"])
        self.group_view = self._table_view(self.groups, GROUP_COLUMN["runs"])
        self.views = QStackedWidget()
        self.views.addWidget(self.view)
        self.views.addWidget(self.group_view)
        self.show_columns([column.key for column in COLUMNS if column.shown])
        self.view.doubleClicked.connect(lambda index: self.compare_runs([index.data(ID_ROLE)]))
        self.view.horizontalHeader().sortIndicatorChanged.connect(lambda *_: self._show_start())
        self.group_view.doubleClicked.connect(lambda index: self.compare_runs(self.groups.run_ids(index.row())))

    def _table_view(self, model, newest_column: int) -> QTableView:
        """A view of ``model`` (runs or seed groups): rows selected whole, sorted newest first."""
        view = QTableView()
        view.setModel(model)
        view.setSortingEnabled(True)
        view.sortByColumn(newest_column, Qt.SortOrder.DescendingOrder)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setAlternatingRowColors(True)
        view.setWordWrap(False)
        view.verticalHeader().setVisible(False)
        view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 8)
        header = view.horizontalHeader()
        header.setHighlightSections(False)
        header.setResizeContentsPrecision(200)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(lambda point: self.column_menu().exec(header.mapToGlobal(point)))
        view.selectionModel().selectionChanged.connect(self._update_buttons)
        lay_out_on_reset(view)
        return view

    def _build_actions(self) -> None:
        self.refresh_button = QPushButton("Refresh")
        self.compare_button = QPushButton("Compare")
        self.delete_button = QPushButton("Delete")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the selected interrupted, cancelled or failed run from the checkpoint "
                                      "of its last completed epoch (as `cast resume RUN`).")
        self.export_button = QPushButton("Export")
        self.export_menu = QMenu(self)
        table_menu = self.export_menu.addMenu("Results table (mean ± std over seeds)")
        self.table_actions = {m: table_menu.addAction(f"{m.capitalize()} accuracy…") for m in METRICS}
        self.model_actions = {fmt: self.export_menu.addAction(f"Model as {label}…") for fmt, label in MODEL_FORMATS.items()}
        self.plots_action = self.export_menu.addAction("Plots of the compare view (PNG + SVG)…")
        self.export_menu.setToolTipsVisible(True)  # a disabled model export says why
        self.export_button.setMenu(self.export_menu)
        self.refresh_button.clicked.connect(self.refresh)
        self.compare_button.clicked.connect(lambda: self.compare_runs(sorted(self.selected_ids())))
        self.delete_button.clicked.connect(lambda: self.delete_runs(self.selected_ids()))
        self.resume_button.clicked.connect(self.resume_selected)
        for metric, action in self.table_actions.items():
            action.triggered.connect(lambda _=False, m=metric: self._on_export_table(m))
        for fmt, action in self.model_actions.items():
            action.triggered.connect(lambda _=False, f=fmt: self._on_export_model(f))
        self.plots_action.triggered.connect(self._on_export_plots)
        self.count_label = QLabel()
        self.message_label = QLabel()
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def _build_layout(self) -> None:
        buttons = QHBoxLayout()
        buttons.addWidget(self.count_label)
        buttons.addSpacing(12)
        buttons.addWidget(self.message_label, 1)
        for button in (self.refresh_button, self.compare_button, self.resume_button, self.export_button, self.delete_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.filters)
        layout.addWidget(self.analysis)
        layout.addWidget(self.views, 1)
        layout.addLayout(buttons)

    def _open_store(self) -> None:
        try:
            self.store = open_store(self.db_path)
        except Exception as exc:
            self.show_error(f"Cannot open the run store {self.db_path}: {exc}")
            return
        self.model.conn = self.store.db.conn

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
        """Ask the store again (new runs, new statuses), keeping the selection, sort and filters."""
        if self.store is None:
            return
        try:
            self.store.mark_interrupted()
            self.analysis.offer(self.store)
            self.model.where = dataclasses.replace(self.model.where, evaluation=self.analysis.evaluation())
            self.model.reload()
            self.filters.offer(self.model)
            if self.grouped:
                self._reload_groups()
        except StoreError as exc:
            self.show_error(f"Cannot read the run store: {exc}")
            return
        if self.model.rowCount():  # new runs may bring wider cells (a first α, a longer name): widen, never narrow
            fit_columns(self.view, self.model, grow_only=self._sized)
            self._sized = True
        self._fit_groups()
        self._update_count()
        self._update_buttons()

    def refresh_when_seen(self) -> None:
        """Refresh now if the page shows, else when it is next shown: a sweep records a run after
        every trial, and re-reading a large store for a hidden table stalled the window."""
        if self.isVisible():
            self.refresh()
        else:
            self._stale = True

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        self.stagger.hold(first_now=False)
        if self._stale:
            self._stale = False
            self.refresh()

    def _apply_filters(self, *_: Any) -> None:
        try:
            self.model.set_filter(**self.filters.values())
            if self.grouped:
                self._reload_groups()
        except StoreError as exc:
            self.show_error(f"Cannot read the run store: {exc}")
        self._show_start()
        self._update_count()
        self._update_buttons()

    def _update_count(self) -> None:
        if self.grouped:
            groups, runs = self.groups.rowCount(), self.groups.run_count
            self.count_label.setText(f"{groups:,} seed group{'s' if groups != 1 else ''} of {runs:,} completed "
                                     f"run{'s' if runs != 1 else ''}")
            return
        shown, total = self.model.rowCount(), self.model.total
        self.count_label.setText(f"{total:,} runs" if shown == total else f"{shown:,} of {total:,} runs shown")

    # -------------------------------------------------------------- seed groups
    def set_grouped(self, on: bool) -> None:
        """Show one row per seed group (``on``) or one per run, keeping the selected runs selected."""
        if on == self.grouped:
            return
        ids = self.selected_ids()
        self.grouped = on
        self.analysis.group_check.setChecked(on)
        if on:
            try:
                self._reload_groups()
            except StoreError as exc:
                self.show_error(f"Cannot read the run store: {exc}")
            self._fit_groups()
        self.views.setCurrentWidget(self.group_view if on else self.view)
        self.select_runs(ids)
        self._update_count()

    def _fit_groups(self) -> None:
        """Fit the grouped table's columns once it has rows; later only widen them."""
        if self.grouped and self.groups.rowCount():
            fit_columns(self.group_view, self.groups, grow_only=self._groups_sized)
            self._groups_sized = True

    def _reload_groups(self) -> None:
        """Group the runs the filters let through (raises ``StoreError``)."""
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)  # a large store takes a moment
        try:
            self.groups.reload(self.model.conn, self.model.where)
        finally:
            QApplication.restoreOverrideCursor()

    # -------------------------------------------------------------- columns
    def shown_columns(self) -> list[str]:
        """Keys of the columns shown, in column order."""
        return [column.key for index, column in enumerate(COLUMNS) if not self.view.isColumnHidden(index)]

    def show_columns(self, keys) -> None:
        """Show the columns ``keys`` (unknown keys are ignored; the ID column always shows)."""
        wanted = {*keys, "id", *ALWAYS_SHOWN}
        tables = ((self.view, self.model, self._sized), (self.group_view, self.groups, self._groups_sized))
        for view, model, sized in tables:
            newly = []
            for index, column in enumerate(model.columns):
                hidden = column.key not in wanted
                if view.isColumnHidden(index) and not hidden:
                    newly.append(index)
                view.setColumnHidden(index, hidden)
            if newly and sized:
                fit_columns(view, model, newly)

    def column_menu(self) -> QMenu:
        """The header's context menu: one ticked entry per column."""
        menu = QMenu(self)
        shown = set(self.shown_columns())
        for column in COLUMNS[1:]:
            what = column.tip.split(" (")[0]  # "CAST's α: the share ..." without its "(method.alpha ...)"
            action = menu.addAction(f"{column.title}: {what}" if what else column.title)
            action.setCheckable(True)
            action.setChecked(column.key in shown)
            action.toggled.connect(lambda on, key=column.key: self._toggle_column(key, on))
        return menu

    def _toggle_column(self, key: str, on: bool) -> None:
        shown = [k for k in self.shown_columns() if k != key] + ([key] if on else [])
        self.show_columns(shown)
        self.columns_changed.emit(self.shown_columns())

    # -------------------------------------------------------------- selection
    def selected_ids(self) -> list[int]:
        """Ids of the selected runs, in the order shown (with seeds grouped: the selected groups' runs)."""
        return self._group_view_ids() if self.grouped else self._run_view_ids()

    def _run_view_ids(self) -> list[int]:
        rows = sorted(index.row() for index in self.view.selectionModel().selectedRows())
        return [run_id for run_id in map(self.model.run_id, rows) if run_id is not None]

    def _group_view_ids(self) -> list[int]:
        rows = sorted(index.row() for index in self.group_view.selectionModel().selectedRows())
        return [run_id for row in rows for run_id in self.groups.run_ids(row)]

    def visible_ids(self) -> list[int]:
        """Ids of the rows the filters let through, in the order shown."""
        return self.model.run_ids()

    def _show_start(self) -> None:
        """After a new sort or filter, show the first selected run, else the start of the new order, as
        paged run tables do. Staying at the old scroll position (say, the end) read every id of the new
        order for rows the user had not asked to see: 20-40 ms over 10,000 runs."""
        selected = sorted(index.row() for index in self.view.selectionModel().selectedRows())
        if selected:
            self.view.scrollTo(self.model.index(selected[0], 0))
        else:
            self.view.scrollToTop()

    def _keep_selection(self) -> None:
        self._kept_selection = self._run_view_ids()

    def _restore_selection(self) -> None:
        if self._kept_selection:
            self._select(self.view, self.model, self._kept_selection)
        self._update_buttons()

    def _keep_group_selection(self) -> None:
        self._kept_groups = self._group_view_ids()

    def _restore_group_selection(self) -> None:
        if self._kept_groups:
            self._select(self.group_view, self.groups, self._kept_groups)
        self._update_buttons()

    def select_runs(self, ids) -> None:
        """Select the rows of ``ids`` that are shown (and only those); with seeds grouped, their groups."""
        if self.grouped:
            self._select(self.group_view, self.groups, ids)
        else:
            self._select(self.view, self.model, ids)
        self._update_buttons()

    @staticmethod
    def _select(view: QTableView, model, ids) -> None:
        selection = QItemSelection()
        for row in {model.row_of(run_id) for run_id in ids} - {None}:
            index = model.index(row, 0)
            selection.select(index, index)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        view.selectionModel().select(selection, flags)

    def _update_buttons(self, *_: Any) -> None:
        count = len(self.selected_ids()) if self.grouped else len(self.view.selectionModel().selectedRows())
        busy = self.export_thread is not None
        self.compare_button.setEnabled(count >= 2)
        self.delete_button.setEnabled(count >= 1)
        self._update_resume_button()
        self.export_button.setEnabled(count >= 1)
        for action in self.table_actions.values():
            action.setEnabled(count >= 1)
        problem = model_problem(self._selected_run()) if count == 1 else "Select one completed run."
        for action in self.model_actions.values():
            action.setEnabled(problem is None and not busy)
            action.setToolTip(problem or "Export this run's trained model.")
        self.plots_action.setEnabled(count >= 1)
        self.analysis.update_buttons(count)

    def _selected_run(self) -> dict | None:
        ids = self.selected_ids()
        if len(ids) != 1 or self.store is None:
            return None
        try:
            return self.store.get_run(ids[0])
        except StoreError:
            return None

    def _update_resume_button(self) -> None:
        from cast_engine.runs.runner import resume_problem

        run = self._selected_run()
        if run is None or run["status"] in ("completed", "running"):
            self.resume_button.setEnabled(False)
            self.resume_button.setToolTip("Select one interrupted, cancelled or failed run to continue it from its last epoch.")
            return
        problem = resume_problem(run)
        self.resume_button.setEnabled(problem is None)
        self.resume_button.setToolTip(problem or f"Continue run {run['id']} from the checkpoint of its last completed epoch.")

    def resume_selected(self) -> None:
        """Ask the run queue to continue the selected run (the main window queues it)."""
        run = self._selected_run()
        if run is not None:
            self.resume_requested.emit(run["id"], run["config"])

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
        dialog = CompareDialog(runs, epochs, self, open_ledger=self.analysis.open_pairs)
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
                delete_run(self.store, run_id)
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
        problem = folder_problem(folder)
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
        problem = folder_problem(folder)
        if problem:
            self.show_error(problem)
            return None
        thread = ModelExportThread(self.db_path, run_id, fmt, folder)  # no parent: outlives a closed page
        keep_export(thread)
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
    return (f"Delete {what} ({listed}) with their epochs, masks and resume checkpoints from the history?\n"
            "Saved model files stay in the artifacts folder. This cannot be undone.")
