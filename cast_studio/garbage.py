"""Python's cyclic garbage collection, on the GUI thread's event loop only.

Left automatic, a collection starts wherever an allocation crosses the
threshold: inside a Qt call made from Python (a layout asking a plot for its
size hint), or on a background thread. If the garbage holds an old Qt widget,
PySide destroys it there, and Qt, re-entered in the middle of its own work,
deadlocks on its object mutex (seen: a menu destroyed inside a plot's layout).
pyqtgraph's ``GarbageCollector`` turns the automatic collector off and collects
on a timer of the GUI thread instead, between events, with the same thresholds.
"""

from __future__ import annotations

from pyqtgraph.util.garbage_collector import GarbageCollector

COLLECT_EVERY_S = 0.1


def collect_on_the_gui_thread() -> GarbageCollector:
    """Turn automatic collection off and collect from a timer of the calling (GUI) thread; keep the result alive."""
    return GarbageCollector(interval=COLLECT_EVERY_S)

