"""The Monitor page: the live view of the run that trains now.

A thin page: it only shows the events the run queue delivers (the engine's
training events and the studio's ``GpuMemory``); it computes nothing about the
model and never imports torch.

Events can arrive tens of times per second. Each event only stores numbers
in Python lists and marks the page dirty; a single-shot timer redraws the
plots at most every ``REDRAW_MS`` milliseconds (and at once when an epoch
or the run ends), so the GUI thread never stalls. ``flush()`` forces the
pending redraw. The numbers live in a ``RunSeries`` (``monitor_series``), the
plots in ``RunPlots`` (``monitor_plots``), title, status and progress in
``RunHeader`` (``monitor_header``), and the texts in ``monitor_text``.
"""

from __future__ import annotations

import html
import time

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QFontDatabase, QPalette
from PySide6.QtWidgets import QPlainTextEdit, QSplitter, QVBoxLayout, QWidget

from cast_engine.experiments.sweep import SweepProgress
from cast_engine.methods.registry import methods_where
from cast_engine.train.events import (
    EpochEnded,
    LossReported,
    MaskComputed,
    Message,
    PhaseChanged,
    Progress,
    RunEnded,
    RunStarted,
)

from ..events import GpuMemory, SweepEnded
from .data_text import data_description
from .monitor_header import RunHeader
from .monitor_plots import RunPlots
from .monitor_series import RunSeries
from .monitor_text import (epoch_line, format_duration, mask_line, method_options, method_title, sparse_line,
                           test_accuracy_line)

REDRAW_MS = 150
LOG_MAX_LINES = 5000
#: Methods whose training selects a sparse mask (MaskComputed events).
LEVEL_COLOURS = {"warning": "#b26a00", "error": "#c62828"}


