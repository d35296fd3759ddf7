"""FastAxis draws pyqtgraph's grid with opaque lines (25 times cheaper for Qt), in the same colours."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QImage, QPainter, QPen
from PySide6.QtWidgets import QApplication

from cast_studio.pages.fast_axis import FastAxis, plot_widget, settle


def axis_pixels(axis, background: str) -> np.ndarray:
    """The axis (its ticks, numbers and grid) drawn alone on its plot's background colour."""
    for _ in range(3):  # the plot lays itself out over a few events
        QApplication.processEvents()
    axis.picture = None
    image = QImage(440, 340, QImage.Format.Format_RGB32)
    image.fill(pg.mkColor(background))
    painter = QPainter(image)
    painter.translate(axis.pos())
    axis.paint(painter, None, None)
    painter.end()
    return np.frombuffer(bytes(image.constBits()), np.uint8).reshape(340, 440, 4)[..., :3].astype(int)


def gridded(qtbot, make, background: str):
    widget = make(background)
    qtbot.addWidget(widget)
    widget.resize(420, 320)
    widget.show()
    item = widget.getPlotItem()
    item.setXRange(0, 40, padding=0)
    item.setYRange(60, 80, padding=0)
    item.showGrid(x=True, y=True, alpha=0.25)
    item.setLabel("left", "accuracy (%)")
    item.setLabel("bottom", "step")
    return widget


def test_the_grid_looks_as_pyqtgraph_draws_it(qtbot):
    for background in ("w", "#202124"):  # the light plots and the Monitor's dark theme
        ours = gridded(qtbot, lambda bg: plot_widget(background=bg), background)
        theirs = gridded(qtbot, lambda bg: pg.PlotWidget(background=bg), background)
        for side in ("left", "bottom"):
            mine, original = ours.getPlotItem().getAxis(side), theirs.getPlotItem().getAxis(side)
            assert isinstance(mine, FastAxis) and not isinstance(original, FastAxis)
            drawn = axis_pixels(mine, background)
            assert (drawn != axis_pixels(mine, "#808080")).any()  # a grid and numbers were drawn
            assert np.abs(drawn - axis_pixels(original, background)).max() <= 2, (background, side)  # rounding only


def test_grid_lines_are_opaque_and_under_the_data(qtbot):
    widget = gridded(qtbot, lambda bg: plot_widget(background=bg), "w")
    axis = widget.getPlotItem().getAxis("left")
    assert axis.zValue() < widget.getPlotItem().getViewBox().zValue()  # a curve crossing the grid is drawn whole
    image = QImage(500, 400, QImage.Format.Format_ARGB32_Premultiplied)
    painter = QPainter(image)
    specs = axis.generateDrawSpecs(painter)
    painter.end()
    assert any(pen.color().alpha() < 255 for pen, _, _ in specs[1])  # pyqtgraph's grid pens are translucent

    pens = []

    class Recorder(QPainter):
        def setPen(self, pen):  # noqa: N802 (Qt's name)
            pens.append(QPen(pen))
            super().setPen(pen)

    recorder = Recorder(image)
    axis.drawPicture(recorder, *specs)
    recorder.end()
    assert pens and all(pen.color().alpha() == 255 for pen in pens)
    widget.getPlotItem().showGrid(x=False, y=False)
    assert axis.zValue() > widget.getPlotItem().getViewBox().zValue()  # no grid: where pyqtgraph puts axes


def test_a_range_shown_before_reuses_its_tick_layout_and_draws_the_same(qtbot, monkeypatch):
    """At each run's start the Monitor's plots return to the same ranges: their tick layouts are kept."""
    widget = gridded(qtbot, lambda bg: plot_widget(background=bg), "w")
    item, axis = widget.getPlotItem(), widget.getPlotItem().getAxis("left")
    first = axis_pixels(axis, "w")
    laid_out = []
    real = pg.AxisItem.generateDrawSpecs
    monkeypatch.setattr(pg.AxisItem, "generateDrawSpecs",
                        lambda self, p: (self is axis and laid_out.append(self)) or real(self, p))
    for low, high in ((0, 1), (60, 80)):  # a new range, then the first again (the axis's width may change once)
        item.setYRange(low, high, padding=0)
        axis_pixels(axis, "w")
    assert laid_out
    seen = len(laid_out)
    item.setYRange(0, 1, padding=0)
    assert (axis_pixels(axis, "w") != first).any()
    item.setYRange(60, 80, padding=0)
    kept = axis_pixels(axis, "w")
    assert len(laid_out) == seen  # both seen before: kept
    axis._kept_specs.clear()
    assert np.array_equal(kept, axis_pixels(axis, "w")) and len(laid_out) == seen + 1  # the pixels of a fresh layout
    seen = len(laid_out)
    axis.setTicks([[(65, "sixty-five")]])  # ticks given by hand are another layout
    assert (axis_pixels(axis, "w") != first).any() and len(laid_out) > seen
    axis.setTicks(None)
    seen = len(laid_out)
    axis.setTextPen(pg.mkPen("r"))  # so is another colour
    assert (axis_pixels(axis, "w") != first).any() and len(laid_out) > seen


class _Paints(QObject):
    def __init__(self):
        super().__init__()
        self.count = 0

    def eventFilter(self, watched, event):  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def _shown_plot(qtbot):
    """A shown plot with a curve (with symbols), painted; and a counter of its paints from now on."""
    widget = plot_widget()
    qtbot.addWidget(widget)
    curve = widget.plot([1, 2, 3], [1, 2, 3], symbol="o")
    widget.setRange(xRange=(0, 4), yRange=(0, 4), padding=0)
    widget.resize(420, 320)
    widget.show()
    qtbot.waitExposed(widget)
    for _ in range(5):
        QApplication.processEvents()
    paints = _Paints()
    widget.viewport().installEventFilter(paints)
    return widget, curve, paints


def test_a_settled_plot_paints_once_for_a_new_range(qtbot):
    """pyqtgraph moves a plot's items to a new range in the middle of its next paint; they then mark
    themselves changed and Qt paints the plot again at once. Settled beforehand, the plot paints once."""
    widget, curve, paints = _shown_plot(qtbot)
    widget.addItem(pg.InfiniteLine(pos=2, angle=90, label="2"), ignoreBounds=True)  # sized to the view
    for high in (10, 40, 160):
        curve.setData([1, 2, 3, high], [1, 2, 3, high])
        widget.setRange(xRange=(0, high), yRange=(0, high), padding=0)
        settle(widget)
        paints.count = 0
        for _ in range(5):
            QApplication.processEvents()
        assert paints.count == 1, f"range 0-{high} painted {paints.count} times"


def test_a_resized_plot_moves_its_items_before_it_paints(qtbot):
    widget, _curve, paints = _shown_plot(qtbot)
    widget.resize(500, 300)
    for _ in range(5):
        QApplication.processEvents()
    assert paints.count == 1
