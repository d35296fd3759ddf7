"""The Data page: choose the CAD data, see its problems, sizes, labels and pairs.

A thin page: loading, statistics and word differences come from
``cast_engine.data``; the page runs them off the GUI thread and shows them.
"""

from __future__ import annotations

import dataclasses
import html
import os
import threading
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QModelIndex,
    QObject,
    QPointF,
    QRectF,
    QRunnable,
    QSize,
    Qt,
    QThread,
    QThreadPool,
    Signal,
)
from PySide6.QtGui import QAbstractTextDocumentLayout, QPainter, QPainterPath, QPalette, QTextDocument
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cast_engine.config import DataConfig
from cast_engine.data import NLI_LABELS, SENTIMENT_LABELS, TASKS, CadDataset, CadSplit, dataset_stats, download_cad, load_cad
from cast_engine.data.diff import ADDED, PAIR_SEPARATOR, REMOVED, SAME, example_diff, example_text
from cast_engine.data.download import UPSTREAM_BASE_URL, URL_ENV
from cast_engine.data.types import DEFAULT_VARIANTS, SPLITS, normalize_task, normalize_variant, variants_for
from cast_engine.errors import CastError, ConfigError, RunCancelled

TABLE_FILTER = "Tables (*.csv *.tsv *.txt *.jsonl *.json *.parquet);;All files (*)"
REMOVED_STYLE = "color:#b3261e; text-decoration:line-through; background-color:#fde7e7;"
ADDED_STYLE = "color:#1e6b2a; font-weight:bold; background-color:#dcf2df;"
SEPARATOR_STYLE = "color:#8a8a8a; font-weight:bold;"
PROBLEM_STYLE = "color:#c62828;"
BAR_COLOR = "#4a7fb5"
PREVIEW_LINES = 4  # text lines shown per preview row; the tooltip has the rest
DIFF_HTML_ROLE = Qt.ItemDataRole.UserRole + 1
TASK_TITLES = {"sentiment": "Sentiment", "nli": "NLI"}


# --------------------------------------------------------------------------- presentation helpers


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


def problem_text(exc: BaseException) -> str:
    """The message shown for a failed load (DataError already names the file and line)."""
    if isinstance(exc, CastError):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc}"


def summary_text(stats: dict) -> str:
    """One line: task, variant and per-split sizes, pairs and unconfirmed pairs."""
    splits = stats["splits"]
    sizes = " · ".join(
        f"{name} {s['factual']} + {s['counterfactual']} ({s['pairs']} pairs)" for name, s in splits.items()
    )
    unconfirmed = sum(s["unconfirmed_pairs"] for s in splits.values())
    same = sum(s["same_label_pairs"] for s in splits.values())
    line = f"{TASK_TITLES[stats['task']]} {stats['variant']} — factual + counterfactual: {sizes} · {unconfirmed} unconfirmed pairs"
    return line + (f" · {same} same-label pairs" if same else "")


def column_list(text: str) -> list[str] | None:
    """DataConfig.text_columns ("a" or "a,b") as load_cad wants it."""
    return [c.strip() for c in text.split(",") if c.strip()] or None


def is_keyword_source(source: str) -> bool:
    return source.strip().lower() in ("demo", "upstream")


# --------------------------------------------------------------------------- background work


class _LoadSignals(QObject):
    """The page's mailbox for load jobs (one object, owned by the page)."""

    done = Signal(int, object, object)  # generation, dataset, stats
    failed = Signal(int, str)  # generation, message


class _LoadJob(QRunnable):
    """Load one DataConfig with load_cad and compute its statistics, off the GUI thread."""

    def __init__(self, generation: int, cfg: DataConfig, cache_dir: str | None, signals: _LoadSignals):
        super().__init__()
        self.generation, self.cfg, self.cache_dir, self.signals = generation, cfg, cache_dir, signals

    def run(self) -> None:
        try:
            dataset = load_config(self.cfg, self.cache_dir)
            stats = dataset_stats(dataset)
        except Exception as exc:  # every problem is shown on the page, never raised
            self.signals.failed.emit(self.generation, problem_text(exc))
        else:
            self.signals.done.emit(self.generation, dataset, stats)


