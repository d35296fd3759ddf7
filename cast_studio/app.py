"""`cast-studio`: start the studio's main window.

torch and transformers are not imported here: they load on the first run
(or when devices are detected in the background), so the window shows at once.
"""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cast-studio", description="CAST Studio: the point-and-click experiment studio.")
    parser.add_argument("--db", default=None, help="Run store file (default: $CAST_DB, else the user's data folder).")
    args, qt_args = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from PySide6.QtWidgets import QApplication

    from .main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0], *qt_args])
    app.setApplicationName("CAST Studio")
    app.setOrganizationName("CAST Studio")
    window = MainWindow(args.db)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
