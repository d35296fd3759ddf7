"""Plot axes whose grid costs a fraction of a millisecond to draw, and the studio's one way to make a plot.

pyqtgraph draws an axis's grid as translucent lines over the data. Qt's raster
engine draws a translucent line about 25 times slower than an opaque one
(0.12 ms against 0.005 ms for a line across a plot), so one axis with its grid
cost 7-12 ms to draw, and axes were most of what the Monitor painted when a run
started or its page was shown. ``FastAxis`` draws each grid line opaque, in the
colour the translucent line would have made on the plot's background, and puts
the grid under the data (as matplotlib does) so that a curve crossing a grid
line is drawn whole. We keep pyqtgraph for everything else; only this drawing
step is ours.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPicture

SIDES = ("left", "bottom")  # the sides a plot shows (pyqtgraph shows every side it is given an axis for)
GRID_UNDER_DATA_Z = -200  # below the ViewBox (pyqtgraph puts it at -100 and axes at 0.5)
AXIS_Z = 0.5


SPECS_KEPT = 24  # tick layouts an axis keeps (the Monitor's ranges come from a few round numbers)


class FastAxis(pg.AxisItem):
    """An AxisItem whose grid lines are opaque, pre-blended with the background, and drawn under the data,
    and which keeps the tick layouts of the ranges it showed lately.

    Laying out ticks (values, labels, the labels' sizes) is pyqtgraph's Python and cost 3 ms an
    axis each time a range changed: at every run's start the Monitor's plots go back to the same
    empty ranges, and their ranges move between round numbers, so most layouts are seen before.
    """

    def __init__(self, *args, **kwargs):
        self._kept_specs: dict[tuple, tuple] = {}  # layout key -> pyqtgraph's draw specs, oldest first
        super().__init__(*args, **kwargs)

    def generateDrawSpecs(self, p):  # noqa: N802 (pyqtgraph's name)
        key = self._layout_key()
        if key not in self._kept_specs:
            if len(self._kept_specs) >= SPECS_KEPT:
                del self._kept_specs[next(iter(self._kept_specs))]
            self._kept_specs[key] = super().generateDrawSpecs(p)
        return self._kept_specs[key]

    def _layout_key(self) -> tuple:
        """Everything a tick layout depends on: range, geometry and placement (the axis's and its grid's),
        ticks given by hand, scale, grid, pens and the style (fonts and spacings)."""
        view = self.linkedView()
        grid_rect = self.mapRectFromItem(view, view.boundingRect()).getRect() if view is not None else None
        style = tuple((name, value.toString() if hasattr(value, "toString") else repr(value))
                      for name, value in sorted(self.style.items()))
        scene = self.sceneTransform()  # the pixel length of the axis, which sets how many ticks fit
        placed = (scene.m11(), scene.m12(), scene.m21(), scene.m22())
        return (tuple(self.range), self.mapRectFromParent(self.geometry()).getRect(), grid_rect, placed, self.orientation,
                repr(self._tickLevels), repr(getattr(self, "_tickSpacing", None)), self.grid, self.logMode, self.scale,
                self.autoSIPrefixScale, self.pen().color().rgba(), self.pen().widthF(), self.tickPen().color().rgba(),
                self.textPen().color().rgba(), style, type(self))

    def prepare(self) -> None:
        """Lay out and record the axis's drawing now, outside a paint (see ``settle``). Laid out in a paint,
        labels of a new width resize the axis there, and Qt paints the whole plot a second time."""
        if self.picture is not None or not self.isVisible():
            return
        scratch = QPicture()  # pyqtgraph's paint records the axis, then plays it here, into nothing
        painter = QPainter(scratch)
        try:
            self.paint(painter, None, None)
        finally:
            painter.end()

    def setGrid(self, grid):  # noqa: N802 (pyqtgraph's name)
        super().setGrid(grid)
        self.setZValue(GRID_UNDER_DATA_Z if grid not in (False, None) else AXIS_Z)

    def _background(self) -> QColor | None:
        """The plot's opaque background colour; None when there is none to blend with (an export, say)."""
        scene = self.scene()
        views = scene.views() if scene is not None else []
        if not views:
            return None
        brush = views[0].backgroundBrush()
        colour = brush.color()
        return colour if brush.style() == Qt.BrushStyle.SolidPattern and colour.alpha() == 255 else None

    @staticmethod
    def _opaque(pen: QPen, background: QColor | None) -> QPen:
        colour = pen.color()
        if background is None or colour.alpha() == 255:
            return pen
        a = colour.alphaF()
        blended = QColor(*(round(a * c + (1 - a) * b) for c, b in zip(colour.getRgb()[:3], background.getRgb()[:3])))
        opaque = QPen(pen)
        opaque.setColor(blended)
        return opaque

    def drawPicture(self, p, axisSpec, tickSpecs, textSpecs):  # noqa: N802 (pyqtgraph's name)
        p.setRenderHint(p.RenderHint.Antialiasing, False)
        p.setRenderHint(p.RenderHint.TextAntialiasing, True)
        pen, start, end = axisSpec
        p.setPen(pen)
        p.drawLine(start, end)
        background = self._background()
        for pen, start, end in tickSpecs:
            p.setPen(self._opaque(pen, background))
            p.drawLine(start, end)
        if self.style["tickFont"] is not None:
            p.setFont(self.style["tickFont"])
        p.setPen(self.textPen())
        p.setClipRect(self.boundingRect().toAlignedRect())
        for rect, flags, text in textSpecs:
            p.drawText(rect, int(flags), text)


def settle(*plots: pg.PlotWidget) -> None:
    """Move the plots' items to their views' new ranges now, rather than in the plots' next paint.

    pyqtgraph defers a range change until a plot is about to paint; its items then move and
    mark themselves changed in the middle of that paint, and Qt paints the plot again at once:
    one new range drew a plot two or three times, with the window waiting through all of them.
    Called after a plot's data or range changed, the plot's one paint finds everything in place."""
    for plot in plots:
        scene = plot.scene()
        if scene is None or not plot.isVisible():
            continue
        scene.prepareForPaint()  # each of the scene's views applies its deferred range
        item = plot.getPlotItem()
        for added in item.getViewBox().addedItems:
            added.boundingRect()  # items that size themselves to the view (epoch lines) do it now
            if isinstance(added, pg.TextItem):
                added.updateTransform()  # as do texts, which keep their size on screen
        for axis in item.axes.values():
            if isinstance(axis["item"], FastAxis):
                axis["item"].prepare()  # labels of a new width resize the axis now
        item.layout.activate()  # and the plot's parts take their new places now


def plot_widget(axis_items: dict[str, pg.AxisItem] | None = None, **kwargs) -> pg.PlotWidget:
    """A PlotWidget whose left and bottom axes are FastAxis (or the given ones, which should subclass it)."""
    axes = {side: FastAxis(side) for side in SIDES}
    axes.update(axis_items or {})
    widget = pg.PlotWidget(axisItems=axes, **kwargs)
    settle_when_resized(widget.getPlotItem().getViewBox())
    return widget


def settle_when_resized(view: pg.ViewBox) -> None:
    """A resized view moves its items at once, not in its next paint (see ``settle``); for views that a
    plot holds besides its own (a colour bar's)."""
    view.sigResized.connect(view.prepareForPaint)
