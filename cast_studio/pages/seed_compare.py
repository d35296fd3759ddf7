"""Compare seed groups: runs whose configs differ only in seed, shown as one curve each.

Each group's validation curve is the mean over its seeds with a band (±1 std or
min–max, named in the legend); the table gives its test result as mean ± std
(n); between two chosen groups the window shows the paired bootstrap CI of the
difference and McNemar's p (computed on a worker thread), and opens their flip
ledger.
"""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, QThread, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cast_engine.experiments.seed_groups import BANDS, mean_curve, mean_std_text, seed_groups

from .fast_axis import plot_widget
from .compare import run_colour
from .run_format import METRICS


def group_label(row, setting_keys: list[str]) -> str:
    """'cast alpha=0.05' or 'full': the method and the settings that tell groups apart."""
    settings = " ".join(f"{key.rsplit('.', 1)[-1]}={row.settings.get(key)}" for key in setting_keys
                        if row.settings.get(key) is not None)
    return f"{row.method} {row.regime}" + (f" {settings}" if settings else "")


class ComparisonThread(QThread):
    """compare_runs between two groups, off the GUI thread (the bootstrap resamples 10,000 times)."""

    done = Signal(object)
    failed = Signal(str)

    def __init__(self, db_path: Path, ids_a: list[int], ids_b: list[int], evaluation: str | None):
        super().__init__()
        self.db_path, self.ids_a, self.ids_b, self.evaluation = Path(db_path), ids_a, ids_b, evaluation

    def run(self) -> None:  # on the worker thread
        from cast_engine.evaluate.significance import compare_runs
        from cast_engine.store import RunStore

        try:
            with RunStore(self.db_path) as store:
                runs_a = [store.get_run(i) for i in self.ids_a]
                runs_b = [store.get_run(i) for i in self.ids_b]
                # groups may hold different seeds: compare the seeds both have (one run pair each)
                self.done.emit(compare_runs(store, runs_a, runs_b, self.evaluation, shared_seeds_only=True))
        except Exception as exc:  # shown in the window
            self.failed.emit(str(exc))


