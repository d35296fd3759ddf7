"""Sweep page: define a grid over the Experiment page's settings, launch it, watch it fill.

The base config is what the Experiment page holds (data, model, training,
the ticked methods' settings); the grid's axes vary any config field, and the
ticked methods become a method axis unless the grid has one. A preview lists
the trials with every field that varies; every trial is checked as the user
types, with the checks a run makes at its start (K against the model too).
A heat map of mean accuracy over two axes (α × K) and the Figure 2 line chart
update as trials finish; a cell opens its runs in History. Figures and tables
are written by the engine, the same files `cast paper` writes. A launched
sweep is a job on the studio's one queue: it waits for queued runs, the
Monitor follows the trial it trains, and the toolbar's Stop stops it too.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QHeaderView,
                               QLabel, QLineEdit, QPushButton, QSpinBox, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from cast_engine.errors import CastError, ConfigError
from cast_engine.config import flatten_config
from cast_engine.experiments import SweepSpec
from cast_engine.experiments.grid import axis_notes, grid_title
from cast_engine.experiments.outputs import figure2_plot, grid_csv, grid_markdown, sweep_grid, trial_fields, write_text
from cast_engine.experiments.sweep import SweepProgress, trial_runs
from cast_engine.experiments.tuning import picked_rates, trained_lr, tuned_grids

from .lazy_progress import LazyProgressBar
from ..events import SweepEnded
from ..store_access import open_store
from ..worker import RunQueue, SweepJob
from .run_format import fmt_duration
from .sweep_axes import AxesEditor
from .sweep_plots import SweepPlots

METRICS = ("combined", "factual", "counterfactual", "pair")
ERROR_STYLE = "color: #c0392b;"
PREVIEW_ROWS = 500  # trials listed in the preview (the count covers them all)
CHECK_AFTER_THE_END_MS = 100  # a sweep ended: the grid is checked again this long after, once its views are redrawn


def own_settings(base_method: dict, name: str, values: dict, grid: dict) -> dict[str, list]:
    """One-value axes that give method ``name`` its own settings (``values``, from its form) where a trial
    of it would otherwise take another: the base method's value of a shared field (CAST's K for LT-SFT)
    or the field's default. Fields the grid varies are left to the grid."""
    from cast_engine.methods.registry import get_method

    defaults = get_method(name).config_cls().to_dict()
    shared = base_method.get("name") != name
    axes = {}
    for field, value in values.items():
        key = f"method.{field}"
        inherited = base_method.get(field, defaults.get(field)) if shared else value
        if key not in grid and value != inherited:
            axes[key] = [value]
    return axes


def varying_fields(trials: list) -> list[str]:
    """The config keys (dotted) whose values differ between the trials, the method first."""
    flat = [flatten_config(t.config.to_dict()) for t in trials]
    keys = list(dict.fromkeys(k for f in flat for k in f if k != "name"))
    # a field only some methods have (K) varies only if it differs between the trials that have it
    varying = [k for k in keys if k == "method.name" and len({f[k] for f in flat}) > 1
               or len({repr(f[k]) for f in flat if k in f}) > 1]
    return sorted(varying, key=lambda k: (k != "method.name", keys.index(k)))


