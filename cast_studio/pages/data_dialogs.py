"""The questions the Data page asks: which folder or table files to open, and whether to download CAD.

File dialogs are Qt's own (not native) and start where the last choice was made.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from cast_engine.data.download import UPSTREAM_BASE_URL, URL_ENV

TABLE_FILTER = "Tables (*.csv *.tsv *.txt *.jsonl *.json *.parquet);;All files (*)"


class SourceDialogs:
    """File dialogs for CAD sources that remember the folder chosen last."""

    def __init__(self, parent: QWidget):
        self.parent = parent
        self.last_dir = str(Path.home())

    def folder(self, title: str = "Open a CAD folder") -> str:
        """A CAD folder; "" when cancelled."""
        folder = QFileDialog.getExistingDirectory(
            self.parent, title, self.last_dir,
            QFileDialog.Option.ShowDirsOnly | QFileDialog.Option.DontUseNativeDialog,
        )
        if folder:
            self.last_dir = folder
        return folder

    def table_file(self, title: str) -> str:
        """A table file chosen in Qt's own (non-native) dialog; "" when cancelled."""
        path, _ = QFileDialog.getOpenFileName(self.parent, title, self.last_dir, TABLE_FILTER,
                                              options=QFileDialog.Option.DontUseNativeDialog)
        if path:
            self.last_dir = str(Path(path).parent)
        return path

    def aligned_files(self) -> tuple[str, str]:
        """(originals, revisions): two files aligned row by row; revisions is "" when cancelled."""
        originals = self.table_file("Open the file of originals (1 of 2)")
        revisions = self.table_file("Open the file of revisions, aligned row by row (2 of 2)") if originals else ""
        return originals, revisions


def confirm_download(parent: QWidget) -> bool:
    """Ask whether to download the CAD files (from where, into where); True for yes."""
    from cast_engine.data import default_cache_dir

    url = os.environ.get(URL_ENV) or UPSTREAM_BASE_URL
    answer = QMessageBox.question(
        parent, "Download CAD",
        f"Download the Kaushik et al. CAD files (sentiment and NLI, 12 files)\nfrom {url}\n"
        f"into {default_cache_dir()}?\n\nFiles already there are re-used.",
    )
    return answer == QMessageBox.StandardButton.Yes
