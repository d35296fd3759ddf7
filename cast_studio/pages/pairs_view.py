"""The Pairs view: every test pair of a run (or the flip ledger between two runs or seed groups).

Counts per outcome at the top; filters by outcome, ledger category, gold label
pair and number of changed words; a table sorted by any column (confidence
included) whose texts show the changed words as the Data page does; below it the
selected original with all of its revisions (NLI) and the predictions. Pair rows
come from ``cast_engine.runs.pairs``, built on a worker thread with its own
store; the table is a Qt model/view pair, so a thousand pairs filter and scroll
without stalling the window.
"""

from __future__ import annotations

import html
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, QThread, QTimer, Signal
from PySide6.QtGui import QColor
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

from cast_engine.data.diff import ADDED, REMOVED, SAME
from cast_engine.runs.pairs import (
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
from .table_views import lay_out_on_reset, paint_after_reset

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
    cells: tuple = ()  # PairsModel.prepare's texts, sort keys and row HTML, made on the loader thread


def load_pairs(store, request: PairsRequest) -> LoadedPairs:
    """Pair rows (or the ledger) for ``request`` from ``store`` (runs on the worker thread)."""
    from cast_engine.runs.pairs import combine_seeds, flip_ledger, pair_rows
    from cast_engine.runs.pair_data import run_pair_data

    a = combine_seeds([run_pair_data(store, run_id, request.evaluation) for run_id in request.runs_a])
    if not request.runs_b:
        rows = pair_rows(a)
        return LoadedPairs(rows, a.split, a.source, None, PairsModel.prepare(rows, False))
    b = combine_seeds([run_pair_data(store, run_id, request.evaluation) for run_id in request.runs_b])
    ledger = flip_ledger(a, b)
    return LoadedPairs(ledger.rows, a.split, a.source, ledger, PairsModel.prepare(ledger.rows, True))


class PairsLoader(QThread):
    """Builds the pair rows off the GUI thread (reading texts and diffing them takes a while)."""

    loaded = Signal(object)
    failed = Signal(str)

    def __init__(self, db_path: Path, request: PairsRequest):
        super().__init__()
        self.db_path, self.request = Path(db_path), request

    def run(self) -> None:  # on the worker thread
        from cast_engine.store import RunStore

        lower_thread_priority()
        try:
            with RunStore(self.db_path) as store:
                self.loaded.emit(load_pairs(store, self.request))
        except Exception as exc:  # shown in the window, which stays usable
            self.failed.emit(str(exc))


def lower_thread_priority() -> None:
    """Let the GUI thread go first: this thread diffs a thousand texts in Python, and on a busy
    machine the operating system would otherwise hand the interpreter back to it (Linux nices
    threads one by one; elsewhere this does nothing)."""
    import os
    import threading

    if hasattr(os, "setpriority") and sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except OSError:
            pass  # not allowed here: the loader just runs at the usual priority


class PairsModel(QAbstractTableModel):
    """The pair rows, filtered and sorted here (not by a proxy calling Python per comparison).

    Cell texts and sort keys are made once per row when the rows arrive; filtering is one
    pass over them and sorting one ``sorted`` call, so a thousand pairs refilter at once.
    Texts are diff HTML in DIFF_HTML_ROLE, made when a row is first drawn.
    """

    BASE = ("Group", "Gold (orig. → rev.)", "Original", "Revision", "Predicted", "Confidence", "Outcome",
            "Followed flip", "Changed words")
    LEDGER_EXTRA = ("B predicted", "B outcome", "Ledger")
    ORIGINAL, REVISION, OUTCOME = 2, 3, 6

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[PairRow] = []
        self.split = None
        self.ledger = False
        self.visible: list[int] = []  # indices into rows, in the order shown
        self.filters = {"outcome": ALL, "ledger": ALL, "label_pair": ALL, "min_changed": 0, "max_changed": 10**6}
        self.sort_column, self.sort_order = 0, Qt.SortOrder.AscendingOrder
        self._headers: tuple[str, ...] = self.BASE
        self._texts: list[tuple[str, ...]] = []
        self._keys: list[tuple] = []
        self._html: dict[int, tuple[str, str]] = {}
        self._colours = {name: QColor(colour) for name, colour in OUTCOME_COLOURS.items()}

    def set_rows(self, rows: list[PairRow], split, ledger: bool, cells: tuple = ()) -> None:
        """Show ``rows``; ``cells`` is prepare(rows, ledger) when a worker thread made it already."""
        texts, keys, html_rows = cells or self.prepare(rows, ledger)
        self.beginResetModel()
        self.rows, self.split, self.ledger = rows, split, ledger
        self._html = dict(enumerate(html_rows))
        self._headers = self.BASE + (self.LEDGER_EXTRA if ledger else ())
        self._texts, self._keys = texts, keys
        self.visible = self._filtered_sorted()
        self.endResetModel()

    @classmethod
    def prepare(cls, rows: list[PairRow], ledger: bool) -> tuple[list, list, list]:
        """Cell texts, sort keys and the table's diff HTML of every row (no Qt: runs on any thread)."""
        texts = [cls._row_texts(row, ledger) for row in rows]
        keys = [cls._row_keys(row, t) for row, t in zip(rows, texts)]
        html_rows = [tuple(diff_html(preview_segments(row.segments, side), side) for side in ("factual", "revision"))
                     for row in rows]
        return texts, keys, html_rows

    @staticmethod
    def _row_texts(row: PairRow, ledger: bool) -> tuple[str, ...]:
        confidence = row.confidence
        values = [f"#{row.group}", row.label_pair, row.original, row.revision,
                  f"{row.predicted_original} → {row.predicted_revision}",
                  "–" if confidence is None else f"{confidence:.2f}", row.outcome,
                  {True: "yes", False: "no", None: "–"}[row.followed_flip], str(row.changed_words)]
        if ledger:
            values += [f"{row.other['predicted_original']} → {row.other['predicted_revision']}", row.other["outcome"],
                       row.other["ledger"]]
        return tuple(values)

    @staticmethod
    def _row_keys(row: PairRow, texts: tuple[str, ...]) -> tuple:
        keys = list(texts)
        keys[0] = (row.group, row.pair)
        keys[5] = -1.0 if row.confidence is None else row.confidence
        keys[8] = row.changed_words
        return tuple(keys)

    # ------------------------------------------------------------------ filter and sort
    def set_filters(self, **values) -> None:
        """Outcome, ledger category, gold label pair ('A → B') and a range of changed words."""
        self.filters.update(values)
        self.beginResetModel()
        self.visible = self._filtered_sorted()
        self.endResetModel()

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:  # called by the view's header
        self.sort_column, self.sort_order = column, order
        self.layoutAboutToBeChanged.emit()
        self.visible = self._sorted(self.visible)
        self.layoutChanged.emit()

    def _filtered_sorted(self) -> list[int]:
        f = self.filters
        kept = [i for i, row in enumerate(self.rows)
                if (f["outcome"] == ALL or row.outcome == f["outcome"])
                and (f["ledger"] == ALL or row.other.get("ledger") == f["ledger"])
                and (f["label_pair"] == ALL or row.label_pair == f["label_pair"])
                and f["min_changed"] <= row.changed_words <= f["max_changed"]]
        return self._sorted(kept)

    def _sorted(self, indices: list[int]) -> list[int]:
        column = self.sort_column
        return sorted(indices, key=lambda i: self._keys[i][column],
                      reverse=self.sort_order == Qt.SortOrder.DescendingOrder)

    def row_at(self, position: int) -> PairRow:
        """The row shown at ``position``."""
        return self.rows[self.visible[position]]

    def shown_rows(self) -> list[PairRow]:
        return [self.rows[i] for i in self.visible]

    # ------------------------------------------------------------------ Qt model
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 (Qt naming)
        return 0 if parent.isValid() else len(self.visible)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._headers)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self._headers[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole:
            return self._texts[self.visible[index.row()]][index.column()]
        column = index.column()
        if role == DIFF_HTML_ROLE:
            if column == self.ORIGINAL or column == self.REVISION:
                return self.row_html(self.visible[index.row()])[column - self.ORIGINAL]
            return None
        if role == Qt.ItemDataRole.ForegroundRole and column == self.OUTCOME:
            return self._colours[self.rows[self.visible[index.row()]].outcome]
        if role == Qt.ItemDataRole.ToolTipRole and (column == self.ORIGINAL or column == self.REVISION):
            return f"<p>{self.full_html(self.visible[index.row()])[column - self.ORIGINAL]}</p>"
        return None

    def row_html(self, number: int) -> tuple[str, str]:
        """(original, revision) of rows[number] as the table shows them: a window of the text around
        its first change, the changed words highlighted as on the Data page."""
        if number not in self._html:
            segments = self.rows[number].segments  # diffed on the loader thread
            self._html[number] = tuple(diff_html(preview_segments(segments, side), side)
                                       for side in ("factual", "revision"))
        return self._html[number]

    def full_html(self, number: int) -> tuple[str, str]:
        """(original, revision) of rows[number] whole, changed words highlighted (the detail pane)."""
        segments = self.rows[number].segments
        return diff_html(segments, "factual"), diff_html(segments, "revision")


PREVIEW_CHARS = 360  # more than the four lines a row shows; a long review is laid out only this far
PREVIEW_BEFORE = 90  # characters of context kept before the first change


def preview_segments(segments: list[tuple[str, str]], side: str) -> list[tuple[str, str]]:
    """The part of one side of a word diff that a table row shows: from a little before the first
    changed word, PREVIEW_CHARS long, cut at spaces, with '…' where text was left out."""
    hidden = ADDED if side == "factual" else REMOVED
    shown = [(op, text) for op, text in segments if op != hidden]
    total = sum(len(text) for _, text in shown)
    if total <= PREVIEW_CHARS:
        return shown
    first_change, offset = 0, 0
    for op, text in shown:
        if op != SAME:
            first_change = offset
            break
        offset += len(text)
    start = max(0, first_change - PREVIEW_BEFORE)
    end = start + PREVIEW_CHARS
    trimmed, offset = [], 0
    for op, text in shown:
        low, high = max(start - offset, 0), min(end - offset, len(text))
        if low < high:
            piece = text[low:high]
            if low > 0 and offset + low == start and " " in piece:  # start at a word
                piece = piece[piece.index(" ") + 1:]
            trimmed.append((op, piece))
        offset += len(text)
    if start > 0:
        trimmed.insert(0, (SAME, "… "))
    if end < total:
        trimmed.append((SAME, " …"))
    return trimmed


class PairsWindow(QDialog):
    """A window with the pairs of one run or seed group, or the flip ledger between two."""

    ready = Signal()

    def __init__(self, db_path: Path, request: PairsRequest, parent: QWidget | None = None):
        super().__init__(parent)
        self.db_path, self.request = Path(db_path), request
        self.loaded: LoadedPairs | None = None
        self.error: str | None = None
        self._detail_row: int | None = None
        self.setWindowTitle(request.title())
        self.resize(1200, 760)
        self.model = PairsModel(self)
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
        self.view.setModel(self.model)
        delegate = DiffDelegate(self)  # only the two text columns: the others draw in C++
        self.view.setItemDelegateForColumn(PairsModel.ORIGINAL, delegate)
        self.view.setItemDelegateForColumn(PairsModel.REVISION, delegate)
        setup_pairs_view(self.view)
        lay_out_on_reset(self.view)
        self.stagger = paint_after_reset([self.model], self.view, self)  # the diff rows: the costliest paint
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
        self.model.set_rows(loaded.rows, loaded.split, loaded.ledger is not None, loaded.cells)
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
        parts = [f"<b>{html.escape(self.request.title())}</b><br>",
                 f'<b>{counts.total}</b> pairs ({html.escape(self.loaded.source)}): ']
        parts.append(", ".join(f'<span style="color:{OUTCOME_COLOURS[name]}">{name} <b>{counts.outcomes[name]}</b></span>'
                               for name in OUTCOMES))
        if counts.pair_accuracy is not None:
            parts.append(f"; pair accuracy <b>{100 * counts.pair_accuracy:.1f} %</b>")
        if counts.flipped:
            parts.append(f"; the gold label flips in {counts.flipped} pairs and the prediction "
                         f"{'of A ' if self.loaded.ledger is not None else ''}followed in <b>{counts.followed}</b>")
        ledger = self.loaded.ledger
        if ledger is not None:
            followed_b = sum(1 for row in rows if row.label_flipped and row.other.get("followed_flip"))
            both_right_b = sum(1 for row in rows if row.other.get("outcome") == OUTCOMES[0])
            parts.append(f"<br>B: both right <b>{both_right_b}</b> (pair accuracy {100 * both_right_b / max(len(rows), 1):.1f} %), "
                         f"followed the flip in <b>{followed_b}</b> of {counts.flipped}")
            parts.append("<br>Ledger (pairs): " + ", ".join(f"{k} <b>{v}</b>" for k, v in ledger.categories.items()))
            parts.append(f"; McNemar's counts over {ledger.n_examples} examples: A right and B wrong "
                         f"<b>{ledger.a_right_b_wrong}</b>, A wrong and B right <b>{ledger.a_wrong_b_right}</b>")
        return "".join(parts)

    # ------------------------------------------------------------------ filters
    def _apply_filters(self, *_) -> None:
        self.model.set_filters(outcome=self.outcome_combo.currentText(), ledger=self.ledger_combo.currentText(),
                               label_pair=self.label_combo.currentText() or ALL,
                               min_changed=self.min_spin.value(), max_changed=self.max_spin.value())
        self._update_shown()

    def _update_shown(self) -> None:
        self.shown_label.setText(f"{self.model.rowCount()} of {len(self.model.rows)} shown")

    def shown_rows(self) -> list[PairRow]:
        """The rows as the table shows them now (filtered, in the current order)."""
        return self.model.shown_rows()

    # ------------------------------------------------------------------ detail
    def _show_detail(self, current: QModelIndex, _previous: QModelIndex = QModelIndex()) -> None:
        # after the table has drawn the new selection: laying out a long review and its revisions is
        # an event of its own, not added to the repaint's
        self._detail_row = self.model.visible[current.row()] if current.isValid() else None
        QTimer.singleShot(0, self._fill_detail)

    def _fill_detail(self) -> None:
        if self._detail_row is None:
            self.detail.clear()
        else:
            self.detail.setHtml(self.group_html(self._detail_row))

    def group_html(self, number: int) -> str:
        """The original of row ``number`` with every revision of it, changes highlighted."""
        row = self.model.rows[number]
        members = [i for i, other in enumerate(self.model.rows) if other.group == row.group]
        head = (f"<p><b>Original #{row.group}</b> — gold {html.escape(row.gold_original)}, predicted "
                f"{html.escape(row.predicted_original)}{_confidence(row.confidence_original)}"
                + (f"; B predicted {html.escape(row.other['predicted_original'])}" if row.other else "")
                + f"<br>{self.model.full_html(number)[0]}</p>")
        parts = [head]
        for i in members:
            other = self.model.rows[i]
            mark = " ◀" if i == number else ""
            parts.append(f"<p><b>Revision</b> (pair {other.pair}{mark}) — gold {html.escape(other.gold_revision)}, "
                         f"predicted {html.escape(other.predicted_revision)}{_confidence(other.confidence_revision)}, "
                         f"<span style=\"color:{OUTCOME_COLOURS[other.outcome]}\">{other.outcome}</span>"
                         + (f"; B: {html.escape(other.other['outcome'])} ({other.other['ledger']})" if other.other else "")
                         + f"<br>{self.model.full_html(i)[1]}</p>")
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
            self.shown_label.setText(f"Wrote {self.model.rowCount()} pairs to {written}")

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
    from .diff_delegate import preview_row_height

    rows.setDefaultSectionSize(preview_row_height(view.fontMetrics().lineSpacing()))
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    for column in (PairsModel.ORIGINAL, PairsModel.REVISION):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
    metrics = view.fontMetrics()
    for column, sample in ((0, "#9999"), (1, "contradiction → neutral"), (4, "contradiction → neutral"),
                           (5, "Confidence"), (6, "original only"), (7, "Followed flip"), (8, "Changed words")):
        view.setColumnWidth(column, metrics.horizontalAdvance(sample) + 18)