class MonitorPage(QWidget):
    """Live progress, curves, mask statistics and log of the current run."""

    stop_requested = Signal()

    #: How many runs wait behind this one (from ``on_queue_changed``).
    queue_waiting = 0
    #: 'idle', 'running', 'stopping', 'completed', 'failed' or 'cancelled'.
    status_kind = "idle"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._fg = self.palette().color(QPalette.ColorRole.WindowText)
        self._bg = self.palette().color(QPalette.ColorRole.Base)
        self.series = RunSeries()

        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(REDRAW_MS)
        self._redraw.timeout.connect(self.flush)
        self._clock = QTimer(self)  # keeps 'elapsed' ticking while an evaluation runs
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._tick)

        self._build()
        self.reset()

    # ================================================================== layout
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)
        root.setSpacing(6)
        self.header = RunHeader(self._fg)
        for name in RunHeader.PARTS:  # the header's parts under the page's names
            setattr(self, name, getattr(self.header, name))
        self.stop_button.clicked.connect(self._on_stop_clicked)
        root.addWidget(self.header)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        self.plots = RunPlots(self.series, self._fg, self._bg)
        for name in RunPlots.PARTS:  # the plots' parts under the page's names
            setattr(self, name, getattr(self.plots, name))
        splitter.addWidget(self.plots)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_MAX_LINES)
        self.log.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.log.setPlaceholderText("The run's log appears here.")
        self.log.setMinimumHeight(60)
        splitter.addWidget(self.log)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([620, 150])
        self.splitter = splitter
        root.addWidget(splitter, 1)

    # =================================================================== state
    @Slot()
    def reset(self) -> None:
        """Forget everything shown: ready for a new run."""
        self._redraw.stop()
        self._clock.stop()
        self._active = False
        self._stopping = False
        self._ended = False
        self._completed = False
        self._run_id = None
        self._method = ""
        self._sweep = None  # the SweepProgress of the sweep in progress
        self.series.clear()
        self._progress: Progress | None = None
        self._phase: PhaseChanged | None = None
        self._elapsed_s: float | None = None
        self._elapsed_at = time.monotonic()
        self._dirty = False
        self._progress_dirty = False
        self.plots.reset()

        self.header.reset()
        self._set_status("idle", "Idle")
        self.stop_button.setText("Stop")
        self.stop_button.setEnabled(False)
        self.log.clear()

    @Slot(object)
    def next_run(self, config) -> None:
        """A queued run is about to start (its data and model load now). The last run's curves stay
        until this one has started; its title, data and status show at once."""
        self._redraw.stop()
        self._active, self._stopping, self._ended, self._completed = True, False, False, False
        self._progress, self._phase, self._elapsed_s = None, None, None
        config = config.to_dict() if hasattr(config, "to_dict") else dict(config or {})
        self._show_identity(None, config)
        self.details_label.setText("loading the data and the model…")
        self.header.show_results("")
        self.header.eta_label.setText("ETA –")
        self.header.phase_label.setText("")
        self.header.elapsed_label.setText("elapsed –")
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setFormat("preparing…")
        self.stop_button.setText("Stop")
        self.stop_button.setEnabled(True)
        self._set_status("running", "Preparing")
        self._announced = True  # until RunStarted: the curves shown are the last run's
        self._log("— next run: " + self.title_label.text())

    def _on_sweep(self, event) -> None:
        """A sweep's progress or its end, on the header's queue line. Its trials show as runs when they
        train in this process; trials in worker processes show here as they finish. Stop stops the sweep."""
        if isinstance(event, SweepProgress):
            self._sweep = event
            failed = f", {event.failed} failed" if event.failed else ""
            self.queue_label.setText(f"sweep {event.sweep_id}: {event.done} of {event.total} trials done{failed}")
            if not self._active:  # no trial of it trains in this process (yet)
                self.title_label.setText(f"Sweep {event.sweep_id}")
                self.details_label.setText("its trials train in worker processes: the Monitor shows how many have "
                                           "finished; the Sweep page shows their results")
                self.progress_bar.setRange(0, max(event.total, 1))
                self.progress_bar.setValue(event.done + event.failed)
                self.progress_bar.setFormat(f"{event.done + event.failed} of {event.total} trials")
                if not self._stopping:
                    self._set_status("running", "Sweeping")
                    self.stop_button.setEnabled(True)
            return
        self._sweep = None
        self.queue_label.setText(f"sweep {event.sweep_id} {event.status}" if event.sweep_id is not None else
                                 f"sweep {event.status}")
        if not self._active:  # the sweep has ended: its status follows its last trial's
            self._stopping = False
            self.stop_button.setText("Stop")
            self.stop_button.setEnabled(False)
            kind = {"completed": "completed", "stopped": "cancelled"}.get(event.status, "failed")
            self._set_status(kind, event.status.capitalize(), "" if kind == "completed" else event.message)

    def _show_identity(self, run_id, config: dict) -> None:
        """Title (run number or sweep trial, name, method) and the data line of the header."""
        method = dict(config.get("method") or {})
        name = config.get("name") or _default_name(config)
        sweep = self._sweep
        if sweep is not None:  # a trial is recorded when it ends: it has no run number yet
            parts = [f"Sweep {sweep.sweep_id} · trial {min(sweep.done + sweep.failed + 1, sweep.total)} of {sweep.total}"]
        else:
            parts = [f"Run #{run_id}" if run_id is not None else "Run"]
        if name:
            parts.append(name)
        parts.append(method_title(str(method.get("name", ""))))
        self.title_label.setText(" · ".join(parts))
        self.data_label.setText("data: " + html.escape(data_description(config.get("data") or {}), quote=False))

    @Slot(int)
    def on_queue_changed(self, waiting: int) -> None:
        """How many runs wait behind the current one."""
        waiting = max(int(waiting), 0)
        if waiting == 0:
            self.queue_label.setText("no runs queued")
        else:
            self.queue_label.setText(f"{waiting} more run{'s' if waiting != 1 else ''} queued")
        self.queue_waiting = waiting

    @property
    def mask_matrix(self):
        """The share of each layer (rows) kept by the mask of each epoch (columns); NaN where unknown."""
        return self.series.mask_matrix

    @property
    def mask_epochs(self) -> list[int]:
        """The epoch of each column of ``mask_matrix``."""
        return list(self.series.mask_epochs)

    @property
    def mask_layers(self) -> list[str]:
        """The layer of each row of ``mask_matrix``, in model order."""
        return list(self.series.mask_layers)

    @property
    def is_active(self) -> bool:
        return self._active

    # ================================================================= events
    @Slot(object)
    def on_event(self, event) -> None:
        """Show one engine event of a run (or a studio ``GpuMemory``); of a sweep, where it stands."""
        if isinstance(event, (SweepProgress, SweepEnded)):
            self._on_sweep(event)
            return
        if not isinstance(event, (RunEnded, RunStarted, Progress, LossReported, GpuMemory, PhaseChanged, EpochEnded,
                                  MaskComputed, Message)):
            return
        if isinstance(event, RunEnded):
            self._on_run_ended(event)
            return
        if not self._active and not self._ended:
            self._start_activity()
        if isinstance(event, Progress):
            self._progress = event
            self._note_elapsed(event.elapsed_s)
            self._progress_dirty = True
            self._schedule()
        elif isinstance(event, LossReported):
            self.series.add_loss(event.step, event.loss)
            self._dirty = True
            self._schedule()
        elif isinstance(event, GpuMemory):
            self.series.add_gpu(event)
            self._dirty = True
            self._schedule()
        elif isinstance(event, PhaseChanged):
            self._on_phase(event)
        elif isinstance(event, EpochEnded):
            self._on_epoch(event)
        elif isinstance(event, MaskComputed):
            self._on_mask(event)
        elif isinstance(event, Message):
            self._log(event.text, event.level)
        elif isinstance(event, RunStarted):
            self._on_run_started(event)

    def _start_activity(self) -> None:
        self._active = True
        self._stopping = False
        self.stop_button.setText("Stop")
        self.stop_button.setEnabled(True)
        self._set_status("running", "Running")
        self._elapsed_at = time.monotonic()
        self._clock.start()

    def _on_run_started(self, event: RunStarted) -> None:
        config = event.config or {}
        method = dict(config.get("method") or {})
        self._announced = False
        self._method = str(method.get("name", ""))
        # the previous run's curves stay until now; the plots are cleared knowing what this run shows, so that a
        # run like the last keeps every plot in place (hiding and showing plots re-laid out and redrew them all)
        self._clear_curves(self._method in methods_where("makes_masks"), str(event.device).startswith("cuda"))
        if not self._stopping:
            self._set_status("running", "Running")
        self._run_id = event.run_id
        self._show_identity(event.run_id, config)
        options = method_options(method)
        share = 100 * event.trainable_params / event.total_params if event.total_params else 0.0
        passes = "in each pass " if self._method in methods_where("uses_both_branches") else ""
        details = [f"device <b>{html.escape(event.device)}</b>",
                   f"<b>{event.trainable_params:,}</b> of {event.total_params:,} parameters train {passes}({share:.3g} %)"]
        kept = sparse_line(getattr(event, "method_info", None) or {})
        if kept:
            details.append(f"<b>{html.escape(kept)}</b>")
        if options:
            details.append(html.escape(options))
        self.details_label.setText(" · ".join(details))
        self.plots.show_method(method_title(self._method))
        self._log(f"run {event.run_id} started on {event.device}: {self._method}"
                  f"{' (' + options + ')' if options else ''}, {event.trainable_params:,} of "
                  f"{event.total_params:,} parameters train ({share:.3g} %)" + (f"; {kept}" if kept else ""))
        self._progress_dirty = True
        self._schedule()

    def _on_phase(self, event: PhaseChanged) -> None:
        self._phase = event
        where = f"epoch {event.epoch} · " if event.epoch else ""
        stage = f" [{event.stage}]" if event.stage else ""
        self._log(f"{where}{event.phase}{stage}")
        self._progress_dirty = True
        self._schedule()

    def _on_epoch(self, event: EpochEnded) -> None:
        self.series.add_epoch(event)
        metrics = event.metrics or {}
        if metrics.get("elapsed_s") is not None:
            self._note_elapsed(metrics["elapsed_s"])
        self._log(epoch_line(event))
        self._dirty = True
        self.flush()  # an epoch is rare and worth seeing at once

    def _on_mask(self, event: MaskComputed) -> None:
        self.series.add_mask(event)
        if self.series.masked_method is not True:  # a mask arrived: this method has one after all
            self.series.masked_method = True
            self.plots.update_side()
        self._log(mask_line(event))
        self._dirty = True
        self.flush()

    def _clear_curves(self, masked_method: bool | None = None, on_cuda: bool = False) -> None:
        """Forget the last run's numbers; the plots get ready for a run with (or without) a mask, on CUDA or not."""
        had_numbers = self.series.loss_x or self.series.mask_epochs or any(xs for xs, _ in self.series.val.values())
        if had_numbers:
            self.series.clear()
        self.series.masked_method, self.series.on_cuda = masked_method, on_cuda
        if had_numbers:
            self.plots.reset()

    def _on_run_ended(self, event: RunEnded) -> None:
        if getattr(self, "_announced", False):  # it ended before it started: the curves are another run's
            self._announced = False
            self._clear_curves()
        self._active = False
        self._ended = True
        self._stopping = False
        self._clock.stop()
        self.stop_button.setText("Stop")
        self.stop_button.setEnabled(False)
        status = event.status or "completed"
        reason = event.reason or ""
        kind = status if status in ("completed", "cancelled") else "failed"
        self._set_status(kind, status.capitalize(), reason)
        level = {"completed": "info", "cancelled": "warning"}.get(status, "error")
        self._log(f"run {event.run_id} {status}" + (f": {reason}" if reason else ""), level)
        accuracy = test_accuracy_line(event.results or {})
        if accuracy:
            self._log(accuracy)
        self.header.show_results(accuracy[:1].upper() + accuracy[1:] if accuracy else "")
        self._completed = status == "completed"
        self._progress_dirty = True
        self._dirty = True
        self.flush()

    # ================================================================ drawing
    def _schedule(self) -> None:
        if not self._redraw.isActive():
            self._redraw.start()

    @Slot()
    def flush(self) -> None:
        """Redraw what changed since the last redraw (tests call this)."""
        self._redraw.stop()
        if self._progress_dirty:
            self._progress_dirty = False
            self._draw_progress()
        if not self._dirty:
            return
        self._dirty = False
        self.plots.draw()

    def _draw_progress(self) -> None:
        if self._ended:
            self.header.show_ended(self._progress, self.status_kind)
        else:
            self.header.show_progress(self._progress, self._phase, active=self._active, ended=self._ended,
                                      completed=self._completed)
        self._draw_elapsed()

    def _note_elapsed(self, seconds: float) -> None:
        self._elapsed_s = float(seconds)
        self._elapsed_at = time.monotonic()

    def _tick(self) -> None:
        self._draw_elapsed()

    def _draw_elapsed(self) -> None:
        if self._elapsed_s is None:
            return
        extra = time.monotonic() - self._elapsed_at if self._active else 0.0
        self.elapsed_label.setText(f"elapsed {format_duration(self._elapsed_s + extra)}")

    # ============================================================ status, log
    def _set_status(self, kind: str, text: str, reason: str = "") -> None:
        """The coloured status pill; a reason (why a run failed or stopped) shows on a line of its own."""
        self.status_kind = kind
        self.header.set_status(kind, text, reason)

    def status_text(self) -> str:
        """The status and, when there is one, its reason: 'Failed: CUDA ran out of memory…'."""
        reason = self.reason_label.text() and self.status_label.toolTip()
        return reason or self.status_label.text()

    def _log(self, text: str, level: str = "info") -> None:
        stamp = time.strftime("%H:%M:%S")
        safe = html.escape(text)
        colour = LEVEL_COLOURS.get(level)
        prefix = f"{level}: " if level in LEVEL_COLOURS else ""
        body = f"<span style='color:{colour}'>{html.escape(prefix)}{safe}</span>" if colour else safe
        self.log.appendHtml(f"<span style='color:gray'>{stamp}</span>&nbsp;&nbsp;{body}")

    def log_text(self) -> str:
        """The log pane's plain text."""
        return self.log.toPlainText()

    def _on_stop_clicked(self) -> None:
        if (not self._active and self._sweep is None) or self._stopping:
            return
        self._stopping = True
        self.stop_button.setText("Stopping…")
        self.stop_button.setEnabled(False)
        self._set_status("stopping", "Stopping…")
        self.stop_requested.emit()


def _default_name(config: dict) -> str:
    """The name the engine gives an unnamed run of this config ('' when the config cannot be read)."""
    from cast_engine.config import RunConfig

    try:
        return RunConfig.from_dict(config).default_name() if config.get("method") else ""
    except Exception:  # a config from another version: the title goes without a name
        return ""
