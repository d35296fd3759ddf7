"""The Monitor page's plots: training loss, validation accuracy, the mask heat map, mask overlap and GPU memory.

``RunPlots`` draws a ``RunSeries`` when the page asks it to (at most every few
hundred milliseconds); it gives the bottom row's room away when the method
has no mask. ``EpochAxis`` labels whole epochs only.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QStackedWidget, QToolTip, QWidget

from .fast_axis import FastAxis, plot_widget, settle, settle_when_resized
from .monitor_series import VAL_SERIES, RunSeries
from .staggered_paint import StaggeredPaint

VAL_COLOURS = {"factual": "#1f77b4", "counterfactual": "#ff7f0e", "combined": "#2ca02c", "pair": "#9467bd"}
VAL_SYMBOLS = {"factual": "o", "counterfactual": "t", "combined": "s", "pair": "d"}
MASK_PLACEHOLDER = "The mask's sparsity per layer appears here for CAST and LT-SFT runs."
MASK_WAITING = "The mask's sparsity per layer appears after the first mask is chosen."


FOLLOW_PADDING = 0.02  # of a followed range, beyond each end: a point on a round end is drawn whole
NICE_MANTISSAS = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)  # a range ends at most a quarter past its data


def nice_ceiling(value: float) -> float:
    """The least round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten) at least ``value`` (> 0)."""
    magnitude = 10 ** np.floor(np.log10(value))
    return float(next(m * magnitude for m in NICE_MANTISSAS if m * magnitude >= value * (1 - 1e-12)))


def snapped_range(low: float, high: float, headroom: float = 1.1) -> tuple[float, float]:
    """A range over ``[low, high]`` whose ends are nice numbers (``nice_ceiling``) at least ``headroom``
    times beyond the data, or zero: as points arrive, it changes a few times in a run, not with each."""
    top = nice_ceiling(high * headroom) if high > 0 else 0.0
    bottom = -nice_ceiling(-low * headroom) if low < 0 else 0.0
    if top == bottom:
        top = bottom + 1.0
    return bottom, top


class EpochAxis(FastAxis):
    """An axis that labels whole numbers only (epochs)."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802 (pyqtgraph's name)
        levels = super().tickValues(minVal, maxVal, size)
        out = []
        for spacing, values in levels:
            if spacing < 1:
                continue
            out.append((spacing, [v for v in values if abs(v - round(v)) < 1e-9]))
        return out or [(1.0, [float(v) for v in range(int(np.ceil(minVal)), int(np.floor(maxVal)) + 1)])]


