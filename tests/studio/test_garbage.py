"""The studio collects cyclic garbage from its GUI thread's event loop, never where an allocation happens to be."""

from __future__ import annotations

import gc
import threading
import weakref

from cast_studio.garbage import collect_on_the_gui_thread


class _Node:
    def __init__(self):
        self.me = self  # a cycle: only the cyclic collector frees it


def test_garbage_is_collected_by_the_event_loop_not_by_other_threads(qtbot):
    gc.enable()  # as Python starts (the tests' own fixture turned it off)
    collector = collect_on_the_gui_thread()
    assert not gc.isenabled()  # an allocation never starts a collection by itself
    gone = weakref.ref(_Node())
    kept = []  # alive, so they count towards the thresholds until the collection
    allocations = threading.Thread(target=lambda: kept.extend([object()] for _ in range(50_000)))
    allocations.start()
    allocations.join()
    assert gone() is not None  # the background thread's allocations collected nothing
    qtbot.waitUntil(lambda: gone() is None, timeout=5_000)  # the GUI thread's timer did
    collector.timer.stop()
