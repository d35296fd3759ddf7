"""Fixtures of the studio tests."""

from __future__ import annotations

import gc
import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def no_collection_inside_qt_calls():
    """As in the studio (cast_studio.garbage): no cyclic collection starts inside a Qt call or on a
    background thread during a test; its garbage is collected at teardown, between events."""
    was_on = gc.isenabled()
    gc.disable()
    yield
    gc.collect()
    if was_on:
        gc.enable()


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, store_path):
    """The main window on the test's store, with its own settings file; its run queue stopped afterwards."""
    monkeypatch.setenv("CAST_STUDIO_SETTINGS", str(tmp_path / "settings.ini"))
    from cast_studio.main_window import MainWindow

    win = MainWindow(store_path)
    qtbot.addWidget(win)
    win.show()
    # the demo data loads in the background on a first start; Run waits for it, as a user does
    qtbot.waitUntil(lambda: win.experiment_page.data_problem is None, timeout=60_000)
    yield win
    win.queue.shutdown()
