"""Compare runs side by side: validation curves, training loss, config diff, results.

The dialog only shows what it is given (run dicts and their epoch rows); the
history page reads them from the store. The cell formatters it shares with the
history table live in ``run_format``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cast_engine.export.tables import format_value

from .fast_axis import plot_widget
from .run_format import METRICS, fmt_count, fmt_duration, fmt_percent, lr_text, params_text

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
MISSING = "–"
EXPORT_SIZE = (900, 560)  # plots of a dialog that was never shown are exported at this size
RESULT_ROWS = (
    ("status", "Status"),
    ("combined", "Combined (test, %)"),
    ("factual", "Factual (test, %)"),
    ("counterfactual", "Counterfactual (test, %)"),
    ("pair", "Pair (test, %)"),
    ("best_epoch", "Best epoch"),
    ("epochs_completed", "Epochs run"),
    ("trainable_params", "Trainable params"),
    ("mask_keeps", "Mask keeps (K of eligible)"),
    ("total_params", "Total params"),
    ("wall_time_s", "Wall time"),
    ("lr", "Learning rate"),
    ("train_examples", "Examples processed"),
    ("train_time_s", "Training time"),
)
#: What the curves can be drawn against: epochs, or compute (methods at equal compute, not equal epochs).
X_AXES = {"epoch": "epoch", "train_examples": "training examples processed (forward and backward passes)"}


# ------------------------------------------------------------------ runs

def mask_text(method_info: dict) -> str:
    """'227,144 of 22,714,371 (1 %)': what a sparse method's mask keeps; '' for other methods."""
    k, eligible = method_info.get("k"), method_info.get("eligible_params")
    if not isinstance(k, int) or not isinstance(eligible, int) or not eligible:
        return ""
    return f"{k:,} of {eligible:,} ({100 * k / eligible:.3g} %)"


def run_label(run: dict, width: int = 36) -> str:
    """'#12 name', the name shortened to ``width`` characters."""
    name = run.get("name") or ""
    if len(name) > width:
        name = name[: width - 1] + "…"
    return f"#{run['id']} {name}"


def run_colour(index: int) -> QColor:
    return QColor(PALETTE[index % len(PALETTE)])


def _swatch(colour: QColor) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(colour)
    return QIcon(pixmap)


def curve_points(rows: list[dict], key: str, scale: float = 1.0, x_key: str = "epoch") -> tuple[list[float], list[float]]:
    """(x, values) of the epoch rows that have ``key`` and ``x_key`` (epoch, or the training examples
    processed so far), values times ``scale``."""
    xs, ys = [], []
    for row in rows:
        value, x = row.get(key), row.get(x_key)
        if isinstance(value, (int, float)) and math.isfinite(value) and isinstance(x, (int, float)):
            xs.append(float(x))
            ys.append(float(value) * scale)
    return xs, ys


# ------------------------------------------------------------------ dialog

