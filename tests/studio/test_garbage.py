"""The studio collects cyclic garbage from its GUI thread's event loop, never where an allocation happens to be."""

from __future__ import annotations

import gc
import importlib
import sys
import threading
import weakref

from cast_studio.garbage import collect_on_the_gui_thread


class _Node:
    def __init__(self):
        self.me = self  # a cycle: only the cyclic collector frees it


def test_garbage_is_collected_by_the_event_loop_not_by_other_threads(qtbot):
    gc.enable()  # as Python starts (the tests' own fixture turned it off)
    collector = collect_on_the_gui_thread()
    try:
        assert not gc.isenabled()  # an allocation never starts a collection by itself
        qtbot.wait(300)  # its first check freezes what the start made (see the next test)
        gone = weakref.ref(_Node())
        kept = []  # alive, so they count towards the thresholds until the collection
        allocations = threading.Thread(target=lambda: kept.extend([object()] for _ in range(50_000)))
        allocations.start()
        allocations.join()
        assert gone() is not None  # the background thread's allocations collected nothing
        qtbot.waitUntil(lambda: gone() is None, timeout=5_000)  # the GUI thread's timer did
    finally:
        collector.timer.stop()
        gc.unfreeze()


def test_what_an_import_made_is_frozen_and_later_garbage_still_collected(qtbot, tmp_path, monkeypatch):
    """A page's first use imports modules: tens of thousands of functions, classes and dicts at once, and the
    collection that next examined them held the window for 25-105 ms. The collector freezes them when it
    sees that modules were imported; cycles made afterwards are collected as before."""
    collector = collect_on_the_gui_thread()
    try:
        qtbot.wait(300)  # the first check froze what the start made
        frozen = gc.get_freeze_count()
        source = "\n".join(f"def function_{i}(x):\n    return x + {i}\n" for i in range(3000))
        (tmp_path / "module_of_many_functions.py").write_text(source)
        monkeypatch.syspath_prepend(str(tmp_path))
        module = importlib.import_module("module_of_many_functions")
        qtbot.waitUntil(lambda: gc.get_freeze_count() >= frozen + 3000, timeout=5_000)
        assert not gc.is_tracked(module.function_1) or module.function_1 not in gc.get_objects(generation=2)
        frozen = gc.get_freeze_count()
        gone = weakref.ref(_Node())
        kept = [[object()] for _ in range(5_000)]  # past the collector's threshold
        qtbot.waitUntil(lambda: gone() is None, timeout=5_000)  # no import since: collected, not frozen
        assert gc.get_freeze_count() == frozen and kept
    finally:
        collector.timer.stop()
        gc.unfreeze()  # the rest of the test run collects as before
        sys.modules.pop("module_of_many_functions", None)
