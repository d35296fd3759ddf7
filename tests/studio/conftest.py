"""Fixtures of the studio tests."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, store_path):
    """The main window on the test's store, with its own settings file; its run queue stopped afterwards."""
    monkeypatch.setenv("CAST_STUDIO_SETTINGS", str(tmp_path / "settings.ini"))
    from cast_studio.main_window import MainWindow

    win = MainWindow(store_path)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.queue.shutdown()
