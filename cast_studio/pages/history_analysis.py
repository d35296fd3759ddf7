"""History's analysis row: which evaluation the accuracy columns show, "Evaluate on…" (a job
on the studio's one job queue, with progress and a Stop button), "Group seeds" (the table's
mode; the page acts on it), "Pairs…" (one run or seed group, or the flip ledger of two),
"Seed groups…" and "Mask atlas…".

Before each reload the page asks ``offer`` and ``evaluation`` (the table reads that
evaluation's accuracies in SQL) and calls ``update_buttons`` when the selection changes;
everything else lives here.
"""

from __future__ import annotations


from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cast_engine.runs.evaluation_data import EvaluateConfig

from .lazy_progress import LazyProgressBar
from ..events import EvaluationEnded, EvaluationJobEnded, EvaluationProgress
from ..forms import ConfigForm
from ..worker import EvaluationJob, RunQueue
from .data_dialogs import SourceDialogs
from .mask_atlas import MaskAtlasWindow  # imported with the page, not when a window first opens
from .pairs_view import PairsRequest, PairsWindow
from .seed_compare import SeedGroupDialog

TEST_SPLIT = "each run's test split"


class EvaluateDialog(QDialog):
    """The "Evaluate on…" form: the fields of EvaluateConfig, with Browse… buttons for the data."""

    def __init__(self, run_ids: list[int], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Evaluate {len(run_ids)} run(s) on…")
        self.form = ConfigForm(EvaluateConfig, owner="evaluate")
        self.dialogs = SourceDialogs(self)
        self.file_button = QPushButton("Browse file…")
        self.file_button.setToolTip("One paired file (CSV, TSV, JSON lines or Parquet), or the file of originals "
                                    "of two aligned files")
        self.folder_button = QPushButton("Browse folder…")
        self.folder_button.setToolTip("A Kaushik-layout CAD folder (sentiment/, NLI/) or a folder with "
                                      "train/dev/test files")
        self.revision_button = QPushButton("Browse…")
        self.revision_button.setToolTip("The file of revisions, aligned row by row with the file of originals")
        self.form.add_beside("data", self.file_button, self.folder_button)
        self.form.add_beside("revision_file", self.revision_button)
        self.file_button.clicked.connect(lambda: self._fill("data", self.dialogs.table_file("Data to evaluate on")))
        self.folder_button.clicked.connect(lambda: self._fill("data", self.dialogs.folder("Data folder to evaluate on")))
        self.revision_button.clicked.connect(
            lambda: self._fill("revision_file", self.dialogs.table_file("File of revisions, aligned row by row")))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        note = QLabel("Runs each selected run's saved model (its best weights) on paired data and keeps the result "
                      "as a named evaluation. The same run on the same data is evaluated once.")
        note.setWordWrap(True)
        layout.addWidget(note)
        layout.addWidget(self.form)
        layout.addWidget(buttons)
        self.form.editors["data"].setFocus()

    def _fill(self, name: str, path: str) -> None:
        """Put a chosen path into field ``name`` (a cancelled dialog gives "": the field stays)."""
        if path:
            self.form.set_text(name, path)

    def config(self) -> EvaluateConfig:
        return self.form.config()


class AnalysisBar(QWidget):
    """The row under History's filters: evaluation choice, Evaluate on…, Pairs…, Mask atlas…."""

    evaluation_changed = Signal(str)

    def __init__(self, page, parent: QWidget | None = None):
        super().__init__(parent)
        self.page = page
        self.queue: RunQueue | None = None  # the main window's (use_queue); a page on its own makes one
        self.job: EvaluationJob | None = None
        self.names: list[str] = []
        self.windows: list[QWidget] = []
        self.eval_combo = QComboBox()
        self.eval_combo.addItem(TEST_SPLIT)
        self.eval_combo.setToolTip("Which test set the accuracy columns show: each run's own test split, or a "
                                   "named evaluation (runs without it show –).")
        self.eval_combo.currentTextChanged.connect(lambda _: self.evaluation_changed.emit(self.evaluation() or ""))
        self.evaluate_button = QPushButton("Evaluate on…")
        self.pairs_button = QPushButton("Pairs…")
        self.pairs_button.setToolTip("One run (or several runs as a seed group): every test pair and its outcome. "
                                     "Two runs: the flip ledger between them.")
        self.atlas_button = QPushButton("Mask atlas…")
        self.group_check = QCheckBox("Group seeds")
        self.group_check.setToolTip("One row per group of completed runs whose configs differ only in seed: "
                                    "n, and each accuracy as mean ± std over the seeds.")
        self.groups_button = QPushButton("Seed groups…")
        self.groups_button.setToolTip("The selected runs grouped over seeds: mean curves with a band, mean ± std (n), "
                                      "and the paired bootstrap CI and McNemar p between two groups.")
        self.stop_button = QPushButton("Stop")
        self.progress = LazyProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setFormat("%v / %m examples")
        self.status_label = QLabel()
        for widget in (self.stop_button, self.progress):
            widget.setVisible(False)
        self.evaluate_button.clicked.connect(self._on_evaluate)
        self.pairs_button.clicked.connect(lambda: self.open_pairs(self.page.selected_ids()))
        self.atlas_button.clicked.connect(lambda: self.open_atlas(self.page.selected_ids()))
        self.groups_button.clicked.connect(lambda: self.open_seed_groups(self.page.selected_ids()))
        self.stop_button.clicked.connect(self.stop)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Accuracy on"))
        layout.addWidget(self.eval_combo)
        layout.addWidget(self.evaluate_button)
        layout.addWidget(self.progress)
        layout.addWidget(self.stop_button)
        layout.addWidget(self.status_label, 1)
        layout.addWidget(self.group_check)
        layout.addSpacing(8)
        layout.addWidget(self.groups_button)
        layout.addWidget(self.pairs_button)
        layout.addWidget(self.atlas_button)

    # ------------------------------------------------------------------ evaluation choice
    def evaluation(self) -> str | None:
        """The chosen evaluation name, None for each run's own test split."""
        text = self.eval_combo.currentText()
        return None if text in ("", TEST_SPLIT) else text

    def offer(self, store) -> None:
        """Put the store's evaluation names in the choice, keeping the current one."""
        current = self.eval_combo.currentText()
        names = [TEST_SPLIT, *store.evaluation_names()]
        if names == [self.eval_combo.itemText(i) for i in range(self.eval_combo.count())]:
            return
        self.eval_combo.blockSignals(True)
        self.eval_combo.clear()
        self.eval_combo.addItems(names)
        self.eval_combo.setCurrentText(current if current in names else TEST_SPLIT)
        self.eval_combo.blockSignals(False)

    def with_evaluation(self, store, runs: list[dict]) -> list[dict]:
        """The runs with their results replaced by the chosen evaluation's (empty where a run has none)."""
        self.offer(store)
        name = self.evaluation()
        if name is None:
            return runs
        found = {e["run_id"]: e["results"] for e in store.list_evaluations() if e["name"] == name}
        return [{**run, "results": found.get(run["id"], {})} for run in runs]

    def update_buttons(self, selected: int) -> None:
        busy = self.job is not None
        self.evaluate_button.setEnabled(selected >= 1 and not busy)
        self.pairs_button.setEnabled(selected >= 1)
        self.atlas_button.setEnabled(selected >= 1)
        self.groups_button.setEnabled(selected >= 2)

    # ------------------------------------------------------------------ evaluate on…
    def _on_evaluate(self) -> None:
        ids = self.page.selected_ids()
        dialog = EvaluateDialog(ids, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.start_evaluation(ids, dialog.config())

    def use_queue(self, queue: RunQueue) -> None:
        """Run evaluations as jobs on ``queue`` (the studio's one job queue)."""
        self.queue = queue
        queue.event.connect(self._on_event)

    def start_evaluation(self, run_ids: list[int], config: EvaluateConfig) -> EvaluationJob:
        """Queue the evaluation of ``run_ids``; the progress bar follows it, Stop cancels it."""
        if self.queue is None:
            self.use_queue(RunQueue(self.page.db_path, self))
        job = EvaluationJob(list(run_ids), config)
        self.job, self.names = job, []
        self.progress.setVisible(True)
        self.stop_button.setVisible(True)
        self.progress.setRange(0, 0)
        waiting = self.queue.is_running()
        self.status_label.setText(f"Evaluating {len(run_ids)} run(s)…" + (" (queued after the job in progress)" if waiting else ""))
        self.update_buttons(len(run_ids))
        self.queue.submit([job])
        return job

    def _on_event(self, event) -> None:
        if not isinstance(event, (EvaluationProgress, EvaluationEnded, EvaluationJobEnded)) or event.job is not self.job:
            return
        if isinstance(event, EvaluationProgress):
            self.progress.setRange(0, event.total)
            self.progress.setValue(event.done)
            self.status_label.setText(f"Evaluating run {event.run_id}…")
        elif isinstance(event, EvaluationEnded):
            if event.error:
                self.page.show_error(f"Cannot evaluate run {event.run_id}: {event.error}")
            else:
                self.names.append(event.name)
                self.status_label.setText(f"Run {event.run_id}: evaluation '{event.name}'"
                                          + (" (stored earlier)" if event.reused else " done"))
        else:
            self._job_finished(event)

    def _job_finished(self, ended: EvaluationJobEnded) -> None:
        self.job = None
        self.progress.setVisible(False)
        self.stop_button.setVisible(False)
        if ended.stopped:
            self.status_label.setText("Evaluation stopped; the runs evaluated before it are kept")
        self.page.refresh()
        if ended.names:
            self.eval_combo.setCurrentText(ended.names[-1])

    def stop(self) -> None:
        """Stop the evaluation: a queued one leaves the queue at once, a running one within a batch."""
        job = self.job
        if job is not None and self.queue is not None:
            self.queue.cancel(job)
            if not self.queue.is_pending(job):  # it never started: no job-ended event will come
                self._job_finished(EvaluationJobEnded(job, (), True))

    def shutdown(self) -> None:
        """Stop an evaluation in progress and wait for it (the window is closing)."""
        if self.job is not None and self.queue is not None:
            self.queue.cancel(self.job)
            self.queue.wait(60_000)

    # ------------------------------------------------------------------ windows
    def open_pairs(self, ids: list[int], ids_b: list[int] | None = None):
        """One run or a seed group: its pairs; two runs: the flip ledger of the second (B) against the first (A)."""
        if not ids:
            return None
        if ids_b is None and len(ids) == 2:
            ids, ids_b = [ids[0]], [ids[1]]
        window = PairsWindow(self.page.db_path, PairsRequest(list(ids), ids_b, self.evaluation()), self)
        return self._keep(window)

    def open_atlas(self, ids: list[int]):
        """The mask atlas of the selected CAST / LT-SFT runs."""
        if not ids:
            return None
        return self._keep(MaskAtlasWindow(self.page.db_path, ids, self))

    def open_seed_groups(self, ids: list[int]):
        """The selected runs grouped over seeds (on the chosen evaluation when there is one)."""
        if len(ids) < 2 or self.page.store is None:
            return None
        runs, epochs = self.page.load_runs(ids)
        runs = self.with_evaluation(self.page.store, runs)
        return self._keep(SeedGroupDialog(self.page.db_path, runs, epochs, self.evaluation(), self.open_pairs, self))

    def _keep(self, window: QWidget) -> QWidget:
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.destroyed.connect(lambda *_: self.windows.remove(window) if window in self.windows else None)
        self.windows.append(window)
        window.show()
        return window
