"""The Monitor page: the live view of the run that trains now.

A thin page: it only shows the events the run queue delivers (the engine's
training events and the studio's ``GpuMemory``); it computes nothing about the
model and never imports torch.

Events can arrive tens of times per second. Each event only stores numbers
in Python lists and marks the page dirty; a single-shot timer redraws the
plots at most every ``REDRAW_MS`` milliseconds (and at once when an epoch
or the run ends), so the GUI thread never stalls. ``flush()`` forces the
pending redraw.
"""

from __future__ import annotations

import html
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QFontDatabase, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from cast_engine.train.events import (
    EpochEnded,
    LossReported,
    MaskComputed,
    Message,
    PhaseChanged,
    Progress,
    RunEnded,
    RunStarted,
)

from ..events import GpuMemory

REDRAW_MS = 150
LOG_MAX_LINES = 5000
#: Methods whose training selects a sparse mask (MaskComputed events).
MASK_METHODS = {"cast", "lt_sft"}
METHOD_TITLES = {"cast": "CAST", "lt_sft": "LT-SFT", "full": "Full fine-tuning", "bitfit": "BitFit",
                 "lora": "LoRA", "adapters": "Adapters"}
VAL_SERIES = ("factual", "counterfactual", "combined", "pair")
VAL_COLOURS = {"factual": "#1f77b4", "counterfactual": "#ff7f0e", "combined": "#2ca02c", "pair": "#9467bd"}
VAL_SYMBOLS = {"factual": "o", "counterfactual": "t", "combined": "s", "pair": "d"}
STATUS_STYLES = {  # background, text
    "idle": ("#e0e0e0", "#333333"),
    "running": ("#1565c0", "#ffffff"),
    "stopping": ("#ef6c00", "#ffffff"),
    "completed": ("#2e7d32", "#ffffff"),
    "failed": ("#c62828", "#ffffff"),
    "cancelled": ("#f9a825", "#222222"),
}
LEVEL_COLOURS = {"warning": "#b26a00", "error": "#c62828"}
MIB = 1 << 20
#: Weight of a new loss in the smoothed loss curve (an exponential moving average).
SMOOTHING = 0.08


def format_duration(seconds: float | None) -> str:
    """``h:mm:ss`` of a number of seconds; '–' when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:  # None, NaN or negative
        return "–"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def method_title(name: str) -> str:
    return METHOD_TITLES.get(name, name or "?")


class EpochAxis(pg.AxisItem):
    """An axis that labels whole numbers only (epochs)."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802 (pyqtgraph's name)
        levels = super().tickValues(minVal, maxVal, size)
        out = []
        for spacing, values in levels:
            if spacing < 1:
                continue
            out.append((spacing, [v for v in values if abs(v - round(v)) < 1e-9]))
        return out or [(1.0, [float(v) for v in range(int(np.ceil(minVal)), int(np.floor(maxVal)) + 1)])]


