"""The Pairs view: every test pair of a run (or the flip ledger between two runs or seed groups).

Counts per outcome at the top; filters by outcome, ledger category, gold label
pair and number of changed words; a table sorted by any column (confidence
included) whose texts show the changed words as the Data page does; below it the
selected original with all of its revisions (NLI) and the predictions. Pair rows
come from ``cast_engine.evaluate.pairs``, built on a worker thread with its own
store; the table is a Qt model/view pair, so a thousand pairs filter and scroll
without stalling the window.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QSortFilterProxyModel,
    Qt,
    QThread,
    Signal,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from cast_engine.data.diff import example_diff
from cast_engine.evaluate.pairs import (
    LEDGER,
    OUTCOMES,
    PairRow,
    count_outcomes,
    write_csv,
)

from .data_preview import (
    ADDED_STYLE,
    DIFF_HTML_ROLE,
    REMOVED_STYLE,
    DiffDelegate,
    diff_html,
)

SORT_ROLE = Qt.ItemDataRole.UserRole + 2
ALL = "all"
OUTCOME_COLOURS = {"both right": "#1e6b2a", "original only": "#8a5a00", "revision only": "#1f4e99", "both wrong": "#b3261e"}


@dataclass
class PairsRequest:
    """What to show: runs A (a seed group when several), optionally runs B, on an evaluation or the test split."""

    runs_a: list[int]
    runs_b: list[int] | None = None
    evaluation: str | None = None

    def title(self) -> str:
        on = f"evaluation '{self.evaluation}'" if self.evaluation else "test split"
        a = _runs_text(self.runs_a)
        if not self.runs_b:
            return f"Pairs — {a} on its {on}"
        return f"Flip ledger — A: {a}, B: {_runs_text(self.runs_b)} on the {on}"


def _runs_text(ids: Sequence[int]) -> str:
    return f"run {ids[0]}" if len(ids) == 1 else "runs " + ", ".join(map(str, ids)) + " (seed group)"


@dataclass
class LoadedPairs:
    """What the worker thread hands back: the rows, the examples behind them, ledger counts if any."""

    rows: list[PairRow]
    split: object
    source: str
    ledger: object | None = None


def load_pairs(store, request: PairsRequest) -> LoadedPairs:
    """Pair rows (or the ledger) for ``request`` from ``store`` (runs on the worker thread)."""
    from cast_engine.evaluate.pairs import combine_seeds, flip_ledger, pair_rows
    from cast_engine.evaluate.sources import run_pair_data

    a = combine_seeds([run_pair_data(store, run_id, request.evaluation) for run_id in request.runs_a])
    if not request.runs_b:
        return LoadedPairs(pair_rows(a), a.split, a.source)
    b = combine_seeds([run_pair_data(store, run_id, request.evaluation) for run_id in request.runs_b])
    ledger = flip_ledger(a, b)
    return LoadedPairs(ledger.rows, a.split, a.source, ledger)


class PairsLoader(QThread):
    """Builds the pair rows off the GUI thread (reading texts and diffing them takes a while)."""

    loaded = Signal(object)
    failed = Signal(str)

    def __init__(self, db_path: Path, request: PairsRequest):
        super().__init__()
        self.db_path, self.request = Path(db_path), request

    def run(self) -> None:  # on the worker thread
        from cast_engine.store import RunStore

        try:
            with RunStore(self.db_path) as store:
                self.loaded.emit(load_pairs(store, self.request))
        except Exception as exc:  # shown in the window, which stays usable
            self.failed.emit(str(exc))


class PairsModel(QAbstractTableModel):
    """The pair rows; texts as diff HTML (DIFF_HTML_ROLE, made when a row is first drawn)."""

    BASE = ("Group", "Gold (orig. → rev.)", "Original", "Revision", "Predicted", "Confidence", "Outcome",
            "Followed flip", "Changed words")
    LEDGER_EXTRA = ("B predicted", "B outcome", "Ledger")
    ORIGINAL, REVISION = 2, 3

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[PairRow] = []
        self.split = None
        self.ledger = False
        self._html: dict[int, tuple[str, str]] = {}

    def set_rows(self, rows: list[PairRow], split, ledger: bool) -> None:
        self.beginResetModel()
        self.rows, self.split, self.ledger, self._html = rows, split, ledger, {}
        self.endResetModel()

    def headers(self) -> tuple[str, ...]:
        return self.BASE + (self.LEDGER_EXTRA if self.ledger else ())

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.headers())

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.headers()[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        row, column = self.rows[index.row()], index.column()
        if role == DIFF_HTML_ROLE and column in (self.ORIGINAL, self.REVISION):
            return self.row_html(index.row())[column - self.ORIGINAL]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.display(row, column)
        if role == SORT_ROLE:
            return self.sort_key(row, column)
        if role == Qt.ItemDataRole.ForegroundRole and column == 6:
            from PySide6.QtGui import QColor

            return QColor(OUTCOME_COLOURS[row.outcome])
        if role == Qt.ItemDataRole.ToolTipRole and column in (self.ORIGINAL, self.REVISION):
            return f"<p>{self.row_html(index.row())[column - self.ORIGINAL]}</p>"
        return None

    def display(self, row: PairRow, column: int) -> str:
        confidence = row.confidence
        values = [f"#{row.group}", row.label_pair, row.original, row.revision,
                  f"{row.predicted_original} → {row.predicted_revision}",
                  "–" if confidence is None else f"{confidence:.2f}", row.outcome,
                  {True: "yes", False: "no", None: "–"}[row.followed_flip], str(row.changed_words)]
        if self.ledger:
            values += [f"{row.other['predicted_original']} → {row.other['predicted_revision']}", row.other["outcome"],
                       row.other["ledger"]]
        return values[column]

    def sort_key(self, row: PairRow, column: int):
        if column == 0:
            return (row.group, row.pair)
        if column == 5:
            return -1.0 if row.confidence is None else row.confidence
        if column == 8:
            return row.changed_words
        return self.display(row, column)

    def row_html(self, number: int) -> tuple[str, str]:
        """(original, revision) with the changed words highlighted, as on the Data page."""
        if number not in self._html:
            row = self.rows[number]
            segments = example_diff(self.split.factual[row.factual_index], self.split.counterfactual[row.counterfactual_index])
            self._html[number] = (diff_html(segments, "factual"), diff_html(segments, "revision"))
        return self._html[number]


class PairsFilter(QSortFilterProxyModel):
    """Outcome, ledger category, gold label pair and a range of changed words; sorts by SORT_ROLE."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.outcome = ALL
        self.ledger = ALL
        self.label_pair = ALL
        self.min_changed = 0
        self.max_changed = 10**6

    def set_filters(self, **values) -> None:
        for name, value in values.items():
            setattr(self, name, value)
        self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:
        row = self.sourceModel().rows[source_row]
        return ((self.outcome == ALL or row.outcome == self.outcome)
                and (self.ledger == ALL or row.other.get("ledger") == self.ledger)
                and (self.label_pair == ALL or row.label_pair == self.label_pair)
                and self.min_changed <= row.changed_words <= self.max_changed)

    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        try:
            return a < b
        except TypeError:
            return str(a) < str(b)