class SeedGroupDialog(QDialog):
    """Mean curves with bands, mean ± std (n), and the paired test between two groups."""

    compared = Signal()

    def __init__(self, db_path: Path, runs: list[dict], epochs: dict[int, list[dict]],
                 evaluation: str | None = None, open_ledger=None, parent: QWidget | None = None):
        super().__init__(parent)
        from cast_engine.export.tables import results_table

        self.db_path, self.runs, self.epochs, self.evaluation = Path(db_path), runs, epochs, evaluation
        self.open_ledger = open_ledger
        table = results_table(runs, "combined")
        self.groups = seed_groups(runs, "combined")
        self.labels = [group_label(row, table.setting_keys) for row in self.groups]
        self.thread: ComparisonThread | None = None
        self.comparison = None
        self.setWindowTitle(f"Seed groups — {len(self.groups)} groups of {len(runs)} runs")
        self.resize(1100, 760)
        self.metric_combo = QComboBox()
        self.metric_combo.addItems(METRICS)
        self.band_combo = QComboBox()
        self.band_combo.addItems(BANDS)
        self.plot = plot_widget(background="w")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("bottom", "epoch")
        self.table = QTableWidget()
        self.a_combo, self.b_combo = QComboBox(), QComboBox()
        for combo in (self.a_combo, self.b_combo):
            combo.addItems(self.labels)
        if len(self.labels) > 1:
            self.b_combo.setCurrentIndex(1)
        self.compare_label = QLabel()
        self.compare_label.setWordWrap(True)
        self.compare_label.setTextFormat(Qt.TextFormat.RichText)
        self.ledger_button = QPushButton("Flip ledger…")
        self._build()
        self.draw()
        self._fill_table()
        for combo in (self.metric_combo, self.band_combo):
            combo.currentTextChanged.connect(lambda _: self.draw())
        self.metric_combo.currentTextChanged.connect(lambda _: self._fill_table())
        for combo in (self.a_combo, self.b_combo):
            combo.currentIndexChanged.connect(lambda _: self.compare())
        self.ledger_button.clicked.connect(self._on_ledger)
        self.compare()

    def _build(self) -> None:
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Validation accuracy:"))
        controls.addWidget(self.metric_combo)
        controls.addWidget(QLabel("Band:"))
        controls.addWidget(self.band_combo)
        controls.addStretch(1)
        pair = QHBoxLayout()
        pair.addWidget(QLabel("A"))
        pair.addWidget(self.a_combo)
        pair.addWidget(QLabel("B"))
        pair.addWidget(self.b_combo)
        pair.addWidget(self.ledger_button)
        pair.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.plot, 3)
        layout.addWidget(self.table, 1)
        layout.addLayout(pair)
        layout.addWidget(self.compare_label)

    # ------------------------------------------------------------------ curves
    def draw(self) -> None:
        metric, band = self.metric_combo.currentText(), self.band_combo.currentText()
        self.plot.clear()
        legend = self.plot.plotItem.legend or self.plot.addLegend(offset=(-10, -10))
        legend.clear()
        self.plot.setLabel("left", f"validation {metric} accuracy (%)")
        self.curves = {}
        for index, (row, label) in enumerate(zip(self.groups, self.labels)):
            curve = mean_curve([self.epochs.get(run_id, []) for run_id in row.run_ids], f"val_{metric}", band)
            colour = run_colour(index)
            line = self.plot.plot(curve.epochs, curve.mean, pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=5,
                                  symbolBrush=colour, name=f"{label} (n={row.n}), mean with band {band}")
            fill_colour = pg.mkColor(colour)
            fill_colour.setAlpha(50)
            low = pg.PlotDataItem(curve.epochs, curve.low, pen=None)
            high = pg.PlotDataItem(curve.epochs, curve.high, pen=None)
            self.plot.addItem(pg.FillBetweenItem(low, high, brush=pg.mkBrush(fill_colour)))
            self.curves[label] = (line, curve)
        epochs = [e for _, curve in self.curves.values() for e in curve.epochs]
        lows = [v for _, curve in self.curves.values() for v in curve.low]
        highs = [v for _, curve in self.curves.values() for v in curve.high]
        if epochs:
            self.plot.setXRange(min(epochs) - 0.2, max(epochs) + 0.2)
            spread = max(max(highs) - min(lows), 2.0)
            self.plot.setYRange(min(lows) - 0.15 * spread, max(highs) + 0.15 * spread)
            self.plot.getAxis("bottom").setTicks([[(e, str(e)) for e in sorted(set(epochs))]])

    # ------------------------------------------------------------------ table
    def _fill_table(self) -> None:
        metric = self.metric_combo.currentText()
        rows = seed_groups(self.runs, metric)
        by_ids = {tuple(r.run_ids): r for r in rows}
        self.table.setRowCount(len(self.groups))
        self.table.setColumnCount(3)
        on = f"Evaluation '{self.evaluation}'" if self.evaluation else "Test"
        self.table.setHorizontalHeaderLabels(["Group", f"{on}: {metric} (%), mean ± std (n)", "Runs"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for i, (group, label) in enumerate(zip(self.groups, self.labels)):
            row = by_ids.get(tuple(group.run_ids))
            for j, text in enumerate((label, mean_std_text(row) if row else "–", ", ".join(map(str, group.run_ids)))):
                self.table.setItem(i, j, QTableWidgetItem(text))

    def result_text(self, label: str) -> str:
        """The table's mean ± std (n) cell of a group."""
        i = self.labels.index(label)
        return self.table.item(i, 1).text()

    # ------------------------------------------------------------------ A against B
    def chosen(self) -> tuple[list[int], list[int]] | None:
        a, b = self.a_combo.currentIndex(), self.b_combo.currentIndex()
        if a < 0 or b < 0 or a == b:
            return None
        return self.groups[a].run_ids, self.groups[b].run_ids

    def compare(self) -> None:
        chosen = self.chosen()
        self.ledger_button.setEnabled(chosen is not None and self.open_ledger is not None)
        if chosen is None:
            self.compare_label.setText("Choose two different groups as A and B for a paired comparison.")
            return
        if self.thread is not None and self.thread.isRunning():
            self.thread.wait()
        on = f"evaluation '{self.evaluation}'" if self.evaluation else "the test split"
        self.compare_label.setText(f"Comparing A and B on {on}…")
        self.comparison = None
        thread = self.thread = ComparisonThread(self.db_path, *chosen, self.evaluation)
        # a result of an earlier choice that arrives late is dropped
        thread.done.connect(lambda result: self._show_comparison(result) if thread is self.thread else None)
        thread.failed.connect(lambda message: self._show_failure(message) if thread is self.thread else None)
        thread.start()

    def _show_failure(self, message: str) -> None:
        self.compare_label.setText(f"No paired comparison: {message}")
        self.compared.emit()

    def _show_comparison(self, result) -> None:
        self.comparison = result
        verdict = "significant at 0.05" if result.significant() else "not significant at 0.05"
        self.compare_label.setText(
            f"A − B = <b>{100 * result.difference:+.2f}</b> points (combined accuracy {100 * result.accuracy_a:.2f} % "
            f"vs {100 * result.accuracy_b:.2f} %), paired bootstrap 95 % CI "
            f"<b>[{100 * result.ci_low:+.2f}, {100 * result.ci_high:+.2f}]</b>; McNemar: A right and B wrong "
            f"{result.b}, A wrong and B right {result.c}, <b>p = {result.p_value:.3g}</b> "
            f"({result.n_examples} examples, {result.n_pairs_of_runs} seed pair(s)); {verdict}")
        self.compared.emit()

    def _on_ledger(self) -> None:
        chosen = self.chosen()
        if chosen is not None and self.open_ledger is not None:
            self.open_ledger(list(chosen[0]), list(chosen[1]))

    def done(self, result: int) -> None:
        if self.thread is not None and self.thread.isRunning():
            self.thread.wait()
        super().done(result)
