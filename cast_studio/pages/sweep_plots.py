"""The Sweep page's plots: a heat map of mean accuracy over two axes (α × K) and the
Figure 2 line chart (accuracy against α, a line per K). Both draw an engine
``SweepGrid``; clicking a heat-map cell asks for its runs."""

from __future__ import annotations

import gc
import math
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QWidget

from cast_engine.experiments.outputs import SweepGrid, y_label
from .fast_axis import plot_widget, settle, settle_when_resized
from .staggered_paint import StaggeredPaint

_UNSET = object()
LINE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _text(value) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)


def _plain(label: str) -> str:
    """'K = $10^{5}$' (matplotlib mathtext) → 'K = 10^5' for Qt."""
    return label.replace("$", "").replace("{", "").replace("}", "")


class _CellImage(pg.ImageItem):
    """An ImageItem that reports the cell under a left click."""

    def __init__(self, on_click):
        super().__init__(axisOrder="row-major")
        self._on_click = on_click

    def mouseClickEvent(self, event):  # noqa: N802 (pyqtgraph's name)
        if event.button() == Qt.MouseButton.LeftButton:
            pos = event.pos()
            self._on_click(int(math.floor(pos.x())), int(math.floor(pos.y())))
            event.accept()


class SweepPlots(QWidget):
    """Heat map (left) and line chart (right) of one sweep grid."""

    cell_clicked = Signal(list)  # the run ids of the clicked cell

    def __init__(self, parent=None):
        super().__init__(parent)
        self.grid: SweepGrid | None = None
        self.heat = plot_widget(background="w")
        self.heat.setMenuEnabled(False)
        self.heat.setMouseEnabled(x=False, y=False)
        self.heat.hideButtons()
        self.heat.getPlotItem().getAxis("left").setWidth(90)  # room for 'K = 10^6' before the first draw
        self.image = _CellImage(self._clicked)
        self.heat.addItem(self.image)
        self.colorbar = pg.ColorBarItem(colorMap=pg.colormap.get("viridis"), values=(0, 100), width=14, interactive=False)
        self.colorbar.setImageItem(self.image, insert_in=self.heat.getPlotItem())
        settle_when_resized(self.colorbar.getViewBox())
        self.heat.getPlotItem().setTitle("mean accuracy (%): click a cell to open its runs", color="#333", size="10pt")
        self.cell_texts: list[pg.TextItem] = []
        self._text_pool: list[pg.TextItem] = []
        self.lines = plot_widget(background="w")
        self.lines.getPlotItem().setTitle("accuracy against the sweep's first axis", color="#333", size="10pt")
        self.lines.showGrid(x=True, y=True, alpha=0.25)
        self.legend = self.lines.addLegend(offset=(-10, 10), labelTextColor="#333")
        for name in ("left", "bottom"):
            self.lines.getPlotItem().getAxis(name).enableAutoSIPrefix(False)  # α reads 0.05, not 50 ×0.001
            for plot in (self.heat, self.lines):
                plot.getPlotItem().getAxis(name).setTextPen("#333")  # pyqtgraph's grey is faint on white
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.error_bars: dict[str, pg.ErrorBarItem] = {}
        self._shown: dict[tuple, object] = {}  # what each title, label, tick list and range was last set to
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heat, 1)
        layout.addWidget(self.lines, 1)
        self.stagger = StaggeredPaint([self.heat, self.lines], self, prepare=settle)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """Shown (its page chosen): the two plots paint in two turns of the event loop."""
        super().showEvent(event)
        self.stagger.hold()

    # ------------------------------------------------------------- drawing
    def _set(self, key: tuple, value, apply: Callable) -> None:
        """``apply(value)`` unless ``key`` already shows ``value``. A new title, label or tick list lays
        the plot out and redraws its axis; a running sweep redraws after every trial, mostly unchanged."""
        if self._shown.get(key, _UNSET) != value:
            apply(value)
            self._shown[key] = value

    def _title(self, plot, name: str, text: str) -> None:
        self._set((name, "title"), text, lambda t: plot.setTitle(t, color="#333", size="10pt"))

    def _label(self, plot, name: str, axis: str, text: str) -> None:
        self._set((name, "label", axis), text, lambda t: plot.setLabel(axis, t))

    def _ticks(self, plot, name: str, axis: str, ticks) -> None:
        self._set((name, "ticks", axis), ticks, plot.getAxis(axis).setTicks)

    def _range(self, plot, name: str, x: tuple, y: tuple) -> None:
        self._set((name, "x"), x, lambda r: plot.setXRange(*r, padding=0))
        self._set((name, "y"), y, lambda r: plot.setYRange(*r, padding=0))

    def show_grid(self, grid: SweepGrid | None) -> None:
        """Draw ``grid`` (None clears both plots)."""
        self.grid = grid
        self.stagger.hold()  # the heat map paints in this turn of the event loop, the line chart in the next
        self._draw_heat(grid)
        self._draw_lines(grid)
        self.stagger.prepare_unheld()  # settles the plot that paints now; the held one settles in its turn

    def cell_matrix(self) -> np.ndarray:
        """Mean accuracy per cell, rows = second-axis values, columns = first-axis values (NaN: none yet)."""
        grid = self.grid
        if grid is None:
            return np.zeros((0, 0))
        xs, ys = grid.xs(), grid.ys()
        matrix = np.full((len(ys), len(xs)), np.nan)
        for r, y in enumerate(ys):
            for c, x in enumerate(xs):
                point = grid.point(x, y)
                if point is not None and point.mean is not None:
                    matrix[r, c] = point.mean
        return matrix

    def _draw_heat(self, grid: SweepGrid | None) -> None:
        plot = self.heat.getPlotItem()
        matrix = self.cell_matrix()
        if grid is None or matrix.size == 0:
            self.image.clear()
            self._show_texts(0)
            for axis in ("bottom", "left"):  # no cells: no ticks and no −0.5…0.5 axes
                self._ticks(plot, "heat", axis, [[]])
                self._label(plot, "heat", axis, "")
            self._range(plot, "heat", (0, 1), (0, 1))
            self._title(plot, "heat", "mean accuracy (%): no sweep to show yet")
            return
        self._title(plot, "heat", "mean accuracy (%): click a cell to open its runs")
        finite = matrix[np.isfinite(matrix)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 100.0)
        if high - low < 1.0:
            low, high = low - 0.5, high + 0.5
        self.image.setImage(matrix, autoLevels=False)  # a cell without runs (NaN) stays blank, not the lowest colour
        self.image.setRect(QRectF(0, 0, matrix.shape[1], matrix.shape[0]))
        self._set(("heat", "levels"), (low, high), self.colorbar.setLevels)
        xs, ys = grid.xs(), grid.ys()
        self._show_texts(len(xs) * len(ys))
        for i, (r, c) in enumerate((r, c) for r in range(len(ys)) for c in range(len(xs))):
            point = grid.point(xs[c], ys[r])
            if point is None or point.mean is None:
                label, colour = "no run yet", "#bbbbbb"
            else:
                label = f"{point.mean:.1f}\n(n={len(point.values)})"
                share = (point.mean - low) / (high - low)
                colour = "#000000" if share > 0.6 else "#ffffff"
            text = self.cell_texts[i]
            self._set(("cell", id(text)), (label, colour, c, r), lambda shown, t=text: (
                t.setText(shown[0], color=QColor(shown[1])), t.setPos(shown[2] + 0.5, shown[3] + 0.5)))
        self._ticks(plot, "heat", "bottom", [[(c + 0.5, _text(x)) for c, x in enumerate(xs)]])
        self._ticks(plot, "heat", "left", [[(r + 0.5, _plain(y_label(grid, y)) if grid.y_field else "")
                                            for r, y in enumerate(ys)]])
        self._label(plot, "heat", "bottom", grid.label(grid.x_field))
        self._label(plot, "heat", "left", grid.label(grid.y_field) if grid.y_field else "")
        self._range(plot, "heat", (0, len(xs)), (0, len(ys)))

    def _show_texts(self, count: int) -> None:
        """Make ``cell_texts`` the first ``count`` labels of a pool that only grows.

        Labels are reused, never removed: the plots redraw after every trial while a sweep
        thread runs, and dropped Qt items would become garbage that thread's collector could
        destroy off the GUI thread.
        """
        plot = self.heat.getPlotItem()
        while len(self._text_pool) < count:
            text = pg.TextItem("", anchor=(0.5, 0.5))
            plot.addItem(text)
            self._text_pool.append(text)
        for i, text in enumerate(self._text_pool):
            text.setVisible(i < count)
        self.cell_texts = self._text_pool[:count]

    def _draw_lines(self, grid: SweepGrid | None) -> None:
        plot = self.lines.getPlotItem()
        wanted = [] if grid is None else [_plain(y_label(grid, y)) if grid.y_field else "accuracy" for y in grid.ys()]
        for name in list(self.curves):
            if name not in wanted:  # lines of another sweep
                plot.removeItem(self.curves.pop(name))
                plot.removeItem(self.error_bars.pop(name))
                self.legend.removeItem(name)
                gc.collect()  # here, on the GUI thread (see _show_texts)
        if grid is None:
            self._range(plot, "lines", (0, 1), (0, 100))
            self._ticks(plot, "lines", "bottom", [[]])
            self._label(plot, "lines", "bottom", "")
            self._title(plot, "lines", "accuracy against the sweep's first axis: no sweep to show yet")
            return
        if ("lines", "x") in self._shown:  # the empty chart's fixed range no longer holds: fit the lines
            self._shown.pop(("lines", "x"))
            self._shown.pop(("lines", "y"), None)
            plot.enableAutoRange()
        xs = grid.xs()
        numeric = all(isinstance(x, (int, float)) for x in xs)
        position = {x: (float(x) if numeric else i) for i, x in enumerate(xs)}
        for i, (y, name) in enumerate(zip(grid.ys(), wanted)):
            points = [(position[x], p) for x in xs if (p := grid.point(x, y)) is not None and p.mean is not None]
            colour = LINE_COLOURS[i % len(LINE_COLOURS)]
            if name not in self.curves:
                self.curves[name] = plot.plot([], [], pen=pg.mkPen(colour, width=2), symbol="o", symbolBrush=colour,
                                              symbolPen=colour, name=name)
                self.error_bars[name] = pg.ErrorBarItem(pen=pg.mkPen(colour), beam=0.0)
                plot.addItem(self.error_bars[name])
            x_values = np.array([x for x, _ in points], dtype=float)
            means = np.array([p.mean for _, p in points], dtype=float)
            stds = np.array([p.std or 0.0 for _, p in points], dtype=float)
            self.curves[name].setData(x_values, means)  # plots update, never rebuild
            self.error_bars[name].setData(x=x_values, y=means, height=2 * stds)
        self._ticks(plot, "lines", "bottom", None if numeric else [[(i, _text(x)) for i, x in enumerate(xs)]])
        self._label(plot, "lines", "bottom", grid.label(grid.x_field))
        self._label(plot, "lines", "left", f"{grid.metric} test accuracy (%)")
        per_line = f", a line per {grid.label(grid.y_field)}" if grid.y_field else ""
        self._title(plot, "lines", f"accuracy against {grid.label(grid.x_field)}{per_line} (error bars: ±1 std)")

    # ------------------------------------------------------------- clicks
    def _clicked(self, column: int, row: int) -> None:
        grid = self.grid
        if grid is None:
            return
        xs, ys = grid.xs(), grid.ys()
        if 0 <= column < len(xs) and 0 <= row < len(ys):
            point = grid.point(xs[column], ys[row])
            if point is not None and point.run_ids:
                self.cell_clicked.emit(list(point.run_ids))

    def click_cell(self, x, y) -> None:
        """As a user clicking the cell of (x, y) (tests)."""
        grid = self.grid
        self._clicked(grid.xs().index(x), grid.ys().index(y))