class PairsWindow(QDialog):
    """A window with the pairs of one run or seed group, or the flip ledger between two."""

    ready = Signal()

    def __init__(self, db_path: Path, request: PairsRequest, parent: QWidget | None = None):
        super().__init__(parent)
        self.db_path, self.request = Path(db_path), request
        self.loaded: LoadedPairs | None = None
        self.error: str | None = None
        self.setWindowTitle(request.title())
        self.resize(1200, 760)
        self.model = PairsModel(self)
        self.proxy = PairsFilter(self)
        self.proxy.setSourceModel(self.model)
        self._build()
        self.loader = PairsLoader(self.db_path, request)
        self.loader.loaded.connect(self._show_loaded)
        self.loader.failed.connect(self._show_failure)
        self.loader.start()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        self.counts_label = QLabel("Reading the pairs…")
        self.counts_label.setTextFormat(Qt.TextFormat.RichText)
        self.counts_label.setWordWrap(True)
        self.outcome_combo = QComboBox()
        self.outcome_combo.addItems([ALL, *OUTCOMES])
        self.ledger_combo = QComboBox()
        self.ledger_combo.addItems([ALL, *LEDGER])
        self.ledger_combo.setVisible(bool(self.request.runs_b))
        self.label_combo = QComboBox()
        self.label_combo.addItem(ALL)
        self.min_spin, self.max_spin = QSpinBox(), QSpinBox()
        for spin, value in ((self.min_spin, 0), (self.max_spin, 9999)):
            spin.setRange(0, 9999)
            spin.setValue(value)
        self.csv_button = QPushButton("Export CSV…")
        self.shown_label = QLabel()
        for combo in (self.outcome_combo, self.ledger_combo, self.label_combo):
            combo.currentTextChanged.connect(self._apply_filters)
        for spin in (self.min_spin, self.max_spin):
            spin.valueChanged.connect(self._apply_filters)
        self.csv_button.clicked.connect(self._on_export)
        filters = QHBoxLayout()
        filters.addWidget(QLabel("Outcome"))
        filters.addWidget(self.outcome_combo)
        if self.request.runs_b:
            filters.addWidget(QLabel("Ledger"))
            filters.addWidget(self.ledger_combo)
        filters.addWidget(QLabel("Gold labels"))
        filters.addWidget(self.label_combo)
        filters.addWidget(QLabel("Changed words from"))
        filters.addWidget(self.min_spin)
        filters.addWidget(QLabel("to"))
        filters.addWidget(self.max_spin)
        filters.addStretch(1)
        filters.addWidget(self.shown_label)
        filters.addWidget(self.csv_button)
        legend = QLabel(f'changed words: <span style="{REMOVED_STYLE}">removed</span> '
                        f'<span style="{ADDED_STYLE}">added</span> — click a column title to sort (Confidence: the '
                        "lower probability of the two predictions)")
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setItemDelegate(DiffDelegate(self))
        setup_pairs_view(self.view)
        self.view.setSortingEnabled(True)
        self.view.selectionModel().currentRowChanged.connect(self._show_detail)
        self.detail = QTextBrowser()
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.view)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.counts_label)
        layout.addLayout(filters)
        layout.addWidget(legend)
        layout.addWidget(split, 1)

    # ------------------------------------------------------------------ loading
    def _show_loaded(self, loaded: LoadedPairs) -> None:
        self.loaded = loaded
        self.model.set_rows(loaded.rows, loaded.split, loaded.ledger is not None)
        pairs = sorted({row.label_pair for row in loaded.rows})
        self.label_combo.blockSignals(True)
        self.label_combo.clear()
        self.label_combo.addItems([ALL, *pairs])
        self.label_combo.blockSignals(False)
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.counts_label.setText(self.counts_html())
        self._update_shown()
        self.ready.emit()

    def _show_failure(self, message: str) -> None:
        self.error = message
        self.counts_label.setText(f'<span style="color:#b3261e">Cannot show the pairs: {html.escape(message)}</span>')
        self.ready.emit()

    def counts_html(self) -> str:
        """The counts at the top: per outcome (adding up to the pairs), followed flips, ledger counts."""
        rows = self.loaded.rows
        counts = count_outcomes(rows)
        parts = [f'<b>{counts.total}</b> pairs ({html.escape(self.loaded.source)}): ']
        parts.append(", ".join(f'<span style="color:{OUTCOME_COLOURS[name]}">{name} <b>{counts.outcomes[name]}</b></span>'
                               for name in OUTCOMES))
        if counts.pair_accuracy is not None:
            parts.append(f"; pair accuracy <b>{100 * counts.pair_accuracy:.1f} %</b>")
        if counts.flipped:
            parts.append(f"; the gold label flips in {counts.flipped} pairs and the prediction followed in "
                         f"<b>{counts.followed}</b>")
        ledger = self.loaded.ledger
        if ledger is not None:
            parts.append("<br>Ledger (pairs): " + ", ".join(f"{k} <b>{v}</b>" for k, v in ledger.categories.items()))
            parts.append(f"; McNemar's counts over {ledger.n_examples} examples: A right and B wrong "
                         f"<b>{ledger.a_right_b_wrong}</b>, A wrong and B right <b>{ledger.a_wrong_b_right}</b>")
        return "".join(parts)

    # ------------------------------------------------------------------ filters
    def _apply_filters(self, *_) -> None:
        self.proxy.set_filters(outcome=self.outcome_combo.currentText(), ledger=self.ledger_combo.currentText(),
                               label_pair=self.label_combo.currentText() or ALL,
                               min_changed=self.min_spin.value(), max_changed=self.max_spin.value())
        self._update_shown()

    def _update_shown(self) -> None:
        self.shown_label.setText(f"{self.proxy.rowCount()} of {self.model.rowCount()} shown")

    def shown_rows(self) -> list[PairRow]:
        """The rows as the table shows them now (filtered, in the current order)."""
        return [self.model.rows[self.proxy.mapToSource(self.proxy.index(i, 0)).row()] for i in range(self.proxy.rowCount())]

    # ------------------------------------------------------------------ detail
    def _show_detail(self, current: QModelIndex, _previous: QModelIndex = QModelIndex()) -> None:
        if not current.isValid():
            self.detail.clear()
            return
        self.detail.setHtml(self.group_html(self.proxy.mapToSource(current).row()))

    def group_html(self, number: int) -> str:
        """The original of row ``number`` with every revision of it, changes highlighted."""
        row = self.model.rows[number]
        members = [i for i, other in enumerate(self.model.rows) if other.group == row.group]
        head = (f"<p><b>Original #{row.group}</b> — gold {html.escape(row.gold_original)}, predicted "
                f"{html.escape(row.predicted_original)}{_confidence(row.confidence_original)}"
                + (f"; B predicted {html.escape(row.other['predicted_original'])}" if row.other else "")
                + f"<br>{self.model.row_html(number)[0]}</p>")
        parts = [head]
        for i in members:
            other = self.model.rows[i]
            mark = " ◀" if i == number else ""
            parts.append(f"<p><b>Revision</b> (pair {other.pair}{mark}) — gold {html.escape(other.gold_revision)}, "
                         f"predicted {html.escape(other.predicted_revision)}{_confidence(other.confidence_revision)}, "
                         f"<span style=\"color:{OUTCOME_COLOURS[other.outcome]}\">{other.outcome}</span>"
                         + (f"; B: {html.escape(other.other['outcome'])} ({other.other['ledger']})" if other.other else "")
                         + f"<br>{self.model.row_html(i)[1]}</p>")
        return "".join(parts)

    # ------------------------------------------------------------------ export
    def export_csv(self, path: str | Path) -> Path:
        """Write the shown rows (filters applied) as CSV."""
        return write_csv(self.shown_rows(), path)

    def _on_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export pairs as CSV", "pairs.csv", "CSV (*.csv)",
                                              options=QFileDialog.Option.DontUseNativeDialog)
        if path:
            try:
                written = self.export_csv(path)
            except Exception as exc:
                self.shown_label.setText(f"Cannot export: {exc}")
                return
            self.shown_label.setText(f"Wrote {self.proxy.rowCount()} pairs to {written}")

    def done(self, result: int) -> None:  # closing waits for a loader still reading
        if self.loader.isRunning():
            self.loader.wait()
        super().done(result)


def _confidence(value) -> str:
    return "" if value is None else f" ({value:.2f})"


def setup_pairs_view(view: QTableView) -> None:
    """The Data page's row layout (fixed rows of a few lines, diff texts stretched), these columns' widths."""
    from PySide6.QtWidgets import QAbstractItemView, QHeaderView

    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setAlternatingRowColors(True)
    view.setWordWrap(True)
    view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    rows = view.verticalHeader()
    rows.setVisible(False)
    rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    from .data_preview import preview_row_height

    rows.setDefaultSectionSize(preview_row_height(view.fontMetrics().lineSpacing()))
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    for column in (PairsModel.ORIGINAL, PairsModel.REVISION):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
    metrics = view.fontMetrics()
    for column, sample in ((0, "#9999"), (1, "contradiction → neutral"), (4, "contradiction → neutral"),
                           (5, "Confidence"), (6, "original only"), (7, "Followed flip"), (8, "Changed words")):
        view.setColumnWidth(column, metrics.horizontalAdvance(sample) + 18)