class SweepPage(QWidget):
    """Grid editor, launch/stop with progress and ETA, the sweeps in the store and their plots."""

    open_runs = Signal(list)  # run ids to show in History
    runs_changed = Signal()  # a trial was recorded

    def __init__(self, db_path: str | Path, base_config: Callable, queue: RunQueue, parent=None, *,
                 methods: Callable[[], dict[str, dict]] | None = None, check_config: Callable | None = None):
        """``base_config()``: the Experiment page's settings as one RunConfig; ``queue``: the studio's job queue;
        ``methods()``: the ticked methods and their settings (each becomes a value of the method axis, with
        its own settings); ``check_config(config)``: the checks a run makes at its start that need the model
        (raises ConfigError)."""
        super().__init__(parent)
        self._grid_stale = True  # checked when the page is first shown
        self.db_path, self.base_config, self.queue = db_path, base_config, queue
        self.methods, self.check_config = methods, check_config
        self.job: SweepJob | None = None
        self._job_ended = False
        queue.event.connect(self._on_event)
        self._store = None
        self._trials: dict[int, tuple[dict, list, list]] = {}  # sweep id → (stored spec, trials, their fields)
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
        box = QGroupBox("Grid (over the Experiment page's settings: data, model, training, the ticked methods)")
        layout = QVBoxLayout(box)
        layout.addWidget(self.axes)
        protocol_row = QHBoxLayout()
        self.protocol_box = QComboBox()
        self.protocol_box.addItem("one rate for every method (the Experiment page's)", "paper")
        self.protocol_box.addItem("tuned: each method's own grid, picked on validation", "tuned")
        self.protocol_box.setToolTip("tuned: every method in the grid trains over its learning-rate grid (from its "
                                     "paper, shown on its Experiment page); the view names the rate with the best "
                                     "mean validation accuracy over seeds for each setting (never test).")
        self.protocol_box.currentIndexChanged.connect(lambda _i: self._update_count())
        protocol_row.addWidget(QLabel("Learning rates"))
        protocol_row.addWidget(self.protocol_box, 1)
        layout.addLayout(protocol_row)
        self.preview = QTableWidget(0, 0)
        self.preview.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.preview.verticalHeader().setDefaultSectionSize(20)
        self.preview.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.preview.setMaximumHeight(120)
        self.preview.setToolTip("The trials the grid makes, with every field that differs between them.")
        layout.addWidget(self.preview)
        self.notes_label = QLabel()
        self.notes_label.setWordWrap(True)
        self.notes_label.setTextFormat(Qt.TextFormat.PlainText)
        self.notes_label.setStyleSheet("color: #8d6e00;")
        self.notes_label.hide()
        layout.addWidget(self.notes_label)
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
        self.progress = LazyProgressBar()
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
        grid = self.axes.grid()
        methods = self.methods() if self.methods is not None else {}
        grids = [grid]
        if "method" not in grid and len(methods) > 1:  # the ticked methods are the method axis
            grids = [{"method": [name], **own_settings(base.method.to_dict(), name, values, grid), **grid}
                     for name, values in methods.items()]
        name = base.name
        if self.protocol_box.currentData() == "tuned":
            name = f"{name or grid_title(base.to_dict(), grids)} (tuned)"
            grids = [tuned for one in grids for tuned in tuned_grids(base.to_dict(), one)]
        spec = SweepSpec(base.to_dict(), grids, name)
        trials = spec.trials()
        if self.check_config is not None:
            for trial in trials:
                try:
                    self.check_config(trial.config)
                except ConfigError as exc:
                    raise ConfigError(f"grid trial ({trial.label() or 'the base config'}): {exc}") from None
        return spec, trials

    def _update_count(self) -> None:
        """How many trials the grid makes, which, and what does not apply; or why it makes none.
        Checked as the user types; Launch is enabled only for a grid that can run."""
        self._grid_stale = False
        try:
            spec, trials = self._spec_and_trials()
        except CastError as exc:
            self.count_label.setText(f"<span style='{ERROR_STYLE}'>{html.escape(str(exc), quote=False)}</span>")
            self._show_preview([])
            self.notes_label.hide()
            self._set_launchable(False, str(exc))
            return
        size = len(trials)
        methods = list(dict.fromkeys(t.config.method.name for t in trials))
        self.count_label.setText(html.escape(f"{size} trial{'s' * (size != 1)} of {', '.join(methods)} "
                                             f"— sweep '{spec.title()}'", quote=False))
        self._show_preview(trials)
        notes = axis_notes(spec)
        self.notes_label.setText("\n".join(notes))
        self.notes_label.setVisible(bool(notes))
        self._set_launchable(True, "")

    def _show_preview(self, trials: list) -> None:
        keys = varying_fields(trials) if len(trials) > 1 else ["method.name"] * bool(trials)
        self.preview.clear()
        self.preview.setColumnCount(len(keys))
        self.preview.setHorizontalHeaderLabels([k.rsplit(".", 1)[-1] if k != "method.name" else "method" for k in keys])
        shown = trials[:PREVIEW_ROWS]
        self.preview.setRowCount(len(shown))
        for row, trial in enumerate(shown):
            flat = flatten_config(trial.config.to_dict())
            for col, key in enumerate(keys):
                self.preview.setItem(row, col, QTableWidgetItem(str(flat.get(key, ""))))

    def preview_rows(self) -> list[dict[str, str]]:
        """The preview's rows as {column title: text}."""
        titles = [self.preview.horizontalHeaderItem(c).text() for c in range(self.preview.columnCount())]
        return [{t: self.preview.item(r, c).text() for c, t in enumerate(titles)} for r in range(self.preview.rowCount())]

    def _set_launchable(self, ok: bool, why: str) -> None:
        running = self.is_running()
        self.launch_button.setEnabled(ok and not running)
        self.launch_button.setToolTip("Run the trials this grid lacks" if ok else f"Cannot launch: {why}")

    def refresh_grid(self) -> None:
        """Check the grid again (the Experiment page's settings changed): at once when the page is
        shown, else when it is next shown (expanding and checking every trial is not free)."""
        if self.is_running():
            return
        if self.isVisible():
            self._update_count()
        else:
            self._grid_stale = True

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
            self.status.setText(f"<span style='{ERROR_STYLE}'>Cannot launch: {html.escape(str(exc), quote=False)}</span>")
            return False
        self.job, self._job_ended = SweepJob(spec, executor), False
        self.launch_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        busy = self.queue.is_running()
        self.queue.submit([self.job])
        self.status.setText("queued: starts when the runs before it have ended" if busy else "starting…")
        return True

    def is_running(self) -> bool:
        """Whether the launched sweep waits in the queue or runs."""
        return self.job is not None and not self._job_ended and self.queue.is_pending(self.job)

    def stop(self) -> None:
        if self.job is not None:
            self.queue.cancel(self.job)
            self.status.setText("stopping after the trials in flight…")
            if not self.queue.is_pending(self.job):  # it was waiting in the queue: it never started
                self._on_done("stopped", "the sweep was taken off the queue before it started")

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
        self._job_ended = True
        self.stop_button.setEnabled(False)
        style = ERROR_STYLE if status in ("error", "failed") else ""
        text = html.escape(message, quote=False)
        self.status.setText(f"<span style='{style}'>{text}</span>" if style else text)
        # The rest follows in later turns of the event loop, each on its own: the sweep's list and heat map
        # again (its state changed), then Launch (if the grid can run), which expands and checks every trial.
        # Done in the turn of the last trial's redraw, all of it held the window for 50-70 ms.
        QTimer.singleShot(0, self, self.refresh_sweeps)
        QTimer.singleShot(CHECK_AFTER_THE_END_MS, self, self._update_count)

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
        self._picked = []
        if sweep_id is None:
            return None
        trials, flats = self.trials_of(sweep_id)
        runs = trial_runs(self.store(), sweep_id, trials)
        self._picked = picked_rates(self.store(), trials, runs, self.metric_box.currentText()) \
            if len({trained_lr(t.config) for t in trials}) > 1 else []
        return sweep_grid(trials, runs, self.metric_box.currentText(), flats=flats)

    def trials_of(self, sweep_id: int) -> tuple[list, list[dict]]:
        """A stored sweep's trials and their config fields, made once: expanding validates every
        trial's config, which took most of a redraw, and a running sweep redraws after every trial."""
        spec = self.store().get_sweep(sweep_id)["spec"]
        cached = self._trials.get(sweep_id)
        if cached is None or cached[0] != spec:  # a sweep's spec is stored once; a new store may reuse the id
            trials = SweepSpec.from_dict(spec).trials()
            self._trials[sweep_id] = cached = (spec, trials, [trial_fields(t) for t in trials])
        return cached[1], cached[2]

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
            if getattr(self, "_picked", None):
                self.view_note.setText(self.view_note.text() + "<br>Learning rate picked on mean validation "
                                       "accuracy over seeds (never test):<br>"
                                       + "<br>".join(p.text() for p in self._picked))

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if not self.is_running():
            self.refresh_sweeps()
            if self._grid_stale:
                self._update_count()

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
            self.view_note.setText(f"<span style='{ERROR_STYLE}'>{html.escape(str(exc), quote=False)}</span>")
