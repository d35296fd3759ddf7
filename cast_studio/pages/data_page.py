"""The Data page: choose the CAD data, see its problems, sizes, labels and pairs.

A thin page: loading, statistics and word differences come from
``cast_engine.data``; the page runs them off the GUI thread and shows them.
Its parts live next to it: ``data_loading`` (loads in the background),
``data_download`` (the CAD download and its progress), ``data_dialogs`` (the
questions it asks), ``data_preview`` (the pairs with their word differences)
and ``data_labels`` (label counts and the label-pair bars).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cast_engine.config import DataConfig
from cast_engine.data import TASKS, CadDataset
from cast_engine.data.types import DEFAULT_VARIANTS, normalize_task, normalize_variant, variants_for
from cast_engine.errors import ConfigError

from .lazy_progress import LazyProgressBar
from .data_dialogs import SourceDialogs, confirm_download
from .data_download import CadDownload
from .data_labels import LabelPanel
from .data_loading import BackgroundLoader
from .data_preview import PairPreview
from .data_preview import DIFF_HTML_ROLE, PREVIEW_LINES, PairTableModel, visible_lines  # noqa: F401 (re-exported for tests)
from .data_text import data_description
from .small_widgets import ElidedLabel

PROBLEM_STYLE = "color:#c62828;"
TASK_TITLES = {"sentiment": "Sentiment", "nli": "NLI"}
UNCONFIRMED_HELP = ("paired by row position, but a revision does not keep its original's unchanged sentence "
                    "word for word, so the pairing is not confirmed by the text")


def summary_text(stats: dict) -> str:
    """One line: task, variant and per-split sizes, pairs and unconfirmed pairs."""
    splits = stats["splits"]
    sizes = " · ".join(
        f"{name} {s['factual']} + {s['counterfactual']} ({s['pairs']} pairs)" for name, s in splits.items()
    )
    unconfirmed = sum(s["unconfirmed_pairs"] for s in splits.values())
    same = sum(s["same_label_pairs"] for s in splits.values())
    line = f"{TASK_TITLES[stats['task']]} {stats['variant']} — factual + counterfactual: {sizes} · {unconfirmed} unconfirmed pairs"
    if unconfirmed:
        line += f" ({UNCONFIRMED_HELP})"
    return line + (f" · {same} same-label pairs" if same else "")


def other_task_note(cfg: DataConfig) -> str:
    """For a Kaushik folder holding both tasks, where the other task is: ' · this folder also holds NLI: …'."""
    folder = Path(cfg.data) if cfg.data and cfg.data not in ("demo", "upstream") else None
    if folder is None or not ((folder / "NLI").is_dir() and (folder / "sentiment").is_dir()):
        return ""
    other = "nli" if cfg.task == "sentiment" else "sentiment"
    return f" · this folder also holds {TASK_TITLES[other]}: choose it under Task"


class DataPage(QWidget):
    """Choose CAD data (demo, folder, file, aligned files, download), check and preview it."""

    dataset_changed = Signal(object)  # the CadDataset, after each successful load
    load_failed = Signal(str)  # the problem shown, after each failed load or download
    readiness_changed = Signal()  # a load or download started or ended: ``readiness_problem()`` may differ

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
        self._dialogs = SourceDialogs(self)
        self._loader = BackgroundLoader(self)
        self._loader.loaded.connect(self._on_loaded)
        self._loader.failed.connect(self._on_load_failed)
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
        self._load(self._with_choices(base))  # with the task and variant chosen now (a CAD folder has both tasks)

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
        if self._download.is_running():
            return
        self._cache_dir = str(cache_dir) if cache_dir is not None else None
        self._download.start(self._cache_dir, tuple(tasks))

    def cancel_download(self) -> None:
        """Ask a running download to stop before its next file."""
        self._download.cancel()

    def is_busy(self) -> bool:
        """True while a load or a download runs."""
        return self._pending is not None or self._download.is_running()

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
        self.busy_bar = LazyProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setFixedWidth(90)
        self.busy_label = QLabel("Loading…")
        self._download = CadDownload(self)
        download_button = self.source_buttons["Download CAD…"]
        self._download.running_changed.connect(lambda running: download_button.setEnabled(not running))
        self._download.running_changed.connect(lambda _running: self.readiness_changed.emit())
        self._download.done.connect(self._on_download_done)
        self._download.failed.connect(self._on_download_failed)
        self._download.cancelled.connect(self._on_download_cancelled)
        self.download_status, self.download_bar = self._download.status, self._download.bar
        self.cancel_button = self._download.cancel_button
        for widget in (self.busy_label, self.busy_bar, self.download_status, self.download_bar, self.cancel_button):
            row.addWidget(widget)
        self._set_busy(False)
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
        pairs = PairPreview()
        self.split_combo, self.legend_label = pairs.split_combo, pairs.legend_label
        self.preview_model, self.preview_delegate, self.preview = pairs.model, pairs.delegate, pairs.view
        self.split_combo.currentIndexChanged.connect(lambda _: self._show_split())
        return pairs

    def _build_side_panel(self) -> QWidget:
        self.label_panel = LabelPanel()
        self.label_table, self.chart_title = self.label_panel.label_table, self.label_panel.chart_title
        self.chart, self.label_pair_bars = self.label_panel.chart, self.label_panel.label_pair_bars
        return self.label_panel

    # ------------------------------------------------------------------ loading

    def _load(self, cfg: DataConfig) -> None:
        """Start loading ``cfg`` in the background; a newer load supersedes an older one."""
        self._pending = self._attempted = cfg
        self._set_busy(True)
        self._loader.start(cfg, self._cache_dir if cfg.data == "upstream" else None)

    def _with_choices(self, base: DataConfig) -> DataConfig:
        """``base`` with the task, variant and columns chosen on the page."""
        return dataclasses.replace(
            base, task=self.task_combo.currentData(), variant=self._variant_choice or "", **self._column_values()
        )

    def _reload(self, base: DataConfig | None = None) -> None:
        """Load again with the page's choices: ``base``, else the source loading or shown (or tried last)."""
        if base is None:
            base = self._pending or (self._shown if self.dataset is not None else self._attempted)
        if self._download.is_running():  # loads when the download is done
            self._pending = self._with_choices(base or self._shown)
        elif base is not None:
            self._load(self._with_choices(base))

    def _on_loaded(self, cfg: DataConfig, dataset: CadDataset, stats: dict) -> None:
        self._finish_job()
        self.dataset, self.stats = dataset, stats
        self._shown = dataclasses.replace(cfg, task=dataset.task, variant=dataset.variant)
        self._set_combos(dataset.task, dataset.variant)
        self._show_problem("")
        self._show_dataset()
        self.dataset_changed.emit(dataset)

    def _on_load_failed(self, message: str) -> None:
        self._finish_job()
        if self.dataset is not None:
            self._set_combos(self.dataset.task, self.dataset.variant)
            message += "\n(still showing the data loaded before)"
        self._show_problem(message)
        self.load_failed.emit(message)
        self.readiness_changed.emit()

    def _finish_job(self) -> None:
        """The newest load has finished (the loader drops those a newer one superseded)."""
        self._pending = None
        self._set_busy(False)

    # ------------------------------------------------------------------ download

    def _on_download_done(self, root: str) -> None:
        source = "upstream" if self._cache_dir is None else root
        cfg = dataclasses.replace(self._with_choices(self._pending or self._shown), data=source, revision_file="")
        self._pending = None
        self._load(cfg)

    def _on_download_failed(self, message: str) -> None:
        self._pending = None
        self._show_problem(message)
        self.load_failed.emit(message)
        self.readiness_changed.emit()

    def _on_download_cancelled(self) -> None:
        self._pending = None
        self.readiness_changed.emit()

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
        folder = self._dialogs.folder()
        if folder:
            self.load_source(folder)

    def _ask_file(self) -> None:
        path = self._dialogs.table_file("Open a paired CAD file")
        if path:
            self.load_source(path)

    def _ask_aligned(self) -> None:
        originals, revisions = self._dialogs.aligned_files()
        if revisions:
            self.load_source(originals, revisions)

    def _ask_download(self) -> None:
        if confirm_download(self):
            self.start_download()

    # ------------------------------------------------------------------ showing

    def _set_busy(self, busy: bool) -> None:
        self.busy_bar.setVisible(busy)
        self.busy_label.setVisible(busy)
        self.readiness_changed.emit()

    def readiness_problem(self) -> str | None:
        """Why runs cannot train on the chosen data now (still loading, or it failed with nothing loaded
        before); None when the data shown is loaded and is what runs train on."""
        if self.is_busy():
            cfg = self._pending or self._attempted or self._shown
            return f"the data is still loading: {data_description(cfg)}"
        if self.dataset is None:
            problem = self.problem_label.text().strip()
            return f"the data did not load: {problem}" if problem else "no data loaded yet: choose data on the Data page"
        return None

    def choice_to_save(self) -> DataConfig:
        """The data choice to keep for the next session: what is shown, or, when nothing has loaded, what
        was asked for (a failed load never turns the saved choice into the demo)."""
        if self.dataset is None and self._attempted is not None:
            return self._attempted
        return self.data_config()

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
        self.summary_label.setText(summary_text(self.stats) + other_task_note(self._shown))
        self.summary_label.setToolTip(f"Unconfirmed pairs: {UNCONFIRMED_HELP}.")
        self._show_split()

    def _show_split(self) -> None:
        name = self.current_split()
        if self.dataset is None or self.stats is None:
            self.preview_model.set_split(None, [])
            self.label_panel.show_label_counts({}, [])
            self._show_label_pairs({})
            return
        split_stats = self.stats["splits"][name]
        self.preview_model.set_split(self.dataset.split(name), self.dataset.labels)
        self.label_panel.show_label_counts(split_stats, self.dataset.labels)
        self._show_label_pairs(split_stats["label_pairs_unordered"], split_stats["counterfactual"])

    def _show_label_pairs(self, counts: dict[str, int], revisions: int | None = None) -> None:
        """The Figure 3 bars: pairs of different labels, either order (none without revisions)."""
        self.label_pair_counts = dict(counts) if revisions != 0 else {}
        self.label_panel.show_label_pairs(counts, self.current_split(), revisions)

    # ------------------------------------------------------------------ closing

    def shutdown(self) -> None:
        """Stop the download and wait for background work (on close and when the application quits)."""
        self._download.shutdown(30000)
        self._loader.wait(30000)

    def closeEvent(self, event) -> None:  # noqa: N802
        self.shutdown()
        super().closeEvent(event)
