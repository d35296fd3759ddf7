"""The mask atlas: where the final masks of CAST and LT-SFT runs put their entries.

Two bar charts (share kept per layer, per kind of parameter: query, key,
value, attention output, feed-forward in and out, LayerNorm, biases,
embeddings, head), one bar group per run, and a table of the Jaccard overlap
between every two of the selected runs' final masks. The masks are read and
compared on a worker thread (a MiniLM mask has 22 M entries).
"""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, QThread, Signal
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .fast_axis import plot_widget
from .compare import run_colour


def load_atlas(store, ids: list[int]) -> dict:
    """{'atlas': {run id: mask_atlas}, 'jaccard': {(a, b): overlap}, 'missing': {run id: why}}."""
    from cast_engine.errors import CastError
    from cast_engine.sparse.mask_file import mask_atlas, mask_jaccard, run_mask

    masks, missing = {}, {}
    for run_id in ids:
        try:
            masks[run_id] = run_mask(store, run_id)
        except CastError as exc:
            missing[run_id] = str(exc)
    found = list(masks)
    jaccard = {(a, b): mask_jaccard(masks[a], masks[b]) for i, a in enumerate(found) for b in found[i + 1:]}
    return {"atlas": {run_id: mask_atlas(mask) for run_id, mask in masks.items()}, "jaccard": jaccard, "missing": missing}


class AtlasLoader(QThread):
    loaded = Signal(object)
    failed = Signal(str)

    def __init__(self, db_path: Path, ids: list[int]):
        super().__init__()
        self.db_path, self.ids = Path(db_path), list(ids)

    def run(self) -> None:  # on the worker thread
        from cast_engine.store import RunStore

        try:
            with RunStore(self.db_path) as store:
                self.loaded.emit(load_atlas(store, self.ids))
        except Exception as exc:
            self.failed.emit(str(exc))


class MaskAtlasWindow(QDialog):
    """Share kept per layer and per kind, and the Jaccard overlap, of the selected runs' final masks."""

    ready = Signal()

    def __init__(self, db_path: Path, ids: list[int], parent: QWidget | None = None):
        super().__init__(parent)
        self.ids = list(ids)
        self.data: dict | None = None
        self.setWindowTitle("Mask atlas — runs " + ", ".join(map(str, ids)))
        self.resize(1000, 760)
        self.note = QLabel("Reading the masks…")
        self.note.setWordWrap(True)
        self.layer_plot = self._plot("Share kept per layer (%)")
        self.kind_plot = self._plot("Share kept per kind of parameter (%)")
        self.jaccard_table = QTableWidget()
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.layer_plot, 1)
        layout.addWidget(self.kind_plot, 1)
        layout.addWidget(QLabel("Jaccard overlap of the final masks (|A ∩ B| / |A ∪ B|)"))
        layout.addWidget(self.jaccard_table)
        self.loader = AtlasLoader(db_path, ids)
        self.loader.loaded.connect(self._show)
        self.loader.failed.connect(self._fail)
        self.loader.start()

    @staticmethod
    def _plot(title: str) -> pg.PlotWidget:
        plot = plot_widget(background="w")
        plot.setTitle(title, color="#222")
        plot.showGrid(y=True, alpha=0.3)
        plot.setMouseEnabled(x=False, y=False)
        return plot

    def _fail(self, message: str) -> None:
        self.note.setText(f"Cannot read the masks: {message}")
        self.ready.emit()

    def _show(self, data: dict) -> None:
        self.data = data
        runs = list(data["atlas"])
        notes = [f"run {run_id}: {why}" for run_id, why in data["missing"].items()]
        self.note.setText(("Final masks of runs " + ", ".join(map(str, runs)) + "." if runs else "No run has a mask.")
                          + ("  " + "; ".join(notes) if notes else ""))
        self._bars(self.layer_plot, "layers")
        self._bars(self.kind_plot, "kinds")
        self._jaccard(runs)
        self.ready.emit()

    def shares(self, part: str) -> dict[int, dict[str, float]]:
        """{run id: {layer or kind: percent kept}} as the charts show them."""
        return {run_id: {key: 100.0 * kept / total for key, (kept, total) in atlas[part].items()}
                for run_id, atlas in self.data["atlas"].items()}

    def _bars(self, plot: pg.PlotWidget, part: str) -> None:
        plot.clear()
        shares = self.shares(part)
        keys: list[str] = []
        for values in shares.values():
            keys += [k for k in values if k not in keys]
        width = 0.8 / max(len(shares), 1)
        if plot.plotItem.legend is None:
            plot.addLegend(offset=(-10, 10))
        for i, (run_id, values) in enumerate(shares.items()):
            xs = [k + (i - (len(shares) - 1) / 2) * width for k in range(len(keys))]
            bars = pg.BarGraphItem(x=xs, height=[values.get(key, 0.0) for key in keys], width=width * 0.95,
                                   brush=run_colour(i), pen=None, name=f"run {run_id}")
            plot.addItem(bars)  # the legend picks up its name
        plot.getAxis("bottom").setTicks([list(enumerate(keys))])

    def _jaccard(self, runs: list[int]) -> None:
        table = self.jaccard_table
        table.setRowCount(len(runs))
        table.setColumnCount(len(runs))
        labels = [f"run {r}" for r in runs]
        table.setHorizontalHeaderLabels(labels)
        table.setVerticalHeaderLabels(labels)
        for i, a in enumerate(runs):
            for j, b in enumerate(runs):
                value = 1.0 if a == b else self.data["jaccard"].get((a, b), self.data["jaccard"].get((b, a)))
                item = QTableWidgetItem(f"{value:.3f}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                table.setItem(i, j, item)
        table.setMaximumHeight(40 + 30 * max(len(runs), 1))

    def done(self, result: int) -> None:
        if self.loader.isRunning():
            self.loader.wait()
        super().done(result)
