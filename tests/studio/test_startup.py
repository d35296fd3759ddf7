"""The studio starts quickly: no torch or transformers before the first run, a welcome on first start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import sys, time
start = time.perf_counter()
from PySide6.QtWidgets import QApplication
app = QApplication([])
from cast_studio.main_window import MainWindow
win = MainWindow(sys.argv[1])
win.show()
app.processEvents()
shown = time.perf_counter() - start
heavy = sorted(m for m in ("torch", "transformers", "peft", "adapters") if m in sys.modules)
print(win.banner.isVisible(), win.stack.currentWidget() is win.data_page, ",".join(heavy) or "-", f"{shown:.3f}")
"""


def test_window_shows_without_torch_and_welcomes_a_first_start(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "CAST_STUDIO_SETTINGS": str(tmp_path / "s.ini"), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "runs.sqlite")], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    banner, on_data_page, heavy, seconds = done.stdout.split()
    assert banner == "True" and on_data_page == "True"
    assert heavy == "-", f"imported before any run: {heavy}"
    # the window is up sooner than torch alone would import (measured the same way, now)
    torch_probe = "import time; start = time.perf_counter(); import torch; print(time.perf_counter() - start)"
    torch_import = subprocess.run([sys.executable, "-c", torch_probe], capture_output=True, text=True, env=env, timeout=120)
    assert float(seconds) < float(torch_import.stdout) * 2, (seconds, torch_import.stdout)
