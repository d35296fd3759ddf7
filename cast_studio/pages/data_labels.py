"""The Data page's side panel: label counts of a split and its label-pair bars (the paper's Figure 3)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QLabel,
    QHeaderView,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .fast_axis import plot_widget
from .small_widgets import heading

BAR_COLOR = "#4a7fb5"


class LabelPanel(QWidget):
    """A table of factual and counterfactual label counts over a bar chart of label pairs."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumWidth(300)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(heading("Labels"))
        self.label_table = QTableWidget(0, 2)
        self.label_table.setHorizontalHeaderLabels(["Factual", "Counterfactual"])
        self.label_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.label_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.label_table.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.label_table.setFrameShape(QFrame.Shape.NoFrame)
        layout.addWidget(self.label_table)
        self.chart_title = heading("Label pairs")
        layout.addWidget(self.chart_title)
        layout.addWidget(self._build_chart(), 1)
        self.no_pairs_note = QLabel("None: this variant has no revisions, only originals, so there are no label pairs.")
        self.no_pairs_note.setWordWrap(True)
        self.no_pairs_note.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.no_pairs_note.hide()
        layout.addWidget(self.no_pairs_note, 1)

    def _build_chart(self) -> pg.PlotWidget:
        self.chart = plot_widget()
        self.chart.setMinimumHeight(220)
        palette = self.palette()
        self.chart.setBackground(palette.color(QPalette.ColorRole.Base))
        text_color = palette.color(QPalette.ColorRole.Text)
        plot = self.chart.getPlotItem()
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setMouseEnabled(x=False, y=False)
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            axis.setPen(pg.mkPen(text_color))
            axis.setTextPen(pg.mkPen(text_color))
        plot.getAxis("left").setStyle(maxTickLevel=0)  # major grid lines only
        plot.getAxis("bottom").setHeight(2 * self.fontMetrics().lineSpacing() + 14)  # two-line pair names
        plot.setLabel("left", "pairs")
        plot.showGrid(y=True, alpha=0.25)
        self.label_pair_bars = pg.BarGraphItem(x=[], height=[], width=0.6, brush=BAR_COLOR, pen=pg.mkPen(BAR_COLOR))
        plot.addItem(self.label_pair_bars)
        self._bar_texts: list[pg.TextItem] = []
        return self.chart

    def show_label_counts(self, split_stats: dict, labels: list[str]) -> None:
        """One row per label: how many factual and counterfactual examples have it."""
        table = self.label_table
        table.setRowCount(len(labels))
        table.setVerticalHeaderLabels(labels)
        for row, label in enumerate(labels):
            for column, key in enumerate(("factual_labels", "counterfactual_labels")):
                item = QTableWidgetItem(str(split_stats[key][label]))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                table.setItem(row, column, item)
        height = table.horizontalHeader().sizeHint().height() + 2
        height += sum(table.rowHeight(r) for r in range(len(labels)))
        table.setFixedHeight(max(height, 40))

    def show_label_pairs(self, counts: dict[str, int], split: str, revisions: int | None = None) -> None:
        """The Figure 3 bars of ``split``: pairs of different labels, either order. With no revisions
        (a RAW variant) there are no pairs: the chart gives way to a note saying so."""
        if revisions == 0:
            counts = {}
        names, heights = list(counts), list(counts.values())
        self.chart.setVisible(revisions != 0)
        self.no_pairs_note.setVisible(revisions == 0)
        self.label_pair_bars.setOpts(x=list(range(len(names))), height=heights, width=0.6)
        plot = self.chart.getPlotItem()
        plot.getAxis("bottom").setTicks([[(i, tick_text(n)) for i, n in enumerate(names)]])
        for item in self._bar_texts:
            plot.removeItem(item)
        self._bar_texts = []
        color = self.palette().color(QPalette.ColorRole.Text)
        for i, value in enumerate(heights):
            text = pg.TextItem(str(value), color=color, anchor=(0.5, 1.0))
            text.setPos(i, value)
            plot.addItem(text)
            self._bar_texts.append(text)
        top = max(heights, default=0)
        plot.setXRange(-0.6, max(len(names), 1) - 0.4, padding=0)
        plot.setYRange(0, max(top * 1.18, 5), padding=0)
        self.chart_title.setText(f"Label pairs ({split}, either order)" if revisions != 0 else f"Label pairs ({split})")


def tick_text(pair_name: str) -> str:
    """A label-pair name on two lines ("entailment-\\nneutral") so long names fit under a bar."""
    first, _, second = pair_name.partition("-")
    return f"{first}–\n{second}" if second else first
