"""Axes drawn from a pixmap: switching to a page of plots repaints them without re-running their text.

pyqtgraph records each axis (ticks, numbers, label) as a QPicture and replays
it on every paint; replaying the text costs a millisecond or two per axis, and a
page of plots with colour bars has a dozen axes, so showing it again cost tens of
milliseconds on the GUI thread. With Qt's device-coordinate cache an axis is
drawn once into a pixmap and blitted until it changes (its range, ticks or
label call ``update()``, which drops the pixmap).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QGraphicsItem, QWidget


def cache_axes(root: QWidget) -> int:
    """Give every pyqtgraph axis under ``root`` (plots and colour bars) a pixmap cache; returns how many."""
    cached = 0
    views = [root] if isinstance(root, pg.GraphicsView) else []
    for view in views + root.findChildren(pg.GraphicsView):
        for item in view.scene().items():
            if isinstance(item, pg.AxisItem) and item.cacheMode() != QGraphicsItem.CacheMode.DeviceCoordinateCache:
                item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
                cached += 1
    return cached
