"""Python's cyclic garbage collection, on the GUI thread's event loop only.

Left automatic, a collection starts wherever an allocation crosses the
threshold: inside a Qt call made from Python (a layout asking a plot for its
size hint), or on a background thread. If the garbage holds an old Qt widget,
PySide destroys it there, and Qt, re-entered in the middle of its own work,
deadlocks on its object mutex (seen: a menu destroyed inside a plot's layout).
pyqtgraph's ``GarbageCollector`` turns the automatic collector off and collects
on a timer of the GUI thread instead, between events, with the same thresholds.

Imports are the other cost. A page's first use imports modules (the store's
SQL helpers, a plot type), and their functions, classes and dicts, tens of
thousands of objects, arrive at once among the young objects: the collection
that next examined them held the window for 25-105 ms. Modules stay loaded for
the program's life, so once the collector sees that modules were imported it
freezes the objects alive then (``gc.freeze``): later collections skip them.
"""

from __future__ import annotations

import gc
import sys

from pyqtgraph.util.garbage_collector import GarbageCollector

COLLECT_EVERY_S = 0.1


class GuiThreadCollector(GarbageCollector):
    """pyqtgraph's timer-driven collector that also freezes what imports made, at its first check after them."""

    def __init__(self, interval: float = COLLECT_EVERY_S) -> None:
        self.modules_seen = 0  # len(sys.modules) at the last freeze; the first check freezes the start-up's objects
        super().__init__(interval=interval)

    def check(self) -> None:
        if len(sys.modules) != self.modules_seen:
            self.modules_seen = len(sys.modules)
            # What is garbage at this moment and not yet collected is frozen too and never freed: a bounded
            # cost, as this happens only when modules were imported (a few dozen times in a session at most).
            gc.freeze()
        super().check()


def collect_on_the_gui_thread() -> GuiThreadCollector:
    """Turn automatic collection off and collect from a timer of the calling (GUI) thread; keep the result alive."""
    return GuiThreadCollector()
