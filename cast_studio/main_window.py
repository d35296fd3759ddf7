"""The main window: five pages, the run queue, and settings kept between sessions."""

from __future__ import annotations

import json
import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Signal
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QMainWindow, QMessageBox, QPushButton,
                               QStackedWidget, QVBoxLayout, QWidget)

from cast_engine.config import DataConfig
from cast_engine.store import default_db_path

from .pages.plot_cache import settle_plots
from .pages.data_page import DataPage
from .pages.experiment_page import ExperimentPage
from .pages.history_page import HistoryPage
from .pages.monitor_page import MonitorPage
from .pages.sweep_page import SweepPage
from .store_access import open_store
from .worker import RunQueue

PAGES = ("Data", "Experiment", "Monitor", "Sweep", "History")
RESOURCES = Path(__file__).resolve().parent / "resources"


def settings_store() -> QSettings:
    """$CAST_STUDIO_SETTINGS (an .ini file) if set, else the platform's usual place."""
    path = os.environ.get("CAST_STUDIO_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("CAST Studio", "cast-studio")


class MainWindow(QMainWindow):
    """Data → Experiment → Monitor → Sweep → History, over one run queue and one store."""

    devices_found = Signal(list)

    def __init__(self, db_path: str | Path | None = None):
        super().__init__()
        self._devices_asked = False
        self.db_path = Path(db_path) if db_path else default_db_path()
        self.setWindowTitle("CAST Studio")
        icon = RESOURCES / "cast-studio.svg"
        if icon.exists():
            self.setWindowIcon(QIcon(str(icon)))
        self.queue = RunQueue(self.db_path, self)
        self.data_page = DataPage()
        self.experiment_page = ExperimentPage()
        self.monitor_page = MonitorPage()
        self.sweep_page = SweepPage(self.db_path, self.experiment_page.base_config, self.queue,
                                    methods=self.experiment_page.ticked_method_settings,
                                    check_config=self.experiment_page.check_config)
        self.history_page = HistoryPage(self.db_path)
        self._build_layout()
        settle_plots(self)  # switching pages repaints no plot that did not change (see plot_cache)
        self._connect()
        self.devices_found.connect(self.experiment_page.set_devices)
        self.first_start = self._history_is_empty()
        self.restore_settings()

    # ---------------------------------------------------------------- layout
    def _build_layout(self) -> None:
        self.nav = QListWidget()
        self.nav.addItems(PAGES)
        self.nav.setFixedWidth(140)
        self.nav.setStyleSheet("QListWidget { font-size: 14px; } QListWidget::item { padding: 10px 8px; }")
        self.stack = QStackedWidget()
        for page in (self.data_page, self.experiment_page, self.monitor_page, self.sweep_page, self.history_page):
            self.stack.addWidget(page)
        self.nav.currentRowChanged.connect(self._settle_plots)  # first: before the pages switch
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.nav.currentRowChanged.connect(self._page_shown)
        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.addWidget(self.nav)
        body.addWidget(self.stack, 1)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self._welcome_banner())
        column.addLayout(body, 1)
        self.setCentralWidget(central)
        self.nav.setCurrentRow(0)
        toolbar = self.addToolBar("Run")
        toolbar.setObjectName("run-toolbar")
        self.run_action = QAction("Run", self)
        self.run_action.setShortcut(QKeySequence("Ctrl+R"))
        self.run_action.triggered.connect(self.experiment_page.request_runs)
        self.experiment_page.runnable_changed.connect(self._runnable_changed)
        self._runnable_changed(self.experiment_page.runnable, self.experiment_page.run_button.toolTip())
        self.stop_action = QAction("Stop", self)
        self.stop_action.setEnabled(False)
        self.stop_action.triggered.connect(self.queue.stop_current)
        toolbar.addAction(self.run_action)
        toolbar.addAction(self.stop_action)
        self.queue_label = QLabel("Idle")
        self.statusBar().addPermanentWidget(self.queue_label)

    def _welcome_banner(self) -> QWidget:
        """Shown on a first start (empty history): everything is chosen for a first run."""
        self.banner = QWidget()
        self.banner.setStyleSheet("QWidget { background: #e8f1fb; } QLabel { color: #1f4e79; font-size: 13px; }")
        row = QHBoxLayout(self.banner)
        text = QLabel("<b>Welcome to CAST Studio.</b> The bundled demo data and the packaged MiniLM are selected: "
                      "press <b>Run</b> (Ctrl+R) to train CAST now, or open your own data on the Data page.")
        text.setWordWrap(True)
        close = QPushButton("Dismiss")
        close.clicked.connect(self.banner.hide)
        row.addWidget(text, 1)
        row.addWidget(close)
        self.banner.hide()
        return self.banner

    def _connect(self) -> None:
        self.data_page.dataset_changed.connect(self._dataset_changed)
        self.data_page.readiness_changed.connect(self._data_readiness_changed)
        self.experiment_page.run_requested.connect(self.start_runs)
        self.monitor_page.stop_requested.connect(self.queue.stop_current)
        self.queue.run_starting.connect(self.monitor_page.next_run)
        self.queue.event.connect(self.monitor_page.on_event)
        self.queue.queue_changed.connect(self.monitor_page.on_queue_changed)
        self.queue.queue_changed.connect(self._queue_changed)
        self.queue.run_finished.connect(self._run_finished)
        self.queue.idle.connect(self._idle)
        self.sweep_page.runs_changed.connect(self.history_page.refresh_when_seen)
        self.experiment_page.settings_changed.connect(self.sweep_page.refresh_grid)
        self.sweep_page.open_runs.connect(self.show_runs)
        self.history_page.resume_requested.connect(self.resume_run)
        self.history_page.analysis.use_queue(self.queue)  # evaluations are jobs on the one queue

    def _runnable_changed(self, ok: bool, why: str) -> None:
        """The toolbar's Run follows the Experiment page's: disabled, with the reason, while it cannot start."""
        self.run_action.setEnabled(ok)
        self.run_action.setToolTip("Queue the Experiment page's runs (Ctrl+R)" if ok else f"Cannot run: {why}")

    def _settle_plots(self, index: int) -> None:
        """Plot items added since the pages were built (curves, epoch lines) stay quiet through the switch too."""
        for page in (self.stack.currentWidget(), self.stack.widget(index)):
            if page is not None:
                settle_plots(page)

    def _page_shown(self, index: int) -> None:
        # Listing devices imports torch: do it, off the GUI thread, when the device list is first needed.
        if PAGES[index] == "Experiment" and not self._devices_asked:
            self._devices_asked = True
            self.experiment_page.detect_devices_later(self.devices_found.emit)

    def show_page(self, name: str) -> None:
        self.nav.setCurrentRow(PAGES.index(name))

    def show_runs(self, ids: list) -> None:
        """History, with these runs selected (a Sweep heat-map cell's seeds)."""
        self.history_page.refresh()
        self.show_page("History")
        self.history_page.select_runs(ids)

    # ------------------------------------------------------------------ runs
    def _dataset_changed(self, dataset) -> None:
        config = self.data_page.data_config()
        self.experiment_page.set_data(config, len(dataset.labels))
        if config.data not in ("", "demo"):  # it says the demo is selected: no longer true
            self.banner.hide()

    def _data_readiness_changed(self) -> None:
        """Run and Launch wait for the chosen data: disabled, saying why, while it loads or after it failed."""
        self.experiment_page.set_data_problem(self.data_page.readiness_problem())

    def start_runs(self, configs: list) -> None:
        """Queue runs and show the monitor."""
        self.queue.submit(configs)
        self.stop_action.setEnabled(True)
        self.show_page("Monitor")
        self.statusBar().showMessage(f"queued {len(configs)} run{'s' * (len(configs) != 1)}", 5000)

    def resume_run(self, run_id: int, config: dict) -> None:
        """Queue the continuation of a stopped run from its checkpoint and show the monitor."""
        from cast_engine.config import RunConfig

        from .worker import ResumeRequest

        self.start_runs([ResumeRequest(run_id, RunConfig.from_dict(config))])
        self.statusBar().showMessage(f"resuming run {run_id} from its last checkpoint", 5000)

    def _queue_changed(self, waiting: int) -> None:
        running = self.queue.is_running()
        self.stop_action.setEnabled(running)  # one Stop for whatever job runs: a run or a sweep
        self.queue_label.setText(f"running, {waiting} queued" if running else "Idle")

    def _run_finished(self, run_id: int, status: str, reason: str, _results) -> None:
        self.history_page.refresh_when_seen()
        label = f"run {run_id}" if run_id >= 0 else "a run"
        text = f"{label} {status}" + (f": {reason}" if reason else "")
        self.statusBar().showMessage(text, 15000)

    def _idle(self) -> None:
        self.stop_action.setEnabled(False)
        self.queue_label.setText("Idle")

    # --------------------------------------------------------------- closing
    def confirm_close(self) -> bool:
        """Ask before stopping a running study (tests replace this)."""
        answer = QMessageBox.question(
            self, "Stop training?",
            "Training is running. Stop it and quit? A run is saved as cancelled with what it measured so far; "
            "a sweep keeps its finished trials and resumes when launched again.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event) -> None:
        if self.queue.is_running():
            if not self.confirm_close():
                event.ignore()
                return
            self.statusBar().showMessage("stopping…")
            self.queue.shutdown()  # a sweep is one of its jobs
        self.history_page.analysis.shutdown()  # an evaluation in progress stops within a batch
        self.save_settings()
        event.accept()

    # -------------------------------------------------------------- settings
    def _history_is_empty(self) -> bool:
        try:
            store = open_store(self.db_path)
        except Exception:
            return False
        try:
            return not store.list_runs(limit=1)
        finally:
            store.close()

    def save_settings(self) -> None:
        settings = settings_store()
        settings.setValue("geometry", self.saveGeometry())
        settings.setValue("window_state", self.saveState())
        settings.setValue("page", self.nav.currentRow())
        settings.setValue("data", json.dumps(self.data_page.choice_to_save().__dict__))
        settings.setValue("experiment", json.dumps(self.experiment_page.settings()))
        settings.setValue("history_columns", json.dumps(self.history_page.shown_columns()))
        settings.sync()

    def restore_settings(self) -> None:
        """Window layout, last dataset and last settings; on a first start, the demo."""
        settings = settings_store()
        geometry = settings.value("geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
        state = settings.value("window_state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        columns = _json(settings.value("history_columns"))
        if isinstance(columns, list):
            self.history_page.show_columns(columns)
        experiment = _json(settings.value("experiment"))
        if experiment:
            self.experiment_page.restore(experiment)
        data = _json(settings.value("data"))
        config = DataConfig(**{k: v for k, v in (data or {}).items() if k in DataConfig.__dataclass_fields__})
        self.data_page.set_data_config(config)
        if self.first_start and not data:
            self.banner.show()
            self.show_page("Data")
        else:
            self.nav.setCurrentRow(int(settings.value("page", 0) or 0))


def _json(value) -> dict | None:
    try:
        return json.loads(value) if value else None
    except (TypeError, ValueError):
        return None
