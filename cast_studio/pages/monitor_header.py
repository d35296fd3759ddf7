"""The Monitor page's header: run title and details, status pill, Stop button, progress, phase, elapsed and ETA."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QPushButton, QSizePolicy, QWidget

from cast_engine.train.events import PhaseChanged, Progress

from .lazy_progress import LazyProgressBar
from .monitor_text import format_duration

STATUS_STYLES = {  # background, text
    "idle": ("#e0e0e0", "#333333"),
    "running": ("#1565c0", "#ffffff"),
    "stopping": ("#ef6c00", "#ffffff"),
    "completed": ("#2e7d32", "#ffffff"),
    "failed": ("#c62828", "#ffffff"),
    "cancelled": ("#f9a825", "#222222"),
}


class RunHeader(QFrame):
    """The framed grid above the plots; the page's attributes of the same names are these parts."""

    #: The parts the Monitor page offers under the same names.
    PARTS = ("title_label", "details_label", "data_label", "queue_label", "status_label", "stop_button", "reason_label",
             "progress_bar", "phase_label", "elapsed_label", "eta_label", "results_label")

    def __init__(self, fg: QColor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._fg = fg
        self._build()
        self._room = self._room_for_a_run()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """The header only grows: its wrapped lines change with every run (a name, a status, a details line),
        and each change of its height resized every plot below it, which then drew itself anew (40-100 ms of
        the window's time at each run's start). It fits itself again when its width changes, or on reset."""
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.setMinimumHeight(self._room)
        elif event.size().height() > self.minimumHeight():
            self.setMinimumHeight(event.size().height())

    def _room_for_a_run(self) -> int:
        """The height of the header showing a typical run and its results: it has that room from the start, so
        that neither the first run nor a results line resizes the plots below it."""
        self.title_label.setText("Run #1 · run · CAST")
        self.details_label.setText("device <b>cpu</b> · <b>1</b> of 1 parameters train (1 %)")
        self.data_label.setText("data: demo")
        self.phase_label.setText("<b>Epoch 1</b> · factual pass")
        self.show_results("Test accuracy")
        self.set_status("running", "Running")
        return self.sizeHint().height()

    def _build(self) -> None:
        self.setFrameShape(QFrame.Shape.StyledPanel)
        grid = QGridLayout(self)
        grid.setContentsMargins(10, 8, 10, 8)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(4)

        self.title_label = QLabel()
        font = self.title_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title_label.setFont(font)
        self.title_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title_label.setWordWrap(True)  # a long run name wraps instead of widening the window
        self.details_label = QLabel()
        self.details_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_label.setWordWrap(True)
        self.data_label = QLabel()
        self.data_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.data_label.setWordWrap(True)
        self.results_label = QLabel()
        self.results_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.results_label.hide()
        self.queue_label = QLabel()
        self.queue_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        self.status_label = QLabel()
        self.status_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.status_label.setMinimumWidth(160)
        self.status_label.setMaximumWidth(220)
        self.status_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        status_font = self.status_label.font()
        status_font.setBold(True)
        self.status_label.setFont(status_font)

        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the run after the current training step")
        self.stop_button.setMinimumWidth(100)

        self.reason_label = QLabel()
        self.reason_label.setWordWrap(True)
        self.reason_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.reason_label.hide()

        self.progress_bar = LazyProgressBar()
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setMinimumHeight(22)
        self.phase_label = QLabel()
        self.elapsed_label = QLabel()
        self.eta_label = QLabel()
        for label in (self.elapsed_label, self.eta_label):
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            label.setMinimumWidth(120)

        grid.addWidget(self.title_label, 0, 0, 1, 3)
        grid.addWidget(self.status_label, 0, 3, 2, 1)
        grid.addWidget(self.stop_button, 0, 4, 2, 1)
        grid.addWidget(self.details_label, 1, 0, 1, 2)
        grid.addWidget(self.queue_label, 1, 2)
        grid.addWidget(self.data_label, 2, 0, 1, 3)
        grid.addWidget(self.progress_bar, 3, 0, 1, 5)
        grid.addWidget(self.phase_label, 4, 0, 1, 2)
        grid.addWidget(self.elapsed_label, 4, 2)
        grid.addWidget(self.eta_label, 4, 3, 1, 2)
        grid.addWidget(self.results_label, 5, 0, 1, 5)
        grid.addWidget(self.reason_label, 6, 0, 1, 5)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)

    def set_status(self, kind: str, text: str, reason: str = "") -> None:
        """The coloured status pill; a reason (why a run failed or stopped) shows on a line of its own."""
        background, colour = STATUS_STYLES[kind]
        self.status_label.setText(text)
        self.status_label.setToolTip(f"{text}: {reason}" if reason else text)
        self.status_label.setStyleSheet(
            f"QLabel {{ background: {background}; color: {colour}; border-radius: 6px; padding: 6px 14px; }}")
        if reason:
            tint = {"failed": "#c62828", "cancelled": "#8d6e00"}.get(kind, self._fg.name())
            self.reason_label.setText(f"<span style='color:{tint}'><b>{html.escape(text)}:</b> {html.escape(reason)}</span>")
            self.reason_label.show()
        else:
            self.reason_label.clear()
            self.reason_label.hide()

    def reset(self) -> None:
        """No run yet: title, details, progress, phase, elapsed and ETA as before the first run."""
        self.setMinimumHeight(self._room)
        self.title_label.setText("No run yet")
        self.details_label.setText("Start a run on the Experiment page; it shows here while it trains.")
        self.data_label.setText("")
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("waiting")
        self.phase_label.setText("")
        self.elapsed_label.setText("elapsed –")
        self.eta_label.setText("ETA –")
        self.show_results("")

    def show_results(self, text: str) -> None:
        """The test results of the run that ended ('' hides the line)."""
        self.results_label.setText(f"<b>{html.escape(text, quote=False)}</b>" if text else "")
        self.results_label.setVisible(bool(text))

    def show_ended(self, p: Progress | None, status: str) -> None:
        """A run ended: no ETA and no phase any more; the bar says how far it got."""
        self.eta_label.setText("ETA –")
        self.phase_label.setText("")
        if p is None:
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)
            self.progress_bar.setFormat("no steps" if status != "completed" else "done")
            return
        planned = max(int(p.planned_steps), int(p.step), 1)
        self.progress_bar.setRange(0, planned)
        if status == "completed":  # early stopping may end a run before its planned steps
            self.progress_bar.setValue(planned)
            self.progress_bar.setFormat(f"done: {int(p.step):,} steps")
        else:
            self.progress_bar.setValue(int(p.step))
            self.progress_bar.setFormat(f"{status} at step {int(p.step):,} of {planned:,}")

    def show_progress(self, p: Progress | None, phase: PhaseChanged | None, *, active: bool, ended: bool,
                      completed: bool) -> None:
        """Steps done of those planned, ETA and the current phase."""
        if p is not None:
            planned = max(int(p.planned_steps), int(p.step), 1)
            self.progress_bar.setRange(0, planned)
            self.progress_bar.setValue(int(p.step))
            self.progress_bar.setFormat(f"step {int(p.step):,} of {planned:,} (%p%)")
            self.eta_label.setText(f"ETA {format_duration(p.eta_s)}")
            if completed:  # early stopping may end a run before its planned steps
                self.progress_bar.setValue(planned)
                self.progress_bar.setFormat(f"done: {int(p.step):,} steps")
                self.eta_label.setText("ETA 0:00:00")
        elif active:
            self.progress_bar.setRange(0, 0)  # busy until the first step
            self.progress_bar.setFormat("preparing…")
        elif ended:
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setFormat("no steps")
        if phase is not None:
            text = f"<b>Epoch {phase.epoch}</b> · {html.escape(phase.phase)}" if phase.epoch else f"<b>{html.escape(phase.phase)}</b>"
            if phase.stage:
                text += f" <span style='color: gray'>({html.escape(phase.stage)})</span>"
            self.phase_label.setText(text)
        elif p is not None:
            self.phase_label.setText(f"<b>Epoch {p.epoch}</b> · {html.escape(p.phase)}")