def load_config(cfg: DataConfig, cache_dir: str | None = None) -> CadDataset:
    """load_cad for a DataConfig (columns only for user files)."""
    keyword = is_keyword_source(cfg.data)
    return load_cad(
        cfg.data or "demo",
        cfg.task,
        cfg.variant or None,
        text_columns=None if keyword else column_list(cfg.text_columns),
        label_column=None if keyword else cfg.label_column or None,
        pair_column=None if keyword else cfg.pair_column or None,
        revision_file=cfg.revision_file or None,
        cache_dir=cache_dir,
    )


class _DownloadThread(QThread):
    """download_cad in a QThread, with progress and a stop flag."""

    progress = Signal(int, int, str)
    done = Signal(str)
    failed = Signal(str)
    cancelled = Signal(str)

    def __init__(self, cache_dir: str | None, tasks: tuple[str, ...]):
        super().__init__()
        self.cache_dir, self.tasks = cache_dir, tasks
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        try:
            root = download_cad(
                Path(self.cache_dir) if self.cache_dir else None,
                tasks=self.tasks,
                progress=lambda i, n, name: self.progress.emit(i, n, name),
                should_stop=self._stop.is_set,
            )
        except RunCancelled as exc:
            self.cancelled.emit(str(exc))
        except Exception as exc:
            self.failed.emit(problem_text(exc))
        else:
            self.done.emit(str(root))


# --------------------------------------------------------------------------- preview table


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
            return example_text(factual)
        return example_text(revised) if revised else ""

    def row_html(self, row: int) -> tuple[str, str]:
        """(factual HTML, revision HTML) of a row, changed words highlighted; cached."""
        if row not in self._html:
            f, c = self._rows[row]
            factual = self._split.factual[f]
            if c is None:
                self._html[row] = (html.escape(example_text(factual)), "")
            else:
                segments = example_diff(factual, self._split.counterfactual[c])
                self._html[row] = (diff_html(segments, "factual"), diff_html(segments, "revision"))
        return self._html[row]


class DiffDelegate(QStyledItemDelegate):
    """Draws DIFF_HTML_ROLE rich text, elided to the lines that fit the row."""

    def html(self, index: QModelIndex) -> str | None:
        """The rich text this delegate draws for ``index`` (None: drawn as plain text)."""
        return index.data(DIFF_HTML_ROLE)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        text = self.html(index)
        if text is None:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        style = opt.widget.style() if opt.widget else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        rect = opt.rect.adjusted(4, 3, -4, -3)
        doc = self._document(text, opt, rect.width())
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        painter.save()
        painter.translate(rect.topLeft())
        self._draw(painter, doc, rect.height(), opt.palette, selected)
        painter.restore()

    def _document(self, text: str, opt: QStyleOptionViewItem, width: float) -> QTextDocument:
        doc = QTextDocument()
        doc.setDocumentMargin(0)
        doc.setDefaultFont(opt.font)
        doc.setHtml(text)
        doc.setTextWidth(max(width, 10))
        return doc

    def _draw(self, painter: QPainter, doc: QTextDocument, height: float, palette: QPalette, selected: bool) -> None:
        width = doc.textWidth()
        cut = visible_lines(doc, height)
        context = QAbstractTextDocumentLayout.PaintContext()
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        context.palette.setColor(QPalette.ColorRole.Text, palette.color(role))
        context.clip = QRectF(0, 0, width, cut.bottom)
        clip = QPainterPath()
        clip.addRect(context.clip)
        mark_width = painter.fontMetrics().horizontalAdvance(" …")
        if cut.elided:  # keep room for the mark at the end of the last line shown
            clip = clip.subtracted(_rect_path(QRectF(width - mark_width, cut.last_top, mark_width, cut.bottom - cut.last_top)))
        painter.setClipPath(clip)
        doc.documentLayout().draw(painter, context)
        if cut.elided:
            painter.setClipping(False)
            painter.setPen(palette.color(role))
            painter.drawText(QPointF(min(cut.last_end, width - mark_width), cut.last_baseline), " …")

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        return QSize(200, preview_row_height(option.fontMetrics.lineSpacing()))


def preview_row_height(line_spacing: int) -> int:
    return PREVIEW_LINES * line_spacing + 8


@dataclasses.dataclass
class VisibleLines:
    """The whole text lines of a document that fit a height, and whether some were cut."""

    bottom: float = 0.0  # where the last whole line ends
    last_top: float = 0.0
    last_baseline: float = 0.0
    last_end: float = 0.0  # x where the text of the last whole line ends
    elided: bool = False