class CompareDialog(QDialog):
    """Curves, config differences and results of a few runs.

    ``accuracy_curves`` and ``loss_curves`` map run id → PlotDataItem;
    ``diff_rows`` lists the dotted config keys that differ (rows of ``diff_table``).
    """

    def __init__(self, runs: list[dict], epochs: dict[int, list[dict]], parent: QWidget | None = None,
                 metric: str = "combined", open_ledger=None):
        super().__init__(parent)
        self.runs = sorted(runs, key=lambda run: run["id"])  # by id: a run keeps its colour however it was selected or exported
        self.epochs = epochs
        self.setWindowTitle("Compare runs " + ", ".join(f"#{run['id']}" for run in self.runs))
        self.resize(1200, 800)
        self.metric_combo = QComboBox()
        self.metric_combo.addItems(METRICS)
        self.metric_combo.setCurrentText(metric)
        self.x_combo = QComboBox()
        for key, label in X_AXES.items():
            self.x_combo.addItem(label, key)
        self.x_combo.setToolTip("Epochs, or the training examples each run had processed by then: methods at "
                                "equal compute, not equal epochs (CAST's two passes count twice).")
        self.x_key = "epoch"
        self.accuracy_plot = self._make_plot("validation accuracy (%)")
        self.loss_plot = self._make_plot("training loss")
        self.accuracy_curves: dict[int, pg.PlotDataItem] = {}
        self.loss_curves: dict[int, pg.PlotDataItem] = {}
        self.diff = self._config_diff()
        self.diff_rows = list(self.diff)
        self.diff_table = self._make_diff_table()
        self.results_view = self._make_results_table()
        self.export_button = QPushButton("Export plots…")
        self.ledger_button = QPushButton("Flip ledger…")  # two runs: the pairs B fixes and breaks (pairs_view)
        self.ledger_button.setVisible(open_ledger is not None and len(self.runs) == 2)
        if open_ledger is not None:
            self.ledger_button.clicked.connect(lambda: open_ledger([self.runs[0]["id"]], [self.runs[1]["id"]]))
        self._build_layout()
        self._draw_loss()
        self.set_metric(metric)
        self.metric_combo.currentTextChanged.connect(self.set_metric)
        self.x_combo.currentIndexChanged.connect(lambda _i: self.set_x_axis(self.x_combo.currentData()))
        self.export_button.clicked.connect(self._on_export)

    # -------------------------------------------------------------- plots
    def _make_plot(self, ylabel: str) -> pg.PlotWidget:
        plot = plot_widget(background="w")
        plot.getViewBox().setDefaultPadding(0.05)
        plot.showGrid(x=True, y=True, alpha=0.25)
        plot.setLabel("bottom", "epoch")
        plot.setLabel("left", ylabel)
        for name in ("bottom", "left"):
            axis = plot.getAxis(name)
            axis.setPen(pg.mkPen("#444"))
            axis.setTextPen(pg.mkPen("#222"))
            axis.enableAutoSIPrefix(False)  # a loss of 0.7 stays 0.7, not 700 (x0.001)
        return plot

    def _integer_epochs(self, plot: pg.PlotWidget) -> None:
        """Whole-epoch ticks on the x axis while there are few epochs (automatic ticks for compute)."""
        last = max((row.get("epoch") or 0 for rows in self.epochs.values() for row in rows), default=0)
        axis = plot.getAxis("bottom")
        plot.setLabel("bottom", X_AXES[self.x_key])
        if self.x_key == "epoch" and 0 < last <= 20:
            axis.setTickSpacing(major=1 if last <= 12 else 2, minor=1)
        else:
            axis.setTickSpacing()

    def _legend(self, plot: pg.PlotWidget, corner: str) -> pg.LegendItem:
        """A legend in the lower-right ('bottom') or upper-right ('top') corner."""
        offset = (-10, -10) if corner == "bottom" else (-10, 10)
        legend = plot.addLegend(offset=offset, labelTextColor="#222", brush=pg.mkBrush(255, 255, 255, 220),
                                pen=pg.mkPen("#bbb"))
        return legend

    def _add_curve(self, plot, index: int, run: dict, xs, ys) -> pg.PlotDataItem:
        colour = run_colour(index)
        style = Qt.PenStyle.SolidLine if index < len(PALETTE) else Qt.PenStyle.DashLine
        return plot.plot(xs, ys, name=run_label(run), pen=pg.mkPen(colour, width=2, style=style),
                         symbol="o", symbolSize=6, symbolBrush=colour, symbolPen=colour, antialias=True)

    def set_metric(self, metric: str) -> None:
        """Draw the validation ``metric`` curves (one per run)."""
        if metric not in METRICS:
            return
        if self.metric_combo.currentText() != metric:
            self.metric_combo.setCurrentText(metric)
        plot = self.accuracy_plot
        plot.clear()
        if plot.plotItem.legend is None:
            self._legend(plot, "bottom")
        plot.plotItem.legend.clear()
        plot.setLabel("left", f"validation {metric} accuracy (%)")
        self.accuracy_curves = {}
        self._integer_epochs(plot)
        for index, run in enumerate(self.runs):
            xs, ys = curve_points(self.epochs.get(run["id"], []), f"val_{metric}", 100.0, self.x_key)
            self.accuracy_curves[run["id"]] = self._add_curve(plot, index, run, xs, ys)

    def set_x_axis(self, key: str) -> None:
        """Draw both plots against ``key``: 'epoch' or 'train_examples' (runs stored before examples
        were recorded have no points then)."""
        if key not in X_AXES:
            return
        self.x_key = key
        if self.x_combo.currentData() != key:
            self.x_combo.setCurrentIndex(list(X_AXES).index(key))
        self._draw_loss()
        self.set_metric(self.metric_combo.currentText())

    def _draw_loss(self) -> None:
        plot = self.loss_plot
        plot.clear()
        if plot.plotItem.legend is None:
            self._legend(plot, "top")
        plot.plotItem.legend.clear()
        self._integer_epochs(plot)
        for index, run in enumerate(self.runs):
            xs, ys = curve_points(self.epochs.get(run["id"], []), "train_loss", x_key=self.x_key)
            self.loss_curves[run["id"]] = self._add_curve(plot, index, run, xs, ys)

    # -------------------------------------------------------------- tables
    def _config_diff(self) -> dict[str, list]:
        from cast_engine.export.tables import config_diff

        return config_diff([run.get("config") or {} for run in self.runs])

    def _run_table(self, row_labels: list[str]) -> QTableWidget:
        """A read-only table with one coloured column per run."""
        table = QTableWidget(len(row_labels), len(self.runs))
        table.setVerticalHeaderLabels(row_labels)
        for column, run in enumerate(self.runs):
            item = QTableWidgetItem(_swatch(run_colour(column)), run_label(run, 28))
            item.setToolTip(run.get("name") or "")
            table.setHorizontalHeaderItem(column, item)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setAlternatingRowColors(True)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        table.horizontalHeader().setMinimumSectionSize(120)
        table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        return table

    def _make_diff_table(self) -> QTableWidget:
        table = self._run_table(self.diff_rows)
        for row, key in enumerate(self.diff_rows):
            for column, value in enumerate(self.diff[key]):
                item = QTableWidgetItem(format_value(value))
                item.setToolTip(f"{key} = {value!r}")
                table.setItem(row, column, item)
        return table

    def result_values(self, run: dict) -> dict[str, str]:
        """The results column of one run as text, keyed like RESULT_ROWS."""
        results = run.get("results") or {}
        return {
            "status": run.get("status") or "",
            **{metric: fmt_percent(results.get(metric)) for metric in METRICS},
            "best_epoch": "" if run.get("best_epoch") is None else str(run["best_epoch"]),
            "epochs_completed": str(results.get("epochs_completed", "")),
            "trainable_params": params_text(run.get("trainable_params"), run.get("total_params")),
            "mask_keeps": mask_text(results.get("method_info") or {}),
            "total_params": fmt_count(run.get("total_params")),
            "wall_time_s": fmt_duration(run.get("wall_time_s")),
            "lr": lr_text(run),
            "train_examples": "" if results.get("train_examples") is None else f"{results['train_examples']:,}",
            "train_time_s": fmt_duration(results.get("train_time_s")),
        }

    def _make_results_table(self) -> QTableWidget:
        table = self._run_table([label for _, label in RESULT_ROWS])
        for column, run in enumerate(self.runs):
            values = self.result_values(run)
            for row, (key, _) in enumerate(RESULT_ROWS):
                item = QTableWidgetItem(values[key])
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(row, column, item)
        return table

    # -------------------------------------------------------------- layout
    def _build_layout(self) -> None:
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Validation accuracy:"))
        controls.addWidget(self.metric_combo)
        controls.addWidget(QLabel("against"))
        controls.addWidget(self.x_combo)
        controls.addStretch(1)
        controls.addWidget(self.ledger_button)
        controls.addWidget(self.export_button)
        plots = QSplitter(Qt.Orientation.Horizontal)
        plots.addWidget(self.accuracy_plot)
        plots.addWidget(self.loss_plot)
        tables = QTabWidget()
        tables.addTab(self.results_view, "Results")
        diff_title = f"Config differences ({len(self.diff_rows)})" if self.diff_rows else "Config differences (none)"
        tables.addTab(self.diff_table, diff_title)
        self.tabs = tables
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(plots)
        split.addWidget(tables)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([470, 300])
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(split, 1)

    # -------------------------------------------------------------- export
    def file_stem(self) -> str:
        """'runs-3-4-7' (the first six ids, then how many more)."""
        ids = [str(run["id"]) for run in self.runs]
        stem = "runs-" + "-".join(ids[:6])
        return stem + (f"-and-{len(ids) - 6}-more" if len(ids) > 6 else "")

    def export_plots(self, folder: str | Path) -> list[Path]:
        """Write both plots as PNG and SVG into ``folder``; return the paths."""
        folder = Path(folder).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        metric = self.metric_combo.currentText()
        written = []
        for plot, part in ((self.accuracy_plot, f"validation-{metric}"), (self.loss_plot, "train-loss")):
            self._ensure_size(plot)
            stem = folder / f"{self.file_stem()}-{part}"
            written += [export_png(plot, stem.with_suffix(".png")), export_svg(plot, stem.with_suffix(".svg"))]
        return written

    @staticmethod
    def _ensure_size(plot: pg.PlotWidget) -> None:
        """Lay out the plot of a dialog that is not on screen at EXPORT_SIZE, so its
        export has a sensible size and its labels do not overlap."""
        if plot.isVisible():
            return
        width, height = EXPORT_SIZE
        plot.resize(width, height)
        plot.setSceneRect(0, 0, width, height)
        plot.plotItem.setGeometry(0, 0, width, height)
        plot.plotItem.layout.activate()

    def _on_export(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export plots to folder", str(Path.home()),
                                                  QFileDialog.Option.DontUseNativeDialog)
        if not folder:
            return
        try:
            paths = self.export_plots(folder)
        except Exception as exc:  # shown, never raised into the event loop
            QMessageBox.warning(self, "Export plots", f"Cannot export the plots to {folder}: {exc}")
            return
        QMessageBox.information(self, "Export plots", "Wrote\n" + "\n".join(str(p) for p in paths))