class RunPlots(QWidget):
    """Four plot cells over a slim note line; the page's attributes of the same names are these parts."""

    #: The parts the Monitor page offers under the same names.
    PARTS = ("loss_plot", "loss_curve", "loss_smooth_curve", "val_plot", "val_legend", "val_curves", "best_marker",
             "mask_plot", "mask_image", "mask_waiting", "mask_colorbar", "mask_placeholder", "mask_stack", "mask_note",
             "jaccard_plot", "jaccard_curve", "gpu_plot", "gpu_legend", "gpu_curve", "gpu_reserved_curve",
             "side_note", "side_box", "plot_grid")
    _side_span = 1

    def __init__(self, series: RunSeries, fg: QColor, bg: QColor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.series = series
        self._fg, self._bg = fg, bg
        self._grid_alpha = 0.25
        self._drawn: dict[str, tuple] = {}  # what each plot was last drawn with (see _changed)
        self._user_ranged: set[str] = set()  # plots whose view the user moved
        self._build()
        self.stagger = StaggeredPaint([self.loss_plot, self.val_plot, self.mask_plot, self.jaccard_plot, self.gpu_plot],
                                      self, prepare=settle)  # each plot paints once (see fast_axis.settle)
        self._views = {"loss": self.loss_plot.getPlotItem().getViewBox(), "val": self.val_plot.getPlotItem().getViewBox()}
        for part, view in self._views.items():
            view.sigRangeChangedManually.connect(lambda *_args, part=part: self._on_view_moved(part))

    # ================================================================== layout
    def _plot(self, title: str, left: str, bottom: str, *, epoch_axis: bool = False) -> pg.PlotWidget:
        axis = {"bottom": EpochAxis("bottom")} if epoch_axis else {}
        widget = plot_widget(axis, background=self._bg)
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

    def _build(self) -> None:
        grid = QGridLayout(self)
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
        self.mask_waiting = pg.TextItem(MASK_WAITING, color=self.palette().color(QPalette.ColorRole.Mid),
                                        anchor=(0.5, 0.5))  # as the placeholder says it, in grey italics
        italic = self.font()
        italic.setItalic(True)
        self.mask_waiting.setFont(italic)
        self.mask_waiting.setPos(0.5, 0.5)
        self.mask_waiting.hide()
        self.mask_plot.addItem(self.mask_waiting, ignoreBounds=True)
        self.mask_colorbar = pg.ColorBarItem(colorMap=pg.colormap.get("viridis"), values=(0, 1), width=14,
                                             interactive=False, colorMapMenu=False)
        self.mask_colorbar.setImageItem(self.mask_image, insert_in=mask_item)
        settle_when_resized(self.mask_colorbar.getViewBox())
        bar_axis = getattr(self.mask_colorbar, "axis", None)
        if bar_axis is not None:
            bar_axis.setPen(pg.mkPen(self._fg))
            bar_axis.setTextPen(pg.mkPen(self._fg))
            bar_axis.enableAutoSIPrefix(False)
            bar_axis.setLabel("% of layer kept", color=self._fg.name())
        self.mask_plot.scene().sigMouseMoved.connect(self._on_mask_hover)
        self.mask_placeholder = self._note(MASK_PLACEHOLDER)
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

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """Shown (its page chosen): the plots paint one per event-loop turn, not all in one."""
        super().showEvent(event)
        self.stagger.hold()

    # =================================================================== state
    def reset(self) -> None:
        """Empty plots with sensible axes, for a new run (the series is cleared already)."""
        self.stagger.hold()
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
        if self.series.masked_method and self.mask_stack.currentWidget() is self.mask_plot:
            # a run with a mask follows one: the heat map stays in place, empty, and says what comes (swapping it
            # for the placeholder and back re-laid out the page and redrew every plot at the run's start)
            self.mask_plot.getPlotItem().getViewBox().setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
            self.mask_waiting.show()
        else:
            self.mask_placeholder.setText(MASK_PLACEHOLDER)
            self.mask_stack.setCurrentWidget(self.mask_placeholder)
        self.mask_note.setText("")
        self.gpu_plot.getPlotItem().setTitle("GPU memory", color=self._fg.name(), size="10pt")
        # empty plots show sensible axes (steps, epochs 1–3, 0–100 %) until their first points
        self.loss_plot.setXRange(0, 100, padding=0)
        self.loss_plot.setYRange(0, 1, padding=0)
        self.val_plot.setXRange(0.5, 3.5, padding=0)
        self.val_plot.setYRange(0, 100, padding=0)
        self.gpu_plot.getPlotItem().enableAutoRange()
        self._drawn = {}
        self._user_ranged = set()
        self.jaccard_plot.setXRange(0.5, 3.5, padding=0)
        self.update_side()
        self.stagger.prepare_unheld()

    def show_method(self, title: str) -> None:
        """Say where the mask will appear, or why there is none (``series.masked_method`` is set)."""
        if self.series.masked_method:
            self.mask_placeholder.setText(MASK_WAITING)
            self.mask_note.setText("")
        else:
            self.mask_note.setText(f"No mask for this method ({title}): "
                                   "it trains without a sparse mask, so there is no sparsity heat map or mask overlap.")
        self.update_side()

    # ================================================================ drawing
    def _changed(self, part: str, *values) -> bool:
        """True (and remembered) when ``values`` differ from those ``part`` was last drawn with.

        Lists compare by identity and length (the series only appends to them and makes new
        ones when it is cleared), so a loss point repaints the loss plot alone: repainting
        every plot (their axes' text above all) for each point stalled the GUI thread."""
        key = tuple((value, len(value)) if isinstance(value, list) else (value, None) for value in values)
        last = self._drawn.get(part)
        if last is not None and len(last) == len(key) and all(
                (a is b if isinstance(a, list) else a == b) and la == lb for (a, la), (b, lb) in zip(last, key)):
            return False
        self._drawn[part] = key
        return True

    def draw(self) -> None:
        """Show every number of the series (redrawing only the plots whose numbers changed)."""
        s = self.series
        changed = [(plot, draw) for plot, draw, changed in (
            (self.loss_plot, self._draw_loss, self._changed("loss", s.loss_x, s.epoch_ends)),
            (self.val_plot, self._draw_val, self._changed("val", *(xs for xs, _ in s.val.values()), s.best)),
            (self.jaccard_plot, self._draw_jaccard, self._changed("jaccard", s.jac_x, s.mask_epochs)),
            (self.mask_plot, self._draw_mask, self._changed("mask", s.mask_columns, s.masked_method)),
            (self.gpu_plot, self._draw_gpu, self._changed("gpu", s.gpu_x, s.gpu_total))) if changed]
        if len(changed) > 1:  # an epoch's end changes most plots: they paint one per turn
            self.stagger.hold([plot for plot, _ in changed])
        for _, draw in changed:
            draw()
        self.update_side()
        self.stagger.prepare_unheld()

    def _draw_loss(self) -> None:
        s = self.series
        self.loss_curve.setData(s.loss_x, s.loss_y)
        if len(set(s.loss_x)) >= 2:  # from the second point on, follow the data in steps
            self._follow_loss()
        elif s.loss_x and "loss" not in self._user_ranged:  # one point: a range around it, from zero
            finite = [y for y in s.loss_y if y == y]
            self.loss_plot.setXRange(0, max(2 * s.loss_x[0], 10), padding=0)
            self.loss_plot.setYRange(0, max(1.25 * max(finite, default=1.0), 1e-3), padding=0)
        self.loss_smooth_curve.setData(s.loss_x, s.loss_smooth)
        for epoch, step in s.epoch_ends[len(self._epoch_lines):]:
            line = pg.InfiniteLine(pos=step + 0.5, angle=90, movable=False,
                                   pen=pg.mkPen(QColor(128, 128, 128, 110), width=1, style=Qt.PenStyle.DashLine),
                                   label=str(epoch), labelOpts={"position": 0.95, "color": (128, 128, 128)})
            line.setToolTip(f"end of epoch {epoch}")
            self.loss_plot.addItem(line, ignoreBounds=True)
            self._epoch_lines.append(line)

    def _follow_loss(self) -> None:
        """Range the loss plot from zero over its points, to round numbers with some headroom."""
        s = self.series
        finite = [y for y in s.loss_y if y == y and abs(y) != float("inf")]
        if finite:
            self._follow("loss", snapped_range(0, max(s.loss_x)), snapped_range(min(finite), max(finite)))

    def _follow(self, part: str, x_range: tuple[float, float], y_range: tuple[float, float]) -> None:
        """Show ``x_range`` × ``y_range`` on plot ``part`` unless the user moved its view.

        pyqtgraph's auto-range moved both axes with every point, and an axis whose range
        moves lays out its tick labels again, while every curve recomputes what it shows:
        most of what a redraw cost. The ranges given here move a few times in a run. A view
        the user zoomed or panned is left alone until its auto-range button is pressed."""
        view = self._views[part]
        if part in self._user_ranged:
            if not any(view.autoRangeEnabled()):
                return
            self._user_ranged.discard(part)
            self._drawn.pop(f"{part} range", None)
        view.disableAutoRange()
        if self._drawn.get(f"{part} range") != (x_range, y_range):
            self._drawn[f"{part} range"] = (x_range, y_range)
            view.setRange(xRange=x_range, yRange=y_range, padding=FOLLOW_PADDING)

    def _on_view_moved(self, part: str) -> None:
        """The user zoomed or panned plot ``part``: stop ranging it until they press auto-range."""
        self._user_ranged.add(part)

    def _draw_val(self) -> None:
        s = self.series
        for key, curve in self.val_curves.items():
            xs, ys = s.val[key]
            curve.setData(xs, ys)
        shown = {round(y, 6) for _, ys in s.val.values() for y in ys}
        self.best_marker.setData([s.best[0]] if s.best else [], [s.best[1]] if s.best else [])
        last_epoch = max([xs[-1] for xs, _ in s.val.values() if xs] + [0])
        epochs = (0.5, max(last_epoch, 3) + 0.5)
        if len(shown) >= 2:  # whole tens of per cent around the values, within 0–100 %
            low, high = max(0.0, 10 * np.floor(min(shown) / 10 - 0.2)), min(100.0, 10 * np.ceil(max(shown) / 10 + 0.2))
            self._follow("val", epochs, (float(low), float(high)))
        elif len(shown) == 1 and "val" not in self._user_ranged:  # one value: ±10 points around it, within 0–100 %
            (value,) = shown
            self.val_plot.getPlotItem().getViewBox().setRange(
                xRange=epochs, yRange=(max(0.0, value - 10), min(100.0, value + 10)), padding=0)

    def _draw_jaccard(self) -> None:
        s = self.series
        self.jaccard_curve.setData(s.jac_x, s.jac_y)
        if s.jac_x or s.mask_epochs:
            high = max(s.jac_x + s.mask_epochs + [3])
            self.jaccard_plot.setXRange(0.5, high + 0.5, padding=0)

    def _draw_gpu(self) -> None:
        s = self.series
        self.gpu_curve.setData(s.gpu_x, s.gpu_alloc)
        self.gpu_reserved_curve.setData(s.gpu_x, s.gpu_reserved)
        if s.gpu_total:
            self.gpu_plot.getPlotItem().setTitle(f"GPU memory (of {s.gpu_total / (1 << 30):.1f} GiB)",
                                                 color=self._fg.name(), size="10pt")

    def _draw_mask(self) -> None:
        s = self.series
        waiting_in_place = s.masked_method and self.mask_waiting.isVisible()  # see reset
        wanted = self.mask_plot if s.masked_method and (s.mask_columns or waiting_in_place) else self.mask_placeholder
        if self.mask_stack.currentWidget() is not wanted:
            self.mask_stack.setCurrentWidget(wanted)
        if not s.mask_columns:
            return
        self.mask_waiting.hide()
        percent = np.nan_to_num(100 * s.mask_matrix, nan=0.0)
        rows, cols = percent.shape
        high = float(percent.max()) if percent.size else 1.0
        high = high if high > 0 else 1.0
        self.mask_image.setImage(percent, autoLevels=False)
        self.mask_image.setRect(QRectF(-0.5, -0.5, cols, rows))
        self.mask_colorbar.setLevels((0.0, high))
        item = self.mask_plot.getPlotItem()
        item.getAxis("left").setTicks([[(i, name) for i, name in enumerate(s.mask_layers)]])
        step = max(1, int(np.ceil(cols / 12)))
        item.getAxis("bottom").setTicks([[(j, str(e)) for j, e in enumerate(s.mask_epochs) if j % step == 0 or j == cols - 1]])
        view = item.getViewBox()
        view.setRange(xRange=(-0.5, cols - 0.5), yRange=(-0.5, rows - 0.5), padding=0)

    def update_side(self) -> None:
        """Show the plots this run has data for; without a mask the bottom row gives its room away."""
        s = self.series
        no_mask = s.masked_method is False
        show_jaccard = bool(s.masked_method) or bool(s.jac_x)
        show_gpu = bool(s.gpu_x) or s.on_cuda
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
        s = self.series
        if not s.mask_columns or not self.mask_plot.isVisible():
            return
        point = self.mask_plot.getPlotItem().getViewBox().mapSceneToView(pos)
        col, row = int(round(point.x())), int(round(point.y()))
        if 0 <= row < len(s.mask_layers) and 0 <= col < len(s.mask_columns):
            layer = s.mask_layers[row]
            kept, total = s.mask_columns[col].get(layer, (0, 0))
            share = 100 * kept / total if total else 0.0
            text = f"{layer}, epoch {s.mask_epochs[col]}: {share:.3f} % kept ({kept:,} of {total:,})"
            QToolTip.showText(self.mask_plot.mapToGlobal(self.mask_plot.mapFromScene(pos)), text, self.mask_plot)