class MonitorPage(QWidget):
    """Live progress, curves, mask statistics and log of the current run."""

    stop_requested = Signal()

    #: How many runs wait behind this one (from ``on_queue_changed``).
    queue_waiting = 0
    #: 'idle', 'running', 'stopping', 'completed', 'failed' or 'cancelled'.
    status_kind = "idle"
    _side_span = 1

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._fg = self.palette().color(QPalette.ColorRole.WindowText)
        self._bg = self.palette().color(QPalette.ColorRole.Base)
        self._grid_alpha = 0.25

        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(REDRAW_MS)
        self._redraw.timeout.connect(self.flush)
        self._clock = QTimer(self)  # keeps 'elapsed' ticking while an evaluation runs
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._tick)

        self._build()
        self.reset()

    # ================================================================== layout
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)
        root.setSpacing(6)
        root.addWidget(self._build_header())

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self._build_plots())
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_MAX_LINES)
        self.log.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.log.setPlaceholderText("The run's log appears here.")
        self.log.setMinimumHeight(60)
        splitter.addWidget(self.log)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([620, 150])
        self.splitter = splitter
        root.addWidget(splitter, 1)

    def _build_header(self) -> QWidget:
        header = QFrame()
        header.setFrameShape(QFrame.Shape.StyledPanel)
        grid = QGridLayout(header)
        grid.setContentsMargins(10, 8, 10, 8)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(4)

        self.title_label = QLabel()
        font = self.title_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title_label.setFont(font)
        self.title_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_label = QLabel()
        self.details_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.queue_label = QLabel()
        self.queue_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        self.status_label = QLabel()
        self.status_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.status_label.setMinimumWidth(160)
        self.status_label.setMaximumWidth(220)
        self.status_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        status_font = self.status_label.font()
        status_font.setBold(True)
        self.status_label.setFont(status_font)

        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the run after the current training step")
        self.stop_button.setMinimumWidth(100)
        self.stop_button.clicked.connect(self._on_stop_clicked)

        self.reason_label = QLabel()
        self.reason_label.setWordWrap(True)
        self.reason_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.reason_label.hide()

        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setMinimumHeight(22)
        self.phase_label = QLabel()
        self.elapsed_label = QLabel()
        self.eta_label = QLabel()
        for label in (self.elapsed_label, self.eta_label):
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            label.setMinimumWidth(120)

        grid.addWidget(self.title_label, 0, 0, 1, 3)
        grid.addWidget(self.status_label, 0, 3, 2, 1)
        grid.addWidget(self.stop_button, 0, 4, 2, 1)
        grid.addWidget(self.details_label, 1, 0, 1, 2)
        grid.addWidget(self.queue_label, 1, 2)
        grid.addWidget(self.progress_bar, 2, 0, 1, 5)
        grid.addWidget(self.phase_label, 3, 0, 1, 2)
        grid.addWidget(self.elapsed_label, 3, 2)
        grid.addWidget(self.eta_label, 3, 3, 1, 2)
        grid.addWidget(self.reason_label, 4, 0, 1, 5)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)
        return header

    def _plot(self, title: str, left: str, bottom: str, *, epoch_axis: bool = False) -> pg.PlotWidget:
        axis = {"bottom": EpochAxis("bottom")} if epoch_axis else {}
        widget = pg.PlotWidget(axisItems=axis, background=self._bg)
        item = widget.getPlotItem()
        item.setTitle(title, color=self._fg.name(), size="10pt")
        for name in ("left", "bottom"):
            ax = item.getAxis(name)
            ax.setPen(pg.mkPen(self._fg))
            ax.setTextPen(pg.mkPen(self._fg))
            ax.enableAutoSIPrefix(False)
        item.setLabel("left", left)
        item.setLabel("bottom", bottom)
        item.showGrid(x=True, y=True, alpha=self._grid_alpha)
        item.setMenuEnabled(True)
        widget.setMinimumSize(240, 160)
        return widget

    def _legend_below(self, plot: pg.PlotWidget, columns: int) -> pg.LegendItem:
        """A one-row legend under the x axis label, so it never hides a curve."""
        item = plot.getPlotItem()
        legend = pg.LegendItem(colCount=columns, labelTextColor=self._fg, horSpacing=14, verSpacing=-4,
                               labelTextSize="8pt", frame=False)
        item.layout.addItem(legend, 4, 1)
        item.layout.setAlignment(legend, Qt.AlignmentFlag.AlignHCenter)
        return legend

    def _note(self, text: str) -> QLabel:
        label = QLabel(text)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setWordWrap(True)
        label.setStyleSheet("color: palette(mid); font-style: italic;")
        label.setMinimumSize(240, 160)
        return label

    def _build_plots(self) -> QWidget:
        box = QWidget()
        grid = QGridLayout(box)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(6)

        # training loss per step
        self.loss_plot = self._plot("Training loss", "loss", "step")
        self.loss_curve = self.loss_plot.plot(pen=pg.mkPen(QColor(31, 119, 180, 110), width=1), name="training loss")
        self.loss_smooth_curve = self.loss_plot.plot(pen=pg.mkPen("#0d47a1", width=2), name="smoothed")
        for curve in (self.loss_curve, self.loss_smooth_curve):
            curve.setClipToView(True)
            curve.setDownsampling(auto=True, method="peak")
        self._epoch_lines: list[pg.InfiniteLine] = []

        # validation accuracy per epoch
        self.val_plot = self._plot("Validation accuracy", "accuracy (%)", "epoch", epoch_axis=True)
        legend = self._legend_below(self.val_plot, 5)
        self.val_legend = legend
        self.val_curves: dict[str, pg.PlotDataItem] = {}
        for key in VAL_SERIES:
            style = Qt.PenStyle.DashLine if key == "pair" else Qt.PenStyle.SolidLine
            colour = VAL_COLOURS[key]
            self.val_curves[key] = self.val_plot.plot(
                pen=pg.mkPen(colour, width=2, style=style), symbol=VAL_SYMBOLS[key], symbolSize=7,
                symbolBrush=colour, symbolPen=pg.mkPen(colour), name=key)
            legend.addItem(self.val_curves[key], key)
        self.best_marker = pg.ScatterPlotItem(size=16, symbol="star", brush=pg.mkBrush("#ffd600"),
                                              pen=pg.mkPen("#6d5d00"))
        self.val_plot.addItem(self.best_marker)
        legend.addItem(self.best_marker, "best epoch")

        # mask sparsity heat map: layers (rows, model order top to bottom) × epochs (columns)
        self.mask_plot = self._plot("Mask: share of each layer kept", "", "epoch")
        mask_item = self.mask_plot.getPlotItem()
        mask_item.showGrid(x=False, y=False)
        mask_item.invertY(True)
        mask_item.setMouseEnabled(x=False, y=False)
        mask_item.hideButtons()
        self.mask_image = pg.ImageItem(axisOrder="row-major")
        self.mask_plot.addItem(self.mask_image)
        self.mask_colorbar = pg.ColorBarItem(colorMap=pg.colormap.get("viridis"), values=(0, 1), width=14,
                                             interactive=False, colorMapMenu=False)
        self.mask_colorbar.setImageItem(self.mask_image, insert_in=mask_item)
        bar_axis = getattr(self.mask_colorbar, "axis", None)
        if bar_axis is not None:
            bar_axis.setPen(pg.mkPen(self._fg))
            bar_axis.setTextPen(pg.mkPen(self._fg))
            bar_axis.enableAutoSIPrefix(False)
            bar_axis.setLabel("% of layer kept", color=self._fg.name())
        self.mask_plot.scene().sigMouseMoved.connect(self._on_mask_hover)
        self.mask_placeholder = self._note("The mask's sparsity per layer appears here for CAST and LT-SFT runs.")
        self.mask_stack = QStackedWidget()
        self.mask_stack.addWidget(self.mask_plot)
        self.mask_stack.addWidget(self.mask_placeholder)
        self.mask_note = QLabel()  # one slim line where the mask plots would be, for methods without a mask
        self.mask_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.mask_note.setStyleSheet("color: palette(mid); font-style: italic;")

        # mask overlap and GPU memory share the fourth cell
        self.jaccard_plot = self._plot("Mask overlap with the previous epoch", "Jaccard", "epoch", epoch_axis=True)
        self.jaccard_curve = self.jaccard_plot.plot(pen=pg.mkPen("#00897b", width=2), symbol="o", symbolSize=7,
                                                    symbolBrush="#00897b", symbolPen=pg.mkPen("#00897b"))
        self.jaccard_plot.setYRange(0, 1, padding=0.05)
        self.jaccard_plot.getPlotItem().getViewBox().setLimits(yMin=-0.05, yMax=1.05)
        self.jaccard_plot.getPlotItem().enableAutoRange(axis="y", enable=False)

        self.gpu_plot = self._plot("GPU memory", "MiB", "step")
        self.gpu_legend = self._legend_below(self.gpu_plot, 2)
        self.gpu_curve = self.gpu_plot.plot(pen=pg.mkPen("#d81b60", width=2))
        self.gpu_reserved_curve = self.gpu_plot.plot(pen=pg.mkPen("#8e24aa", width=1.5, style=Qt.PenStyle.DashLine))
        self.gpu_legend.addItem(self.gpu_curve, "allocated")
        self.gpu_legend.addItem(self.gpu_reserved_curve, "reserved")
        for curve in (self.gpu_curve, self.gpu_reserved_curve):
            curve.setClipToView(True)
            curve.setDownsampling(auto=True, method="peak")
        self.gpu_plot.getPlotItem().getViewBox().setLimits(yMin=0)

        self.side_note = self._note("Mask overlap (CAST, LT-SFT) and GPU memory (CUDA runs) appear here.")
        self.side_box = QWidget()
        side = QHBoxLayout(self.side_box)
        side.setContentsMargins(0, 0, 0, 0)
        side.setSpacing(6)
        side.addWidget(self.jaccard_plot)
        side.addWidget(self.gpu_plot)
        side.addWidget(self.side_note)

        grid.addWidget(self.loss_plot, 0, 0)
        grid.addWidget(self.val_plot, 0, 1)
        grid.addWidget(self.mask_stack, 1, 0)
        grid.addWidget(self.side_box, 1, 1)
        grid.addWidget(self.mask_note, 2, 0, 1, 2)
        for i in range(2):
            grid.setRowStretch(i, 1)
            grid.setColumnStretch(i, 1)
        self.plot_grid = grid
        return box

    # =================================================================== state
    @Slot()
    def reset(self) -> None:
        """Forget everything shown: ready for a new run."""
        self._redraw.stop()
        self._clock.stop()
        self._active = False
        self._stopping = False
        self._ended = False
        self._completed = False
        self._run_id = None
        self._method = ""
        self._masked_method: bool | None = None
        self._loss_x: list[float] = []
        self._loss_y: list[float] = []
        self._loss_smooth: list[float] = []
        self._val: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in VAL_SERIES}
        self._best: tuple[float, float] | None = None
        self._pending_epoch_steps: list[tuple[int, int]] = []
        self._last_loss_step: int | None = None
        self._mask_layers: list[str] = []
        self._mask_epochs: list[int] = []
        self._mask_columns: list[dict] = []  # per column: {layer: (kept, total)}
        self.mask_matrix = np.zeros((0, 0))
        self._jac_x: list[float] = []
        self._jac_y: list[float] = []
        self._gpu_x: list[float] = []
        self._gpu_alloc: list[float] = []
        self._gpu_reserved: list[float] = []
        self._gpu_total: int | None = None
        self._progress: Progress | None = None
        self._phase: PhaseChanged | None = None
        self._elapsed_s: float | None = None
        self._elapsed_at = time.monotonic()
        self._dirty = False
        self._progress_dirty = False

        for curve in [self.loss_curve, self.loss_smooth_curve, *self.val_curves.values(), self.jaccard_curve,
                      self.gpu_curve, self.gpu_reserved_curve]:
            curve.setData([], [])
        self.best_marker.setData([], [])
        for line in self._epoch_lines:
            self.loss_plot.removeItem(line)
        self._epoch_lines.clear()
        self.mask_image.clear()
        self.mask_colorbar.setLevels((0, 1))
        self.mask_plot.getPlotItem().getAxis("left").setTicks([])
        self.mask_plot.getPlotItem().getAxis("bottom").setTicks([])
        self.mask_placeholder.setText("The mask's sparsity per layer appears here for CAST and LT-SFT runs.")
        self.mask_stack.setCurrentWidget(self.mask_placeholder)
        self.mask_note.setText("")
        self.gpu_plot.getPlotItem().setTitle("GPU memory", color=self._fg.name(), size="10pt")
        # empty plots show sensible axes (steps, epochs 1–3, 0–100 %) until their first points
        self.loss_plot.setXRange(0, 100, padding=0)
        self.loss_plot.setYRange(0, 1, padding=0)
        self.val_plot.setXRange(0.5, 3.5, padding=0)
        self.val_plot.setYRange(0, 100, padding=0)
        self.gpu_plot.getPlotItem().enableAutoRange()
        self._autoranged: set[str] = set()
        self.jaccard_plot.setXRange(0.5, 3.5, padding=0)
        self._update_side()

        self.title_label.setText("No run yet")
        self.details_label.setText("Start a run on the Experiment page; it shows here while it trains.")
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("waiting")
        self.phase_label.setText("")
        self.elapsed_label.setText("elapsed –")
        self.eta_label.setText("ETA –")
        self._set_status("idle", "Idle")
        self.stop_button.setText("Stop")
        self.stop_button.setEnabled(False)
        self.log.clear()

    @Slot(int)
    def on_queue_changed(self, waiting: int) -> None:
        """How many runs wait behind the current one."""
        waiting = max(int(waiting), 0)
        if waiting == 0:
            self.queue_label.setText("no runs queued")
        else:
            self.queue_label.setText(f"{waiting} more run{'s' if waiting != 1 else ''} queued")
        self.queue_waiting = waiting

    @property
    def mask_epochs(self) -> list[int]:
        """The epoch of each column of ``mask_matrix``."""
        return list(self._mask_epochs)

    @property
    def mask_layers(self) -> list[str]:
        """The layer of each row of ``mask_matrix``, in model order."""
        return list(self._mask_layers)

    @property
    def is_active(self) -> bool:
        return self._active

    # ================================================================= events
    @Slot(object)
    def on_event(self, event) -> None:
        """Show one engine event (or a studio ``GpuMemory``)."""
        if isinstance(event, RunEnded):
            self._on_run_ended(event)
            return
        if not self._active and not self._ended:
            self._start_activity()
        if isinstance(event, Progress):
            self._progress = event
            self._note_elapsed(event.elapsed_s)
            self._progress_dirty = True
            self._schedule()
        elif isinstance(event, LossReported):
            self._loss_x.append(event.step)
            self._loss_y.append(float(event.loss))
            loss = float(event.loss)
            if self._loss_smooth and loss == loss:  # exponential moving average, NaN-safe
                self._loss_smooth.append(self._loss_smooth[-1] + SMOOTHING * (loss - self._loss_smooth[-1]))
            else:
                self._loss_smooth.append(loss)
            self._last_loss_step = event.step
            self._dirty = True
            self._schedule()
        elif isinstance(event, GpuMemory):
            self._gpu_x.append(event.step)
            self._gpu_alloc.append(event.allocated_bytes / MIB)
            self._gpu_reserved.append(event.reserved_bytes / MIB)
            self._gpu_total = event.total_bytes
            self._dirty = True
            self._schedule()
        elif isinstance(event, PhaseChanged):
            self._on_phase(event)
        elif isinstance(event, EpochEnded):
            self._on_epoch(event)
        elif isinstance(event, MaskComputed):
            self._on_mask(event)
        elif isinstance(event, Message):
            self._log(event.text, event.level)
        elif isinstance(event, RunStarted):
            self._on_run_started(event)

    def _start_activity(self) -> None:
        self._active = True
        self._stopping = False
        self.stop_button.setText("Stop")
        self.stop_button.setEnabled(True)
        self._set_status("running", "Running")
        self._elapsed_at = time.monotonic()
        self._clock.start()

    def _on_run_started(self, event: RunStarted) -> None:
        config = event.config or {}
        method = dict(config.get("method") or {})
        self._method = str(method.get("name", ""))
        self._run_id = event.run_id
        name = config.get("name") or ""
        parts = [f"Run #{event.run_id}" if event.run_id is not None else "Run"]
        if name:
            parts.append(name)
        parts.append(method_title(self._method))
        self.title_label.setText(" · ".join(parts))
        options = _method_options(method)
        data = config.get("data") or {}
        task = " ".join(str(data.get(k)) for k in ("task", "variant") if data.get(k))
        share = 100 * event.trainable_params / event.total_params if event.total_params else 0.0
        details = [f"device <b>{html.escape(event.device)}</b>",
                   f"<b>{event.trainable_params:,}</b> of {event.total_params:,} parameters train ({share:.3g} %)"]
        if task:
            details.append(html.escape(task))
        if options:
            details.append(html.escape(options))
        self.details_label.setText(" · ".join(details))
        self._masked_method = self._method in MASK_METHODS
        if self._masked_method:
            self.mask_placeholder.setText("The mask's sparsity per layer appears after the first mask is chosen.")
            self.mask_note.setText("")
        else:
            self.mask_note.setText(f"No mask for this method ({method_title(self._method)}): "
                                   "it trains without a sparse mask, so there is no sparsity heat map or mask overlap.")
        self._update_side()
        self._log(f"run {event.run_id} started on {event.device}: {self._method}"
                  f"{' (' + options + ')' if options else ''}, {event.trainable_params:,} of "
                  f"{event.total_params:,} parameters train ({share:.3g} %)")
        self._progress_dirty = True
        self._schedule()

    def _on_phase(self, event: PhaseChanged) -> None:
        self._phase = event
        where = f"epoch {event.epoch} · " if event.epoch else ""
        stage = f" [{event.stage}]" if event.stage else ""
        self._log(f"{where}{event.phase}{stage}")
        self._progress_dirty = True
        self._schedule()

    def _on_epoch(self, event: EpochEnded) -> None:
        metrics = event.metrics or {}
        for key in VAL_SERIES:
            value = metrics.get(f"val_{key}")
            if value is None:
                continue
            xs, ys = self._val[key]
            if xs and xs[-1] == event.epoch:  # the same epoch again: replace
                ys[-1] = 100 * float(value)
            else:
                xs.append(event.epoch)
                ys.append(100 * float(value))
        if event.improved and metrics.get("val_combined") is not None:
            self._best = (event.epoch, 100 * float(metrics["val_combined"]))
        if self._last_loss_step is not None:
            self._pending_epoch_steps.append((event.epoch, self._last_loss_step))
        if metrics.get("elapsed_s") is not None:
            self._note_elapsed(metrics["elapsed_s"])
        parts = [f"epoch {event.epoch}" + (f" [{event.stage}]" if event.stage else "") + ":"]
        for key, label in (("train_loss", "train loss"), ("cf_loss", "cf loss"), ("refine_loss", "refine loss")):
            if isinstance(metrics.get(key), (int, float)):
                parts.append(f"{label} {metrics[key]:.4f}")
        vals = [f"{key} {100 * metrics[f'val_{key}']:.1f}" for key in VAL_SERIES
                if isinstance(metrics.get(f"val_{key}"), (int, float))]
        if vals:
            parts.append("val " + ", ".join(vals) + " %")
        if isinstance(metrics.get("lr"), (int, float)):
            parts.append(f"lr {metrics['lr']:.3g}")
        parts.append("(best so far)" if event.improved else f"(best: epoch {event.best_epoch})")
        self._log("  ".join(parts))
        self._dirty = True
        self.flush()  # an epoch is rare and worth seeing at once

    def _on_mask(self, event: MaskComputed) -> None:
        per_layer = {str(name): (int(v[0]), int(v[1])) for name, v in (event.per_layer or {}).items()}
        for name in per_layer:
            if name not in self._mask_layers:
                self._mask_layers.append(name)
        if self._mask_epochs and self._mask_epochs[-1] == event.epoch:
            self._mask_columns[-1] = per_layer
        else:
            self._mask_epochs.append(event.epoch)
            self._mask_columns.append(per_layer)
        self.mask_matrix = self._matrix()
        if event.jaccard is not None:
            if self._jac_x and self._jac_x[-1] == event.epoch:
                self._jac_y[-1] = float(event.jaccard)
            else:
                self._jac_x.append(event.epoch)
                self._jac_y.append(float(event.jaccard))
        if self._masked_method is not True:  # a mask arrived: this method has one after all
            self._masked_method = True
            self._update_side()
        share = 100 * event.kept / event.eligible if event.eligible else 0.0
        overlap = f", Jaccard with the previous mask {event.jaccard:.3f}" if event.jaccard is not None else ""
        self._log(f"mask (epoch {event.epoch}): {event.kept:,} of {event.eligible:,} entries kept ({share:.3f} %){overlap}")
        self._dirty = True
        self.flush()

    def _on_run_ended(self, event: RunEnded) -> None:
        self._active = False
        self._ended = True
        self._stopping = False
        self._clock.stop()
        self.stop_button.setText("Stop")
        self.stop_button.setEnabled(False)
        status = event.status or "completed"
        reason = event.reason or ""
        kind = status if status in ("completed", "cancelled") else "failed"
        self._set_status(kind, status.capitalize(), reason)
        level = {"completed": "info", "cancelled": "warning"}.get(status, "error")
        self._log(f"run {event.run_id} {status}" + (f": {reason}" if reason else ""), level)
        test = event.results or {}
        accs = [f"{key} {100 * test[key]:.1f}" for key in VAL_SERIES if isinstance(test.get(key), (int, float))]
        if accs:
            self._log("test accuracy: " + ", ".join(accs) + " %")
        self._completed = status == "completed"
        self._progress_dirty = True
        self._dirty = True
        self.flush()

    # ================================================================ drawing
    def _schedule(self) -> None:
        if not self._redraw.isActive():
            self._redraw.start()

    @Slot()
    def flush(self) -> None:
        """Redraw what changed since the last redraw (tests call this)."""
        self._redraw.stop()
        if self._progress_dirty:
            self._progress_dirty = False
            self._draw_progress()
        if not self._dirty:
            return
        self._dirty = False
        self.loss_curve.setData(self._loss_x, self._loss_y)
        if self._loss_x and "loss" not in self._autoranged:  # from the first point on, follow the data
            self._autoranged.add("loss")
            self.loss_plot.getPlotItem().enableAutoRange()
        self.loss_smooth_curve.setData(self._loss_x, self._loss_smooth)
        for epoch, step in self._pending_epoch_steps:
            line = pg.InfiniteLine(pos=step + 0.5, angle=90, movable=False,
                                   pen=pg.mkPen(QColor(128, 128, 128, 110), width=1, style=Qt.PenStyle.DashLine),
                                   label=str(epoch), labelOpts={"position": 0.95, "color": (128, 128, 128)})
            line.setToolTip(f"end of epoch {epoch}")
            self.loss_plot.addItem(line, ignoreBounds=True)
            self._epoch_lines.append(line)
        self._pending_epoch_steps.clear()
        for key, curve in self.val_curves.items():
            xs, ys = self._val[key]
            curve.setData(xs, ys)
        if any(xs for xs, _ in self._val.values()) and "val" not in self._autoranged:
            self._autoranged.add("val")
            self.val_plot.getPlotItem().enableAutoRange(axis="y")
        self.best_marker.setData([self._best[0]] if self._best else [], [self._best[1]] if self._best else [])
        last_epoch = max([xs[-1] for xs, _ in self._val.values() if xs] + [0])
        if last_epoch:
            self.val_plot.getPlotItem().getViewBox().setXRange(0.5, max(last_epoch, 3) + 0.5, padding=0)
        self.jaccard_curve.setData(self._jac_x, self._jac_y)
        if self._jac_x or self._mask_epochs:
            high = max(self._jac_x + self._mask_epochs + [3])
            self.jaccard_plot.setXRange(0.5, high + 0.5, padding=0)
        self._draw_mask()
        self.gpu_curve.setData(self._gpu_x, self._gpu_alloc)
        self.gpu_reserved_curve.setData(self._gpu_x, self._gpu_reserved)
        if self._gpu_total:
            self.gpu_plot.getPlotItem().setTitle(f"GPU memory (of {self._gpu_total / (1 << 30):.1f} GiB)",
                                                 color=self._fg.name(), size="10pt")
        self._update_side()

    def _draw_progress(self) -> None:
        p = self._progress
        if p is not None:
            planned = max(int(p.planned_steps), int(p.step), 1)
            self.progress_bar.setRange(0, planned)
            self.progress_bar.setValue(int(p.step))
            self.progress_bar.setFormat(f"step {int(p.step):,} of {planned:,} (%p%)")
            self.eta_label.setText(f"ETA {format_duration(p.eta_s)}")
            if self._completed:  # early stopping may end a run before its planned steps
                self.progress_bar.setValue(planned)
                self.progress_bar.setFormat(f"done: {int(p.step):,} steps")
                self.eta_label.setText("ETA 0:00:00")
        elif self._active:
            self.progress_bar.setRange(0, 0)  # busy until the first step
            self.progress_bar.setFormat("preparing…")
        elif self._ended:
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setFormat("no steps")
        phase = self._phase
        if phase is not None:
            text = f"<b>Epoch {phase.epoch}</b> · {html.escape(phase.phase)}" if phase.epoch else f"<b>{html.escape(phase.phase)}</b>"
            if phase.stage:
                text += f" <span style='color: gray'>({html.escape(phase.stage)})</span>"
            self.phase_label.setText(text)
        elif p is not None:
            self.phase_label.setText(f"<b>Epoch {p.epoch}</b> · {html.escape(p.phase)}")
        self._draw_elapsed()

    def _note_elapsed(self, seconds: float) -> None:
        self._elapsed_s = float(seconds)
        self._elapsed_at = time.monotonic()

    def _tick(self) -> None:
        self._draw_elapsed()

    def _draw_elapsed(self) -> None:
        if self._elapsed_s is None:
            return
        extra = time.monotonic() - self._elapsed_at if self._active else 0.0
        self.elapsed_label.setText(f"elapsed {format_duration(self._elapsed_s + extra)}")

    def _matrix(self) -> np.ndarray:
        matrix = np.full((len(self._mask_layers), len(self._mask_columns)), np.nan)
        for j, column in enumerate(self._mask_columns):
            for i, layer in enumerate(self._mask_layers):
                kept, total = column.get(layer, (0, 0))
                if total:
                    matrix[i, j] = kept / total
        return matrix

    def _draw_mask(self) -> None:
        wanted = self.mask_plot if self._masked_method and self._mask_columns else self.mask_placeholder
        if self.mask_stack.currentWidget() is not wanted:
            self.mask_stack.setCurrentWidget(wanted)
        if not self._mask_columns:
            return
        percent = np.nan_to_num(100 * self.mask_matrix, nan=0.0)
        rows, cols = percent.shape
        high = float(percent.max()) if percent.size else 1.0
        high = high if high > 0 else 1.0
        self.mask_image.setImage(percent, autoLevels=False)
        self.mask_image.setRect(QRectF(-0.5, -0.5, cols, rows))
        self.mask_colorbar.setLevels((0.0, high))
        item = self.mask_plot.getPlotItem()
        item.getAxis("left").setTicks([[(i, name) for i, name in enumerate(self._mask_layers)]])
        step = max(1, int(np.ceil(cols / 12)))
        item.getAxis("bottom").setTicks([[(j, str(e)) for j, e in enumerate(self._mask_epochs) if j % step == 0 or j == cols - 1]])
        view = item.getViewBox()
        view.setRange(xRange=(-0.5, cols - 0.5), yRange=(-0.5, rows - 0.5), padding=0)

    def _update_side(self) -> None:
        """Show the plots this run has data for; without a mask the bottom row gives its room away."""
        no_mask = self._masked_method is False
        show_jaccard = bool(self._masked_method) or bool(self._jac_x)
        show_gpu = bool(self._gpu_x)
        self.jaccard_plot.setVisible(show_jaccard)
        self.gpu_plot.setVisible(show_gpu)
        self.side_note.setVisible(not show_jaccard and not show_gpu)
        self.mask_stack.setVisible(not no_mask)
        self.side_box.setVisible(not no_mask or show_gpu)
        self.mask_note.setVisible(no_mask)
        span = 2 if no_mask else 1
        if self._side_span != span:
            self._side_span = span
            self.plot_grid.removeWidget(self.side_box)
            self.plot_grid.addWidget(self.side_box, 1, 2 - span, 1, span)
        self.plot_grid.setRowStretch(1, 0 if no_mask and not show_gpu else 1)

    def _on_mask_hover(self, pos) -> None:
        if not self._mask_columns or not self.mask_plot.isVisible():
            return
        point = self.mask_plot.getPlotItem().getViewBox().mapSceneToView(pos)
        col, row = int(round(point.x())), int(round(point.y()))
        if 0 <= row < len(self._mask_layers) and 0 <= col < len(self._mask_columns):
            layer = self._mask_layers[row]
            kept, total = self._mask_columns[col].get(layer, (0, 0))
            share = 100 * kept / total if total else 0.0
            text = f"{layer}, epoch {self._mask_epochs[col]}: {share:.3f} % kept ({kept:,} of {total:,})"
            QToolTip.showText(self.mask_plot.mapToGlobal(self.mask_plot.mapFromScene(pos)), text, self.mask_plot)

    # ============================================================ status, log
    def _set_status(self, kind: str, text: str, reason: str = "") -> None:
        """The coloured status pill; a reason (why a run failed or stopped) shows on a line of its own."""
        background, colour = STATUS_STYLES[kind]
        self.status_kind = kind
        self.status_label.setText(text)
        self.status_label.setToolTip(f"{text}: {reason}" if reason else text)
        self.status_label.setStyleSheet(
            f"QLabel {{ background: {background}; color: {colour}; border-radius: 6px; padding: 6px 14px; }}")
        if reason:
            tint = {"failed": "#c62828", "cancelled": "#8d6e00"}.get(kind, self._fg.name())
            self.reason_label.setText(f"<span style='color:{tint}'><b>{html.escape(text)}:</b> {html.escape(reason)}</span>")
            self.reason_label.show()
        else:
            self.reason_label.clear()
            self.reason_label.hide()

    def status_text(self) -> str:
        """The status and, when there is one, its reason: 'Failed: CUDA ran out of memory…'."""
        reason = self.reason_label.text() and self.status_label.toolTip()
        return reason or self.status_label.text()

    def _log(self, text: str, level: str = "info") -> None:
        stamp = time.strftime("%H:%M:%S")
        safe = html.escape(text)
        colour = LEVEL_COLOURS.get(level)
        prefix = f"{level}: " if level in LEVEL_COLOURS else ""
        body = f"<span style='color:{colour}'>{html.escape(prefix)}{safe}</span>" if colour else safe
        self.log.appendHtml(f"<span style='color:gray'>{stamp}</span>&nbsp;&nbsp;{body}")

    def log_text(self) -> str:
        """The log pane's plain text."""
        return self.log.toPlainText()

    def _on_stop_clicked(self) -> None:
        if not self._active or self._stopping:
            return
        self._stopping = True
        self.stop_button.setText("Stopping…")
        self.stop_button.setEnabled(False)
        self._set_status("stopping", "Stopping…")
        self.stop_requested.emit()


def _method_options(method: dict) -> str:
    """A few method settings worth a glance: CAST's k and alpha, LoRA's rank…"""
    keys = ("k", "alpha", "r", "rank", "reduction_factor", "mask_criterion")
    shown = [f"{key}={method[key]}" for key in keys if key in method and method[key] not in (None, "")]
    return ", ".join(shown[:4])