def visible_lines(doc: QTextDocument, height: float) -> VisibleLines:
    """Which lines of ``doc`` (laid out at its text width) fit into ``height``."""
    layout, seen = doc.documentLayout(), VisibleLines()
    block = doc.begin()
    while block.isValid():
        top = layout.blockBoundingRect(block).topLeft()
        lines = block.layout()
        for i in range(lines.lineCount()):
            line = lines.lineAt(i)
            line_top = top.y() + line.y()
            if line_top + line.height() > height + 0.5:
                seen.elided = True
                return seen
            seen.bottom, seen.last_top = line_top + line.height(), line_top
            seen.last_baseline = line_top + line.ascent()
            seen.last_end = top.x() + line.x() + line.naturalTextWidth()
        block = block.next()
    return seen


def _rect_path(rect: QRectF) -> QPainterPath:
    path = QPainterPath()
    path.addRect(rect)
    return path


# --------------------------------------------------------------------------- small widgets


class ElidedLabel(QLabel):
    """A one-line label that elides its text in the middle instead of widening the window."""

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        metrics = self.fontMetrics()
        elided = metrics.elidedText(self.text(), Qt.TextElideMode.ElideMiddle, self.width())
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        painter.drawText(self.rect(), int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft), elided)


def heading(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


# --------------------------------------------------------------------------- the page


class DataPage(QWidget):
    """Choose CAD data (demo, folder, file, aligned files, download), check and preview it."""

    dataset_changed = Signal(object)  # the CadDataset, after each successful load
    load_failed = Signal(str)  # the problem shown, after each failed load or download

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.dataset: CadDataset | None = None
        self.stats: dict | None = None
        self.label_pair_counts: dict[str, int] = {}
        self._shown = DataConfig()  # the config of the dataset shown
        self._pending: DataConfig | None = None  # the config being loaded
        self._attempted: DataConfig | None = None  # the config loaded last, whether it worked or not
        self._variant_choice: str | None = None  # None: the source's default variant
        self._cache_dir: str | None = None
        self._generation = 0
        self._requests: dict[int, DataConfig] = {}
        self._download: _DownloadThread | None = None
        self._last_dir = str(Path.home())
        self._pool = QThreadPool(self)  # created before the mailbox: deleted (and waited for) first
        self._pool.setMaxThreadCount(2)
        self._signals = _LoadSignals(self)
        self._signals.done.connect(self._on_loaded)
        self._signals.failed.connect(self._on_load_failed)
        self._build()
        self._fill_variants("sentiment")
        self._show_dataset()
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # ------------------------------------------------------------------ public API

    def load_source(self, source: str, revision_file: str = "") -> None:
        """Load ``source`` ("demo", "upstream", a folder or a file; with ``revision_file``: aligned files)."""
        source = str(source).strip() or "demo"
        if source.lower() == "upstream":
            self.start_download()
            return
        base = dataclasses.replace(self._pending or self._shown, data=source, revision_file=str(revision_file or ""))
        self._load(self._with_choices(base))

    def data_config(self) -> DataConfig:
        """The current choice as the engine's DataConfig."""
        base = self._pending or self._shown
        return dataclasses.replace(
            base, task=self.task_combo.currentData(), variant=self.variant_combo.currentText(), **self._column_values()
        )

    def set_data_config(self, cfg: DataConfig) -> None:
        """Restore a choice (e.g. from saved settings) and load it."""
        try:
            task = normalize_task(cfg.task)
            variant = normalize_variant(task, cfg.variant) if cfg.variant else None
        except ConfigError as exc:
            self._show_problem(str(exc))
            return
        self._variant_choice = variant
        self._set_combos(task, variant or DEFAULT_VARIANTS[task])
        cfg = dataclasses.replace(cfg, task=task, variant=variant or "")
        self._sync_column_edits(cfg)
        if cfg.data.strip().lower() == "upstream":
            self._pending = cfg
            self.start_download()
        else:
            self._load(cfg)

    def start_download(self, cache_dir: str | Path | None = None, tasks: tuple[str, ...] = TASKS) -> None:
        """Download the Kaushik et al. CAD files into the cache (in a QThread), then load them."""
        if self._download is not None:
            return
        self._cache_dir = str(cache_dir) if cache_dir is not None else None
        thread = _DownloadThread(self._cache_dir, tuple(tasks))
        thread.progress.connect(self._on_download_progress)
        thread.done.connect(self._on_download_done)
        thread.failed.connect(self._on_download_failed)
        thread.cancelled.connect(self._on_download_cancelled)
        thread.finished.connect(self._on_download_finished)
        self._download = thread
        self.download_bar.setRange(0, 0)
        self.download_bar.setFormat("%v / %m files")
        self.download_status.setText("Connecting…")
        self._set_downloading(True)
        thread.start()

    def cancel_download(self) -> None:
        """Ask a running download to stop before its next file."""
        if self._download is not None:
            self._download.stop()
            self.download_status.setText("Cancelling…")

    def is_busy(self) -> bool:
        """True while a load or a download runs."""
        return self._pending is not None or self._download is not None

    def current_split(self) -> str:
        return self.split_combo.currentText()

    def set_split(self, name: str) -> None:
        self.split_combo.setCurrentText(name)

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.addLayout(self._build_source_row())
        layout.addLayout(self._build_status_row())
        layout.addLayout(self._build_columns_row())
        self.problem_label = QLabel("")
        self.problem_label.setObjectName("problem_label")
        self.problem_label.setStyleSheet(PROBLEM_STYLE)
        self.problem_label.setWordWrap(True)
        self.problem_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem_label.hide()
        layout.addWidget(self.problem_label)
        self.summary_label = QLabel("")
        self.summary_label.setWordWrap(True)
        layout.addWidget(self.summary_label)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_preview())
        splitter.addWidget(self._build_side_panel())
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        layout.addWidget(splitter, 1)

    def _build_source_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        buttons = [
            ("Demo data", "The small bundled demo data of the chosen task", lambda: self.load_source("demo")),
            ("Open folder…", "A Kaushik-layout CAD folder (sentiment/, NLI/) or a folder with train/dev/test files", self._ask_folder),
            ("Open file…", "One paired file (CSV, TSV, JSON lines or Parquet) with text, label and pair id columns", self._ask_file),
            ("Open two aligned files…", "A file of originals and a file of revisions, aligned row by row", self._ask_aligned),
            ("Download CAD…", "Download the Kaushik et al. CAD files into the local cache", self._ask_download),
        ]
        self.source_buttons: dict[str, QPushButton] = {}
        for text, tip, slot in buttons:
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            row.addWidget(button)
            self.source_buttons[text] = button
        row.addStretch(1)
        row.addWidget(QLabel("Task"))
        self.task_combo = QComboBox()
        for task in TASKS:
            self.task_combo.addItem(TASK_TITLES[task], task)
        self.task_combo.currentIndexChanged.connect(self._on_task_changed)
        row.addWidget(self.task_combo)
        row.addWidget(QLabel("Variant"))
        self.variant_combo = QComboBox()
        self.variant_combo.setMinimumContentsLength(4)
        self.variant_combo.currentIndexChanged.connect(self._on_variant_changed)
        row.addWidget(self.variant_combo)
        return row

    def _build_status_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(QLabel("Source:"))
        self.source_label = ElidedLabel("none yet: choose demo data, a folder, a file or download CAD")
        row.addWidget(self.source_label, 1)
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setFixedWidth(90)
        self.busy_label = QLabel("Loading…")
        self.download_status = QLabel("")
        self.download_bar = QProgressBar()
        self.download_bar.setFixedWidth(160)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the download before its next file (files already fetched stay cached)")
        self.cancel_button.clicked.connect(self.cancel_download)
        for widget in (self.busy_label, self.busy_bar, self.download_status, self.download_bar, self.cancel_button):
            row.addWidget(widget)
        self._set_busy(False)
        self._set_downloading(False)
        return row

    def _build_columns_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(QLabel("Columns of your files:"))
        self.column_edits: dict[str, QLineEdit] = {}
        fields = [
            ("text_columns", "text", "auto"),
            ("label_column", "label", "label"),
            ("pair_column", "pair id", "pair_id"),
        ]
        for name, title, placeholder in fields:
            edit = QLineEdit()
            edit.setPlaceholderText(placeholder)
            edit.setToolTip(DataConfig.__dataclass_fields__[name].metadata["help"] + " Press Enter to reload.")
            edit.setMaximumWidth(220)
            edit.editingFinished.connect(self._on_columns_edited)
            row.addWidget(QLabel(title))
            row.addWidget(edit)
            self.column_edits[name] = edit
        row.addStretch(1)
        return row

    def _build_preview(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(heading("Pairs"))
        top.addWidget(QLabel("split"))
        self.split_combo = QComboBox()
        self.split_combo.addItems(list(SPLITS))
        self.split_combo.currentIndexChanged.connect(lambda _: self._show_split())
        top.addWidget(self.split_combo)
        self.legend_label = QLabel(
            f'changed words: <span style="{REMOVED_STYLE}">removed</span> '
            f'<span style="{ADDED_STYLE}">added</span> — hover a text for all of it'
        )
        top.addWidget(self.legend_label)
        top.addStretch(1)
        layout.addLayout(top)
        self.preview_model = PairTableModel(self)
        self.preview_delegate = DiffDelegate(self)
        self.preview = QTableView()
        self.preview.setModel(self.preview_model)
        self.preview.setItemDelegate(self.preview_delegate)
        self._setup_preview(self.preview)
        layout.addWidget(self.preview, 1)
        return box

    def _setup_preview(self, view: QTableView) -> None:
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

    def _build_side_panel(self) -> QWidget:
        box = QWidget()
        box.setMinimumWidth(300)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(heading("Labels"))
        self.label_table = QTableWidget(0, 2)
        self.label_table.setHorizontalHeaderLabels(["Factual", "Counterfactual"])
        self.label_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.label_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.label_table.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.label_table.setFrameShape(QFrame.Shape.NoFrame)
        layout.addWidget(self.label_table)
        self.chart_title = heading("Label pairs")
        layout.addWidget(self.chart_title)
        layout.addWidget(self._build_chart(), 1)
        return box

    def _build_chart(self) -> pg.PlotWidget:
        self.chart = pg.PlotWidget()
        self.chart.setMinimumHeight(220)
        palette = self.palette()
        self.chart.setBackground(palette.color(QPalette.ColorRole.Base))
        text_color = palette.color(QPalette.ColorRole.Text)
        plot = self.chart.getPlotItem()
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setMouseEnabled(x=False, y=False)
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            axis.setPen(pg.mkPen(text_color))
            axis.setTextPen(pg.mkPen(text_color))
        plot.getAxis("left").setStyle(maxTickLevel=0)  # major grid lines only
        plot.getAxis("bottom").setHeight(2 * self.fontMetrics().lineSpacing() + 14)  # two-line pair names
        plot.setLabel("left", "pairs")
        plot.showGrid(y=True, alpha=0.25)
        self.label_pair_bars = pg.BarGraphItem(x=[], height=[], width=0.6, brush=BAR_COLOR, pen=pg.mkPen(BAR_COLOR))
        plot.addItem(self.label_pair_bars)
        self._bar_texts: list[pg.TextItem] = []
        return self.chart

    # ------------------------------------------------------------------ loading

    def _load(self, cfg: DataConfig) -> None:
        """Start loading ``cfg`` in the thread pool; a newer load supersedes an older one."""
        self._generation += 1
        generation = self._generation
        self._pending = self._attempted = cfg
        self._requests[generation] = cfg
        self._set_busy(True)
        self._pool.start(_LoadJob(generation, cfg, self._cache_dir if cfg.data == "upstream" else None, self._signals))

    def _with_choices(self, base: DataConfig) -> DataConfig:
        """``base`` with the task, variant and columns chosen on the page."""
        return dataclasses.replace(
            base, task=self.task_combo.currentData(), variant=self._variant_choice or "", **self._column_values()
        )

    def _reload(self, base: DataConfig | None = None) -> None:
        """Load again with the page's choices: ``base``, else the source loading or shown (or tried last)."""
        if base is None:
            base = self._pending or (self._shown if self.dataset is not None else self._attempted)
        if self._download is not None:  # loads when the download is done
            self._pending = self._with_choices(base or self._shown)
        elif base is not None:
            self._load(self._with_choices(base))

    def _on_loaded(self, generation: int, dataset: CadDataset, stats: dict) -> None:
        cfg = self._finish_job(generation)
        if cfg is None:
            return
        self.dataset, self.stats = dataset, stats
        self._shown = dataclasses.replace(cfg, task=dataset.task, variant=dataset.variant)
        self._set_combos(dataset.task, dataset.variant)
        self._show_problem("")
        self._show_dataset()
        self.dataset_changed.emit(dataset)

    def _on_load_failed(self, generation: int, message: str) -> None:
        if self._finish_job(generation) is None:
            return
        if self.dataset is not None:
            self._set_combos(self.dataset.task, self.dataset.variant)
            message += "\n(still showing the data loaded before)"
        self._show_problem(message)
        self.load_failed.emit(message)

    def _finish_job(self, generation: int) -> DataConfig | None:
        """The config of a finished job, or None when a newer load superseded it."""
        cfg = self._requests.pop(generation, None)
        if generation != self._generation or cfg is None:
            return None
        self._pending = None
        self._set_busy(False)
        return cfg

    # ------------------------------------------------------------------ download

    def _on_download_progress(self, done: int, total: int, name: str) -> None:
        self.download_bar.setRange(0, total)
        self.download_bar.setValue(done)
        self.download_status.setText(f"Downloading {name}")

    def _on_download_done(self, root: str) -> None:
        self.download_status.setText("Download complete")
        source = "upstream" if self._cache_dir is None else root
        cfg = dataclasses.replace(self._with_choices(self._pending or self._shown), data=source, revision_file="")
        self._pending = None
        self._load(cfg)

    def _on_download_failed(self, message: str) -> None:
        self.download_status.setText("Download failed")
        self._pending = None
        self._show_problem(message)
        self.load_failed.emit(message)

    def _on_download_cancelled(self, message: str) -> None:
        self._pending = None
        self.download_status.setText(message[:1].upper() + message[1:] + " (fetched files stay cached)")

    def _on_download_finished(self) -> None:
        thread, self._download = self._download, None
        self._set_downloading(False)
        if thread is not None:
            thread.deleteLater()

    def _set_downloading(self, running: bool) -> None:
        self.download_bar.setVisible(running)
        self.cancel_button.setVisible(running)
        self.source_buttons["Download CAD…"].setEnabled(not running)
        self.download_status.setVisible(running or bool(self.download_status.text()))

    # ------------------------------------------------------------------ user actions

    def _on_task_changed(self, _index: int) -> None:
        task = self.task_combo.currentData()
        self._variant_choice = None
        self._fill_variants(task)
        self._reload()

    def _on_variant_changed(self, _index: int) -> None:
        if self.variant_combo.signalsBlocked() or self.variant_combo.currentIndex() < 0:
            return
        self._variant_choice = self.variant_combo.currentText()
        self._reload()

    def _on_columns_edited(self) -> None:
        base = self._attempted  # columns are about the file tried last, even if it failed
        values = self._column_values()
        if base is not None and values != {name: getattr(base, name) for name in values}:
            self._reload(base)

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Open a CAD folder", self._last_dir,
            QFileDialog.Option.ShowDirsOnly | QFileDialog.Option.DontUseNativeDialog,
        )
        if folder:
            self._last_dir = folder
            self.load_source(folder)

    def _pick_file(self, title: str) -> str:
        """A table file chosen in Qt's own (non-native) dialog; "" when cancelled."""
        path, _ = QFileDialog.getOpenFileName(self, title, self._last_dir, TABLE_FILTER, options=QFileDialog.Option.DontUseNativeDialog)
        if path:
            self._last_dir = str(Path(path).parent)
        return path

    def _ask_file(self) -> None:
        path = self._pick_file("Open a paired CAD file")
        if path:
            self.load_source(path)

    def _ask_aligned(self) -> None:
        originals = self._pick_file("Open the file of originals (1 of 2)")
        revisions = self._pick_file("Open the file of revisions, aligned row by row (2 of 2)") if originals else ""
        if revisions:
            self.load_source(originals, revisions)

    def _ask_download(self) -> None:
        from cast_engine.data import default_cache_dir

        url = os.environ.get(URL_ENV) or UPSTREAM_BASE_URL
        answer = QMessageBox.question(
            self, "Download CAD",
            f"Download the Kaushik et al. CAD files (sentiment and NLI, 12 files)\nfrom {url}\n"
            f"into {default_cache_dir()}?\n\nFiles already there are re-used.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.start_download()

    # ------------------------------------------------------------------ showing

    def _set_busy(self, busy: bool) -> None:
        self.busy_bar.setVisible(busy)
        self.busy_label.setVisible(busy)

    def _show_problem(self, message: str) -> None:
        self.problem_label.setText(message)
        self.problem_label.setToolTip(message)
        self.problem_label.setVisible(bool(message))

    def _fill_variants(self, task: str) -> None:
        self.variant_combo.blockSignals(True)
        self.variant_combo.clear()
        self.variant_combo.addItems(list(variants_for(task)))
        self.variant_combo.setCurrentText(DEFAULT_VARIANTS[task])
        self.variant_combo.blockSignals(False)

    def _set_combos(self, task: str, variant: str) -> None:
        """Show task and variant without triggering a reload."""
        for combo in (self.task_combo, self.variant_combo):
            combo.blockSignals(True)
        if self.task_combo.currentData() != task:
            self.task_combo.setCurrentIndex(self.task_combo.findData(task))
            self._fill_variants(task)
            self.variant_combo.blockSignals(True)
        self.variant_combo.setCurrentText(variant)
        for combo in (self.task_combo, self.variant_combo):
            combo.blockSignals(False)

    def _column_values(self) -> dict[str, str]:
        return {name: edit.text().strip() for name, edit in self.column_edits.items()}

    def _sync_column_edits(self, cfg: DataConfig) -> None:
        for name, edit in self.column_edits.items():
            edit.setText(getattr(cfg, name))

    def _show_dataset(self) -> None:
        if self.dataset is None or self.stats is None:
            self.summary_label.setText("No data loaded yet.")
            self._show_split()
            return
        self.source_label.setText(self.dataset.source)
        self.source_label.setToolTip("\n".join([self.dataset.source] + [str(p) for p in self.dataset.files]))
        self.summary_label.setText(summary_text(self.stats))
        self._show_split()

    def _show_split(self) -> None:
        name = self.current_split()
        if self.dataset is None or self.stats is None:
            self.preview_model.set_split(None, [])
            self._show_label_counts({}, [])
            self._show_label_pairs({})
            return
        split_stats = self.stats["splits"][name]
        self.preview_model.set_split(self.dataset.split(name), self.dataset.labels)
        self._show_label_counts(split_stats, self.dataset.labels)
        self._show_label_pairs(split_stats["label_pairs_unordered"])

    def _show_label_counts(self, split_stats: dict, labels: list[str]) -> None:
        table = self.label_table
        table.setRowCount(len(labels))
        table.setVerticalHeaderLabels(labels)
        for row, label in enumerate(labels):
            for column, key in enumerate(("factual_labels", "counterfactual_labels")):
                item = QTableWidgetItem(str(split_stats[key][label]))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                table.setItem(row, column, item)
        height = table.horizontalHeader().sizeHint().height() + 2
        height += sum(table.rowHeight(r) for r in range(len(labels)))
        table.setFixedHeight(max(height, 40))

    def _show_label_pairs(self, counts: dict[str, int]) -> None:
        """The Figure 3 bars: pairs of different labels, either order."""
        self.label_pair_counts = dict(counts)
        names, heights = list(counts), list(counts.values())
        self.label_pair_bars.setOpts(x=list(range(len(names))), height=heights, width=0.6)
        plot = self.chart.getPlotItem()
        plot.getAxis("bottom").setTicks([[(i, tick_text(n)) for i, n in enumerate(names)]])
        for item in self._bar_texts:
            plot.removeItem(item)
        self._bar_texts = []
        color = self.palette().color(QPalette.ColorRole.Text)
        for i, value in enumerate(heights):
            text = pg.TextItem(str(value), color=color, anchor=(0.5, 1.0))
            text.setPos(i, value)
            plot.addItem(text)
            self._bar_texts.append(text)
        top = max(heights, default=0)
        plot.setXRange(-0.6, max(len(names), 1) - 0.4, padding=0)
        plot.setYRange(0, max(top * 1.18, 5), padding=0)
        self.chart_title.setText(f"Label pairs ({self.current_split()}, either order)")

    # ------------------------------------------------------------------ closing

    def shutdown(self) -> None:
        """Stop the download and wait for background work (on close and when the application quits)."""
        if self._download is not None:
            self._download.stop()
            self._download.wait(30000)
        self._pool.waitForDone(30000)

    def closeEvent(self, event) -> None:  # noqa: N802
        self.shutdown()
        super().closeEvent(event)


def tick_text(pair_name: str) -> str:
    """A label-pair name on two lines ("entailment-\\nneutral") so long names fit under a bar."""
    first, _, second = pair_name.partition("-")
    return f"{first}–\n{second}" if second else first
