"""Sweep page: define a grid over the Experiment page's settings, launch it, watch it fill.

The base config is what the Experiment page holds (data, model, training,
the first ticked method's settings); the grid's axes vary any config field.
A heat map of mean accuracy over two axes (α × K) and the Figure 2 line chart
update as trials finish; a cell opens its runs in History. Figures and tables
are written by the engine, the same files `cast paper` writes. A launched
sweep is a job on the studio's one queue: it waits for queued runs, the
Monitor follows the trial it trains, and the toolbar's Stop stops it too.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from cast_engine.errors import CastError, ConfigError
from cast_engine.experiments import SweepSpec, sweep_trial_runs
from cast_engine.experiments.outputs import figure2_plot, grid_csv, grid_markdown, sweep_grid, write_text
from cast_engine.experiments.sweep import SweepProgress

from ..events import SweepEnded
from ..store_access import open_store
from ..worker import RunQueue, SweepJob
from .run_format import fmt_duration
from .sweep_axes import AxesEditor
from .sweep_plots import SweepPlots

METRICS = ("combined", "factual", "counterfactual", "pair")
ERROR_STYLE = "color: #c0392b;"


class SweepPage(QWidget):
    """Grid editor, launch/stop with progress and ETA, the sweeps in the store and their plots."""

    open_runs = Signal(list)  # run ids to show in History
    runs_changed = Signal()  # a trial was recorded

    def __init__(self, db_path: str | Path, base_config: Callable, queue: RunQueue, parent=None):
        super().__init__(parent)
        self.db_path, self.base_config, self.queue = db_path, base_config, queue
        self.job: SweepJob | None = None
        queue.event.connect(self._on_event)
        self._store = None
        self.axes = AxesEditor()
        self.axes.changed.connect(self._update_count)
        self.plots = SweepPlots()
        self.plots.cell_clicked.connect(self.open_runs)
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(self._grid_box(), 3)
        top.addWidget(self._view_box(), 2)
        layout.addLayout(top)
        layout.addWidget(self.plots, 1)
        self._update_count()

    # ------------------------------------------------------------ layout
    def _grid_box(self) -> QGroupBox:
        box = QGroupBox("Grid (over the Experiment page's settings: data, model, training, first ticked method)")
        layout = QVBoxLayout(box)
        layout.addWidget(self.axes)
        row = QHBoxLayout()
        self.workers = QSpinBox()
        self.workers.setRange(1, 64)
        self.workers.setToolTip("Trials at once: worker processes on this machine (one per GPU where there are GPUs).")
        self.ray_address = QLineEdit()
        self.ray_address.setPlaceholderText("Ray address (empty: this machine)")
        self.ray_address.setToolTip("Run trials as Ray tasks on a cluster (e.g. auto, or ray://head:10001); "
                                    "results come back to the studio, which alone writes the history.")
        self.launch_button = QPushButton("Launch sweep")
        self.launch_button.clicked.connect(self.launch)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        row.addWidget(QLabel("Workers"))
        row.addWidget(self.workers)
        row.addWidget(self.ray_address, 1)
        row.addWidget(self.launch_button)
        row.addWidget(self.stop_button)
        layout.addLayout(row)
        self.count_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setFormat("%v of %m trials")
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout.addWidget(self.count_label)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        return box

    def _view_box(self) -> QGroupBox:
        box = QGroupBox("Sweeps in the history")
        form = QFormLayout(box)
        self.sweep_box = QComboBox()
        self.sweep_box.currentIndexChanged.connect(lambda _i: self.redraw())
        self.metric_box = QComboBox()
        self.metric_box.addItems(METRICS)
        self.metric_box.currentIndexChanged.connect(lambda _i: self.redraw())
        form.addRow("Sweep", self.sweep_box)
        form.addRow("Accuracy", self.metric_box)
        buttons = QHBoxLayout()
        self.export_figure_button = QPushButton("Export figure…")
        self.export_figure_button.clicked.connect(self._on_export_figure)
        self.export_table_button = QPushButton("Export table…")
        self.export_table_button.clicked.connect(self._on_export_table)
        buttons.addWidget(self.export_figure_button)
        buttons.addWidget(self.export_table_button)
        form.addRow(buttons)
        self.view_note = QLabel()
        self.view_note.setWordWrap(True)
        form.addRow(self.view_note)
        return box

    # ------------------------------------------------------------ the grid
    def spec(self) -> SweepSpec:
        """The sweep the page describes, every trial checked; ConfigError names the problem."""
        return self._spec_and_trials()[0]

    def _spec_and_trials(self) -> tuple[SweepSpec, list]:
        base = self.base_config()
        spec = SweepSpec(base.to_dict(), [self.axes.grid()], base.name or "studio sweep")
        return spec, spec.trials()

    def _update_count(self) -> None:
        """How many trials the grid makes, or why it makes none (checked as the user types)."""
        try:
            size = len(self._spec_and_trials()[1])
        except CastError as exc:
            self.count_label.setText(f"<span style='{ERROR_STYLE}'>{exc}</span>")
            return
        self.count_label.setText(f"{size} trial{'s' * (size != 1)}")

    def executor(self):
        from cast_engine.experiments.executors import make_executor

        address = self.ray_address.text().strip()
        if address:
            return make_executor("ray", address=address)
        return make_executor("local", workers=self.workers.value())

    # ------------------------------------------------------------ running
    def launch(self) -> bool:
        """Start the sweep, or say in place why not. Completed trials of the same grid are not rerun."""
        if self.is_running():
            return False
        try:
            spec = self.spec()
            executor = self.executor()
        except CastError as exc:
            self.status.setText(f"<span style='{ERROR_STYLE}'>Cannot launch: {exc}</span>")
            return False
        gc.collect()  # the GUI's garbage goes here, on the GUI thread, before the queue's thread freezes the rest
        self.job = SweepJob(spec, executor)
        self.launch_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        busy = self.queue.is_running()
        self.queue.submit([self.job])
        self.status.setText("queued: starts when the runs before it have ended" if busy else "starting…")
        return True

    def is_running(self) -> bool:
        """Whether the launched sweep waits in the queue or runs."""
        return self.job is not None and self.queue.is_pending(self.job)

    def stop(self) -> None:
        if self.job is not None:
            self.queue.cancel(self.job)
            self.status.setText("stopping after the trials in flight…")

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Stop and wait (the window is closing); True when the queue's thread ended in time."""
        if not self.is_running():
            return True
        self.queue.cancel(self.job)
        return self.queue.wait(timeout_ms)

    def _on_event(self, event) -> None:
        if isinstance(event, SweepProgress):
            self._on_progress(event)
        elif isinstance(event, SweepEnded):
            self._on_done(event.status, event.message)

    def _on_progress(self, progress) -> None:
        self.progress.setRange(0, progress.total)
        self.progress.setValue(progress.done)
        failed = f", {progress.failed} failed" if progress.failed else ""
        self.status.setText(f"sweep {progress.sweep_id}: {progress.done} of {progress.total} trials done{failed}; "
                            f"ETA {(fmt_duration(progress.eta_s) or 'estimating…') if progress.done < progress.total else 'done'}")
        self.refresh_sweeps(select=progress.sweep_id)
        if progress.last is not None:
            self.runs_changed.emit()

    def _on_done(self, status: str, message: str) -> None:
        self.launch_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        style = ERROR_STYLE if status in ("error", "failed") else ""
        self.status.setText(f"<span style='{style}'>{message}</span>" if style else message)
        self.refresh_sweeps()

    # ------------------------------------------------------------ viewing
    def store(self):
        if self._store is None:
            self._store = open_store(self.db_path)
        return self._store

    def refresh_sweeps(self, select: int | None = None) -> None:
        """List the store's sweeps; keep (or move to ``select``) the one shown."""
        current = select if select is not None else self.sweep_box.currentData()
        sweeps = self.store().list_sweeps()
        self._sweeps = {sweep["id"]: sweep for sweep in sweeps}
        self.sweep_box.blockSignals(True)
        self.sweep_box.clear()
        for sweep in sweeps:
            self.sweep_box.addItem(f"{sweep['id']}: {sweep['name']} ({sweep['done']}/{sweep['n_trials']}, {sweep['state']})",
                                   sweep["id"])
        index = self.sweep_box.findData(current) if current is not None else 0
        self.sweep_box.setCurrentIndex(max(index, 0))
        self.sweep_box.blockSignals(False)
        self.redraw()

    def current_grid(self):
        """The shown sweep's grid for the chosen accuracy (None without a sweep)."""
        sweep_id = self.sweep_box.currentData()
        if sweep_id is None:
            return None
        _spec, trials, runs = sweep_trial_runs(self.store(), sweep_id)
        return sweep_grid(trials, runs, self.metric_box.currentText())

    def redraw(self) -> None:
        grid = self.current_grid()
        self.plots.show_grid(grid)
        has = grid is not None and any(p.values for p in grid.points)
        self.export_figure_button.setEnabled(has)
        self.export_table_button.setEnabled(has)
        sweep = getattr(self, "_sweeps", {}).get(self.sweep_box.currentData())
        if sweep is None:
            self.view_note.setText("No sweeps yet: define a grid and launch it.")
        else:
            self.view_note.setText(f"{sweep['done']} of {sweep['n_trials']} trials completed ({sweep['state']}); "
                                   f"started {sweep['created_at'][:16].replace('T', ' ')} UTC. "
                                   "Launching the same grid again runs only the trials it lacks.")

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if not self.is_running():
            self.refresh_sweeps()

    # ------------------------------------------------------------ export
    def export_figure(self, path: str | Path) -> Path:
        """The shown grid as a figure; the suffix (.png or .svg) picks the format."""
        path = Path(path)
        if path.suffix.lower() not in (".png", ".svg"):
            raise ConfigError(f"{path.name}: a figure is saved as .png or .svg")
        grid = self.current_grid()
        figure = figure2_plot(grid, self.sweep_box.currentText())
        try:
            figure.savefig(path)
        except OSError as exc:
            raise CastError(f"cannot write {path}: {exc.strerror or exc}") from exc
        return path

    def export_table(self, path: str | Path) -> Path:
        """The shown grid as a table; .md or .csv."""
        path = Path(path)
        grid = self.current_grid()
        writers = {".md": lambda: grid_markdown(grid, self.sweep_box.currentText()), ".csv": lambda: grid_csv(grid)}
        if path.suffix.lower() not in writers:
            raise ConfigError(f"{path.name}: a table is saved as .md or .csv")
        return write_text(path, writers[path.suffix.lower()]())

    def _on_export_figure(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export figure", "figure2.png", "PNG (*.png);;SVG (*.svg)")
        if path:
            self._report(lambda: self.export_figure(path))

    def _on_export_table(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export table", "sweep.md", "Markdown (*.md);;CSV (*.csv)")
        if path:
            self._report(lambda: self.export_table(path))

    def _report(self, action) -> None:
        try:
            self.view_note.setText(f"wrote {action()}")
        except CastError as exc:
            self.view_note.setText(f"<span style='{ERROR_STYLE}'>{exc}</span>")