def export_png(plot: pg.PlotWidget, path: Path) -> Path:
    """The plot as a PNG at its size on screen (pyqtgraph's ImageExporter; scaling it
    up would enlarge the axis text but not the legend)."""
    from pyqtgraph.exporters import ImageExporter

    ImageExporter(plot.plotItem).export(str(path))
    return path


def export_svg(plot: pg.PlotWidget, path: Path) -> Path:
    """The plot as SVG: pyqtgraph's SVGExporter, or Qt's own SVG writer where that
    exporter fails (pyqtgraph <= 0.14.0 cannot parse the closed paths Qt 6 writes,
    pyqtgraph issue #3495)."""
    from pyqtgraph.exporters import SVGExporter

    try:
        SVGExporter(plot.plotItem).export(str(path))
    except ValueError:
        _svg_by_qt(plot, path)
    return path


def _svg_by_qt(plot: pg.PlotWidget, path: Path) -> None:
    """Render the plot's scene into an SVG file with QSvgGenerator (white background)."""
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QPainter
    from PySide6.QtSvg import QSvgGenerator
    from pyqtgraph.exporters import ImageExporter

    source = plot.plotItem.sceneBoundingRect()
    target = QRectF(0, 0, source.width(), source.height())
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(target.size().toSize())
    generator.setViewBox(target)
    generator.setResolution(plot.logicalDpiX())  # the screen's: pyqtgraph sizes items for it
    generator.setTitle(plot.plotItem.getAxis("left").labelText or "plot")
    exporter = ImageExporter(plot.plotItem)  # only for its export mode: symbols drawn as paths
    painter = QPainter(generator)
    try:
        exporter.setExportMode(True, {"antialias": True, "background": QColor("white"), "painter": painter})
        painter.fillRect(target, QColor("white"))
        plot.scene().render(painter, target, source)
    finally:
        exporter.setExportMode(False)
        painter.end()
