"""The Data page's preview of pairs: the table model, its word-diff delegate and the box around them.

``PairTableModel`` lists the pairs of one split (diff HTML in ``DIFF_HTML_ROLE``);
``DiffDelegate`` (diff_delegate.py) draws that rich text, elided to the lines that fit a row;
``PairPreview`` is the "Pairs" box: split chooser, colour legend and table.
"""

from __future__ import annotations

import dataclasses
import html
import re

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cast_engine.data import NLI_LABELS, SENTIMENT_LABELS, CadSplit
from cast_engine.data.diff import ADDED, PAIR_SEPARATOR, REMOVED, SAME, example_diff, example_text
from cast_engine.data.types import SPLITS

from .diff_delegate import DIFF_HTML_ROLE, PREVIEW_LINES, DiffDelegate, preview_row_height, visible_lines  # noqa: F401 (re-exported)
from .small_widgets import heading
from .table_views import lay_out_on_reset

#: HTML line breaks left in texts scraped from web pages (IMDb reviews): shown as a space in the preview.
_LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def readable(example):
    """``example`` as the preview shows it: '<br />' markup left in the text shown as a space (the model
    still reads the text as it is in the file)."""
    if example is None:
        return None
    a = _LINE_BREAK.sub(" ", example.text_a)
    b = _LINE_BREAK.sub(" ", example.text_b) if example.text_b is not None else None
    return example if (a, b) == (example.text_a, example.text_b) else dataclasses.replace(example, text_a=a, text_b=b)

REMOVED_STYLE = "color:#b3261e; text-decoration:line-through; background-color:#fde7e7;"
ADDED_STYLE = "color:#1e6b2a; font-weight:bold; background-color:#dcf2df;"
SEPARATOR_STYLE = "color:#8a8a8a; font-weight:bold;"


def diff_html(segments: list[tuple[str, str]], side: str) -> str:
    """Rich text of one side ("factual" or "revision") of word_diff segments, changes highlighted."""
    hidden = ADDED if side == "factual" else REMOVED
    parts = []
    for op, text in segments:
        if op == hidden:
            continue
        escaped = html.escape(text).replace(html.escape(PAIR_SEPARATOR.strip()), f'<span style="{SEPARATOR_STYLE}">‖</span>')
        if op == SAME:
            parts.append(escaped)
            continue
        core = escaped.strip()  # whitespace stays outside the highlight
        lead, trail = escaped[: len(escaped) - len(escaped.lstrip())], escaped[len(escaped.rstrip()):]
        style = REMOVED_STYLE if op == REMOVED else ADDED_STYLE
        parts.append(f'{lead}<span style="{style}">{core}</span>{trail}' if core else escaped)
    return "".join(parts)


class PairTableModel(QAbstractTableModel):
    """The pairs of one split: pair number, both labels, both texts (diff HTML in DIFF_HTML_ROLE)."""

    HEADERS = ("Pair", "Factual\nlabel", "Counterfactual\nlabel", "Factual text", "Revision")
    FACTUAL_TEXT, REVISION_TEXT = 3, 4

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._split: CadSplit | None = None
        self._labels: list[str] = []
        self._rows: list[tuple[int, int | None]] = []
        self._html: dict[int, tuple[str, str]] = {}

    def set_split(self, split: CadSplit | None, labels: list[str]) -> None:
        """Show the pairs of ``split`` (its factual examples alone when it has no pairs)."""
        self.beginResetModel()
        self._split, self._labels, self._html = split, list(labels), {}
        if split is None:
            self._rows = []
        elif split.pairs:
            self._rows = list(split.pairs)
        else:
            self._rows = [(i, None) for i in range(len(split.factual))]
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 (Qt naming)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self._split is None:
            return None
        row, column = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column < self.FACTUAL_TEXT:
            return int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        if column >= self.FACTUAL_TEXT and role == DIFF_HTML_ROLE:
            return self.row_html(row)[column - self.FACTUAL_TEXT]
        if column >= self.FACTUAL_TEXT and role == Qt.ItemDataRole.ToolTipRole:
            return f"<p>{self.row_html(row)[column - self.FACTUAL_TEXT]}</p>"
        return None

    def _display(self, row: int, column: int) -> str:
        f, c = self._rows[row]
        factual = self._split.factual[f]
        revised = self._split.counterfactual[c] if c is not None else None
        if column == 0:
            return str(row + 1)
        if column == 1:
            return self._labels[factual.label]
        if column == 2:
            return self._labels[revised.label] if revised else "—"
        if column == 3:
            return example_text(readable(factual))
        return example_text(readable(revised)) if revised else ""

    def row_html(self, row: int) -> tuple[str, str]:
        """(factual HTML, revision HTML) of a row, changed words highlighted; cached."""
        if row not in self._html:
            f, c = self._rows[row]
            factual = readable(self._split.factual[f])
            if c is None:
                self._html[row] = (html.escape(example_text(factual)), "")
            else:
                segments = example_diff(factual, readable(self._split.counterfactual[c]))
                self._html[row] = (diff_html(segments, "factual"), diff_html(segments, "revision"))
        return self._html[row]


class PairPreview(QWidget):
    """The "Pairs" box: a split chooser, the legend of the diff colours and the table of pairs."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(heading("Pairs"))
        top.addWidget(QLabel("split"))
        self.split_combo = QComboBox()
        self.split_combo.addItems(list(SPLITS))
        top.addWidget(self.split_combo)
        self.legend_label = QLabel(
            f'changed words: <span style="{REMOVED_STYLE}">removed</span> '
            f'<span style="{ADDED_STYLE}">added</span> — hover a text for all of it'
        )
        top.addWidget(self.legend_label)
        top.addStretch(1)
        layout.addLayout(top)
        self.model = PairTableModel(self)
        self.delegate = DiffDelegate(self)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setItemDelegate(self.delegate)
        setup_preview(self.view)
        lay_out_on_reset(self.view)
        layout.addWidget(self.view, 1)


def setup_preview(view: QTableView) -> None:
    """Fixed-height rows of PREVIEW_LINES lines, narrow number and label columns, wide texts."""
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setAlternatingRowColors(True)
    view.setWordWrap(True)
    view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    rows = view.verticalHeader()
    rows.setVisible(False)
    rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    rows.setDefaultSectionSize(preview_row_height(view.fontMetrics().lineSpacing()))
    header = view.horizontalHeader()
    metrics = view.fontMetrics()
    words = [line for title in PairTableModel.HEADERS[:3] for line in title.split("\n")]
    label_width = max(metrics.horizontalAdvance(w) for w in words + SENTIMENT_LABELS + NLI_LABELS) + 20
    widths = [metrics.horizontalAdvance("99999") + 16, label_width, label_width]
    for column, width in enumerate(widths):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
        view.setColumnWidth(column, width)
    for column in (PairTableModel.FACTUAL_TEXT, PairTableModel.REVISION_TEXT):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
