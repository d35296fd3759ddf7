"""A screenshot of the Sweep page showing a sweep already in a store (for the README).

The README's picture shows the quick Figure 2 grid, made with
``cast paper figure2 --preset quick --task nli --variant RH1 ...`` (see
bench/results/paper-quick/); any store and sweep will do:

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/sweep_screenshot.py --db runs.sqlite --sweep 2
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True, help="The run store holding the sweep.")
    parser.add_argument("--sweep", type=int, required=True, help="The sweep to show.")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    os.environ["CAST_STUDIO_SETTINGS"] = str(Path(tempfile.mkdtemp()) / "settings.ini")

    from PySide6.QtWidgets import QApplication

    from cast_studio.main_window import MainWindow
    from screenshots import HEIGHT, WIDTH, save

    app = QApplication([])
    window = MainWindow(args.db)
    window.resize(WIDTH, HEIGHT)
    window.show()
    window.show_page("Sweep")
    page = window.sweep_page
    spec = page.store().get_sweep(args.sweep)["spec"]
    axes = [(name, ", ".join(str(v) for v in values)) for name, values in spec["grids"][0].items()
            if len(values) > 1]
    page.axes.set_axes(axes)
    page.refresh_sweeps(select=args.sweep)
    app.processEvents()
    save(window, "sweep", Path(args.out))


if __name__ == "__main__":
    main()
