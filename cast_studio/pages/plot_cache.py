"""Plots that switch pages cheaply: axes drawn from pixmaps, and no repaint for a page being shown or hidden.

pyqtgraph records each axis (ticks, numbers, label) as a QPicture and replays
it on every paint; replaying the text costs a millisecond or two per axis, and a
page of plots with colour bars has a dozen axes. With Qt's device-coordinate
cache an axis is drawn once into a pixmap and blitted until it changes (its
range, ticks or label call ``update()``, which drops the pixmap).

That cache did not survive a page switch on its own: a QGraphicsView that is
shown or hidden sends its scene WindowActivate / WindowDeactivate, the scene
passes it to every item, and each QGraphicsWidget answers with ``update()``
(so that a palette with active and inactive colours repaints). That dropped
every axis's pixmap and repainted each plot up to three times, in five paint
passes: 50-80 ms on the GUI thread for the Monitor on a quiet machine. Our
plots use fixed colours, never the palette's active or inactive group, so the
items are spared those two events; the scene itself still gets them, so its
focus and key handling are unchanged.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QGraphicsItem, QGraphicsObject, QWidget

_ACTIVATION = (QEvent.Type.WindowActivate, QEvent.Type.WindowDeactivate)


class _ActivationFilter(QObject):
    """Swallows window (de)activation on plot items: they would only repaint in the same colours."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        return event.type() in _ACTIVATION


_FILTER: _ActivationFilter | None = None  # one for the application: items hold no reference to a filter


def _activation_filter() -> _ActivationFilter:
    global _FILTER
    if _FILTER is None:
        _FILTER = _ActivationFilter()
    return _FILTER


def settle_plots(root: QWidget) -> int:
    """Give every pyqtgraph axis under ``root`` (plots and colour bars) a pixmap cache, and keep every
    plot item under it from repainting when its page is shown or hidden; returns how many items were new."""
    settled = 0
    views = [root] if isinstance(root, pg.GraphicsView) else []
    for view in views + root.findChildren(pg.GraphicsView):
        for item in view.scene().items():
            if isinstance(item, pg.AxisItem) and item.cacheMode() != QGraphicsItem.CacheMode.DeviceCoordinateCache:
                item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            if isinstance(item, QGraphicsObject) and not getattr(item, "_cast_quiet", False):
                item.installEventFilter(_activation_filter())
                item._cast_quiet = True
                settled += 1
    return settled
