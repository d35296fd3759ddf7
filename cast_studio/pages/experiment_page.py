"""Experiment page: model, methods with their settings, training, device, seeds; queue runs."""

from __future__ import annotations

import dataclasses
import html
import inspect
import threading

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QPushButton, QScrollArea, QStackedWidget, QVBoxLayout,
                               QWidget)

from cast_engine.config import DataConfig, RunConfig, TrainConfig
from cast_engine.errors import ConfigError
from cast_engine.methods.registry import get_method, method_names, methods_where
from cast_engine.runs.expand import expand_runs
from cast_engine.sparse.kspec import parse_k

from ..forms import ConfigForm
from .data_text import data_description
from .method_lr import MethodLearningRate

MODEL_KINDS = ("Packaged MiniLM (all-MiniLM-L6-v2)", "Hugging Face model id", "Local folder")


def parse_seeds(text: str) -> list[int]:
    """'1, 2, 3' or '1-5' → [1, 2, 3] / [1, 2, 3, 4, 5]; ConfigError naming a bad part."""
    seeds: list[int] = []
    for part in [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]:
        try:
            if "-" in part[1:]:
                low, high = (int(x) for x in part.split("-", 1))
                if high < low or high - low > 1000:
                    raise ValueError
                seeds.extend(range(low, high + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise ConfigError(f"seeds: {part!r} is not a whole number or a range like 1-5") from None
    if not seeds:
        raise ConfigError("seeds: give at least one seed, e.g. 1 or 1, 2, 3")
    if any(s < 0 for s in seeds):
        raise ConfigError("seeds must not be negative")
    return list(dict.fromkeys(seeds))


class ExperimentPage(QWidget):
    """Builds RunConfigs (methods × regimes × seeds) from the user's choices."""

    run_requested = Signal(list)  # list[RunConfig]
    runnable_changed = Signal(bool, str)  # whether Run can start, and why not
    settings_changed = Signal()  # any choice changed (a sweep's base checks itself again)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.data_config = DataConfig()
        self.num_labels = 2
        self.data_problem: str | None = None  # why the chosen data cannot train yet (loading, failed); None: ready
        self.runnable = True
        self.method_forms: dict[str, ConfigForm] = {}
        self.method_lrs: dict[str, MethodLearningRate] = {}  # each method's learning rate (its recommended one first)
        outer = QVBoxLayout(self)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        body = QWidget()
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)
        outer.addLayout(self._launch_row())
        layout = QVBoxLayout(body)
        columns = QHBoxLayout()
        layout.addLayout(columns)
        left, right = QVBoxLayout(), QVBoxLayout()
        columns.addLayout(left, 3)
        columns.addLayout(right, 2)
        left.addWidget(self._model_box())
        left.addWidget(self._methods_box(), 1)
        right.addWidget(self._run_box())  # seeds and device first: they stay in view on a laptop screen
        right.addWidget(self._training_box())
        right.addStretch(1)
        self._update_k_hint()
        self._update_summary()

    # ------------------------------------------------------------------ layout
    def _model_box(self) -> QGroupBox:
        box = QGroupBox("Model")
        row = QHBoxLayout(box)
        self.model_kind = QComboBox()
        self.model_kind.addItems(MODEL_KINDS)
        self.model_name = QLineEdit()
        self.model_name.setPlaceholderText("e.g. bert-base-uncased or /path/to/model")
        self.model_browse = QPushButton("Browse…")
        self.model_browse.clicked.connect(self._browse_model)
        self.model_kind.currentIndexChanged.connect(self._model_kind_changed)
        self.model_name.editingFinished.connect(self._update_k_hint)
        self.model_name.textEdited.connect(lambda _text: self._update_summary())
        row.addWidget(self.model_kind)
        row.addWidget(self.model_name, 1)
        row.addWidget(self.model_browse)
        self._model_kind_changed()
        return box

    def _methods_box(self) -> QGroupBox:
        box = QGroupBox("Methods (tick the ones to run; select one to edit its settings)")
        row = QHBoxLayout(box)
        self.method_list = QListWidget()
        self.method_list.setMaximumWidth(190)
        self.method_list.setStyleSheet("QListWidget::item { padding: 5px 4px; }")
        self.method_stack = QStackedWidget()
        for name in method_names():
            entry = get_method(name)
            item = QListWidgetItem(entry.title)
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name == "cast" else Qt.CheckState.Unchecked)
            item.setToolTip(" ".join(inspect.cleandoc(entry.config_cls.__doc__ or "").split()))
            self.method_list.addItem(item)
            page = QWidget()
            page_layout = QVBoxLayout(page)
            form = ConfigForm(entry.config_cls)
            form.changed.connect(self._update_k_hint)
            form.edited.connect(self._update_summary)
            self.method_forms[name] = form
            doc = QLabel(" ".join(inspect.cleandoc(entry.config_cls.__doc__ or "").split()))
            doc.setWordWrap(True)
            doc.setStyleSheet("color: #555;")
            page_layout.addWidget(doc)
            if not dataclasses.fields(entry.config_cls):
                page_layout.addWidget(QLabel("No settings."))
            page_layout.addWidget(form)
            learning_rate = MethodLearningRate(entry.config_cls)
            learning_rate.changed.connect(self._update_summary)
            self.method_lrs[name] = learning_rate
            page_layout.addWidget(learning_rate)
            if entry.config_cls.makes_masks:
                hint = QLabel()
                hint.setObjectName("k_hint")
                hint.setStyleSheet("color: #2c5d8a;")
                page_layout.addWidget(hint)
            page_layout.addStretch(1)
            self.method_stack.addWidget(page)
        self.method_list.currentRowChanged.connect(self.method_stack.setCurrentIndex)
        self.method_list.itemChanged.connect(lambda _item: self._update_summary())
        self.method_list.setCurrentRow(method_names().index("cast"))
        row.addWidget(self.method_list)
        row.addWidget(self.method_stack, 1)
        return box

    def _training_box(self) -> QGroupBox:
        box = QGroupBox("Training")
        layout = QVBoxLayout(box)
        self.train_form = ConfigForm(TrainConfig, skip=("seed", "device"), owner="train")
        self.train_form.edited.connect(self._update_summary)
        self.train_form.changed.connect(self._show_lr_override)
        layout.addWidget(self.train_form)
        data_fields = [f.name for f in dataclasses.fields(DataConfig) if f.name not in ("train_limit", "eval_limit")]
        self.subset_form = ConfigForm(DataConfig, skip=data_fields, owner="data")
        self.subset_form.setToolTip("A quick look: train and evaluate on the first N originals only (0 = all).")
        self.subset_form.edited.connect(self._update_summary)
        layout.addWidget(self.subset_form)
        return box

    def _run_box(self) -> QGroupBox:
        box = QGroupBox("Runs")
        layout = QVBoxLayout(box)
        regimes = QHBoxLayout()
        regimes.addWidget(QLabel("Baselines train on:"))
        self.regime_nocad = QCheckBox("No CAD (originals)")
        self.regime_cad = QCheckBox("CAD (originals + revisions)")
        self.regime_cad.setChecked(True)
        for box_ in (self.regime_nocad, self.regime_cad):
            box_.setToolTip("CAST always trains on both; these apply to the baselines.")
            box_.toggled.connect(self._update_summary)
            regimes.addWidget(box_)
        layout.addLayout(regimes)
        device_row = QHBoxLayout()
        device_row.addWidget(QLabel("Device:"))
        self.device = QComboBox()
        self.device.addItem("auto (CUDA, else MPS, else CPU)", "auto")
        self.device.setToolTip("The devices found here appear once they have been detected.")
        device_row.addWidget(self.device, 1)
        layout.addLayout(device_row)
        seed_row = QHBoxLayout()
        seed_row.addWidget(QLabel("Seeds:"))
        self.seeds = QLineEdit("1")
        self.seeds.setToolTip("One or more seeds: 1, 2, 3 or a range 1-5. Each seed is a separate run.")
        self.seeds.textChanged.connect(self._update_summary)
        seed_row.addWidget(self.seeds, 1)
        layout.addLayout(seed_row)
        return box

    def _launch_row(self) -> QHBoxLayout:
        """What will train and the Run button, below the scrolled settings so they are always in view."""
        row = QHBoxLayout()
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.run_button = QPushButton("Run")
        self.run_button.setDefault(True)
        self.run_button.setStyleSheet("QPushButton { font-weight: bold; padding: 6px 18px; }")
        self.run_button.clicked.connect(self.request_runs)
        row.addWidget(self.summary, 1)
        row.addWidget(self.run_button)
        return row

    def _show_lr_override(self) -> None:
        """A learning rate in the training form (not 0) applies to every method: say so on each method's page."""
        for widget in self.method_lrs.values():
            widget.set_overridden(self.train_form.values()["lr"])
        self._update_summary()

    # ------------------------------------------------------------------ model
    def _model_kind_changed(self) -> None:
        kind = self.model_kind.currentIndex()
        self.model_name.setEnabled(kind != 0)
        self.model_browse.setEnabled(kind == 2)
        self._update_k_hint()

    def _browse_model(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model folder", options=QFileDialog.Option.DontUseNativeDialog)
        if folder:
            self.set_model(folder)

    def set_model(self, spec: str) -> None:
        """Choose a model: 'minilm', a Hub id or a folder."""
        from pathlib import Path

        if spec in ("", "minilm"):
            self.model_kind.setCurrentIndex(0)
            self.model_name.clear()
        else:
            self.model_kind.setCurrentIndex(2 if Path(spec).expanduser().exists() else 1)
            self.model_name.setText(spec)
        self._update_k_hint()

    def model_spec(self) -> str:
        return "minilm" if self.model_kind.currentIndex() == 0 else self.model_name.text().strip()

    # ----------------------------------------------------------------- hints
    def set_data(self, data_config: DataConfig, num_labels: int | None = None) -> None:
        """The dataset chosen on the Data page, loaded (its label count sizes the head)."""
        self.data_config = data_config
        self.data_problem = None
        if num_labels:
            self.num_labels = num_labels
        self._update_k_hint()
        self._update_summary()

    def set_data_problem(self, problem: str | None) -> None:
        """Why the chosen data cannot train now ('the data is still loading', a failed load), or None."""
        if problem != self.data_problem:
            self.data_problem = problem
            self._update_summary()

    def _update_k_hint(self) -> None:
        from cast_engine.models.size import eligible_parameter_count

        for name in methods_where("makes_masks"):
            form = self.method_forms.get(name)
            if form is None:
                continue
            hint = self.method_stack.widget(method_names().index(name)).findChild(QLabel, "k_hint")
            values = form.values()
            rule = form.config().counts_toward_k
            eligible = eligible_parameter_count(self.model_spec(), self.num_labels, rule)
            # the check the run makes at its start (KSpec.resolve), made here as the user types
            form.set_extra_check("k", None if eligible is None else (lambda value, n=eligible: parse_k(value).resolve(n)))
            values = form.values()
            try:
                spec = parse_k(values["k"])
            except ConfigError:
                continue
            if eligible is None:
                hint.setText(f"K = {spec}; the count is known once the model is loaded (first run).")
            elif spec.count is not None:
                hint.setText(f"K = {spec.count:,} = {100 * spec.count / eligible:.4g} % of {eligible:,} eligible parameters")
            else:
                hint.setText(f"K = {spec} = {max(1, round(spec.fraction * eligible)):,} of {eligible:,} eligible parameters")

    def check_config(self, config: RunConfig) -> None:
        """The start-of-run checks that need the model, made now: K against the parameters ``config``'s
        method counts K from, for its model and this data's labels (the run's own check and words).
        Raises ConfigError."""
        from cast_engine.experiments.grid import check_k_fits

        check_k_fits(config, self.num_labels)

    def k_hint(self, method: str = "cast") -> str:
        return self.method_stack.widget(method_names().index(method)).findChild(QLabel, "k_hint").text()

    def set_devices(self, devices: list[dict]) -> None:
        """Fill the device list (called once devices were detected)."""
        current = self.device.currentData()
        self.device.clear()
        self.device.addItem("auto (CUDA, else MPS, else CPU)", "auto")
        for d in devices:
            memory = f", {d['memory_bytes'] / 2**30:.0f} GiB" if d.get("memory_bytes") else ""
            self.device.addItem(f"{d['id']}: {d['name']}{memory}", d["id"])
        index = self.device.findData(current)
        self.device.setCurrentIndex(max(index, 0))

    def detect_devices_later(self, done) -> None:
        """Detect devices in a background thread (imports torch) and call ``done(list)`` with them."""
        def work():
            from cast_engine.train.device import available_devices

            done(available_devices())

        threading.Thread(target=work, name="cast-device-detect", daemon=True).start()

    # ------------------------------------------------------------------ runs
    def checked_methods(self) -> list[str]:
        items = [self.method_list.item(i) for i in range(self.method_list.count())]
        return [i.data(Qt.ItemDataRole.UserRole) for i in items if i.checkState() == Qt.CheckState.Checked]

    def ticked_method_settings(self) -> dict[str, dict]:
        """The ticked methods, in order, with their forms' values."""
        return {name: self.method_forms[name].values() for name in self.checked_methods()}

    def set_checked_methods(self, names: list[str]) -> None:
        for i in range(self.method_list.count()):
            item = self.method_list.item(i)
            on = item.data(Qt.ItemDataRole.UserRole) in names
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def configs(self) -> list[RunConfig]:
        """One RunConfig per method × regime (baselines) × seed; ConfigError naming a problem."""
        methods = self.checked_methods()
        if not methods:
            raise ConfigError("tick at least one method")
        self._check_forms(methods)
        seeds = parse_seeds(self.seeds.text())
        regimes = [r for r, box in (("nocad", self.regime_nocad), ("cad", self.regime_cad)) if box.isChecked()]
        return expand_runs(self._config, methods, regimes, seeds)

    def base_config(self) -> RunConfig:
        """The page's settings as one config (a sweep's base): the first ticked method, else CAST;
        the first seed. ConfigError names a problem (a field, or data not loaded)."""
        method = (self.checked_methods() or ["cast"])[0]
        self._check_forms([method])
        if self.data_problem:
            raise ConfigError(self.data_problem)
        return self._config(method, "cad", parse_seeds(self.seeds.text())[0])

    def _check_forms(self, methods: list[str]) -> None:
        """ConfigError with the first problem of the training, subset and methods' forms, or the model."""
        for form in [self.train_form, self.subset_form] + [self.method_forms[m] for m in methods]:
            if not form.is_valid():
                raise ConfigError("; ".join(form.errors.values()))
        if not self.train_form.values()["lr"]:
            for method in methods:
                self.method_lrs[method].value()
        if self.model_kind.currentIndex() != 0 and not self.model_spec():
            raise ConfigError("model: give a Hugging Face model id or choose a folder")

    def _config(self, method: str, regime: str, seed: int) -> RunConfig:
        """One config from the forms' current values."""
        train = self.train_form.config(seed=seed, device=self.device.currentData() or "auto")
        if not train.lr:  # the training form's 0: each method's own rate, as its page shows it
            train.lr = self.method_lrs[method].config_lr()
        data = dataclasses.replace(self.data_config, **self.subset_form.values()).with_absolute_paths()
        return RunConfig(data=data, train=train, method=self.method_forms[method].config(), model=self.model_spec(),
                         regime=regime)

    def request_runs(self) -> None:
        """Queue the runs, or say in place why not."""
        try:
            configs = self._runnable_configs()
        except ConfigError as exc:
            self._show_problem(f"Cannot run: {exc}")
            return
        self.run_requested.emit(configs)

    def _runnable_configs(self) -> list[RunConfig]:
        """The configs Run would queue; ConfigError when a field is invalid or the data is not ready."""
        configs = self.configs()
        if self.data_problem:
            raise ConfigError(self.data_problem)
        return configs

    def _update_summary(self) -> None:
        """What Run will queue and on which data, or why it cannot; Run is enabled only when it can."""
        try:
            configs = self._runnable_configs()
        except ConfigError as exc:
            self._show_problem(str(exc))
            return
        counts: dict[str, int] = {}
        for c in configs:
            key = c.method.name + ("" if c.method.uses_both_branches else f" ({c.regime})")
            counts[key] = counts.get(key, 0) + 1
        text = (f"{len(configs)} run{'s' * (len(configs) != 1)} on {data_description(configs[0].data)}: "
                + ", ".join(f"{k} ×{n}" for k, n in counts.items()))
        self.summary.setText(html.escape(text, quote=False))
        self.summary.setToolTip("")
        self._set_runnable(True, "")
        self.settings_changed.emit()

    def _show_problem(self, text: str) -> None:
        self.summary.setText(f"<span style='color:#c0392b'>{html.escape(text, quote=False)}</span>")
        self.summary.setToolTip(text)
        self._set_runnable(False, text)
        self.settings_changed.emit()

    def _set_runnable(self, ok: bool, why: str) -> None:
        self.run_button.setEnabled(ok)
        self.run_button.setToolTip("Queue these runs (Ctrl+R)" if ok else f"Cannot run: {why}")
        if (ok, why) != (self.runnable, getattr(self, "_why", None)):
            self.runnable, self._why = ok, why
            self.runnable_changed.emit(ok, why)

    # ----------------------------------------------------------- persistence
    def settings(self) -> dict:
        """The page's choices, for saving between sessions."""
        return {
            "model": self.model_spec(),
            "methods": self.checked_methods(),
            "method_settings": {name: form.values() for name, form in self.method_forms.items()},
            "method_lrs": {name: widget.edit.text() for name, widget in self.method_lrs.items()},
            "train": self.train_form.values(),
            "subset": self.subset_form.values(),
            "regimes": [r for r, b in (("nocad", self.regime_nocad), ("cad", self.regime_cad)) if b.isChecked()],
            "seeds": self.seeds.text(),
            "device": self.device.currentData(),
        }

    def restore(self, saved: dict) -> None:
        """Show saved choices; anything unknown or invalid is skipped."""
        self.set_model(saved.get("model", "minilm"))
        if saved.get("methods"):
            self.set_checked_methods(saved["methods"])
        for name, values in (saved.get("method_settings") or {}).items():
            if name in self.method_forms:
                self.method_forms[name].set_values(values)
        for name, text in (saved.get("method_lrs") or {}).items():
            if name in self.method_lrs:
                self.method_lrs[name].edit.setText(str(text))
        self.train_form.set_values(saved.get("train") or {})
        self._show_lr_override()
        self.subset_form.set_values(saved.get("subset") or {})
        if "regimes" in saved:
            self.regime_nocad.setChecked("nocad" in saved["regimes"])
            self.regime_cad.setChecked("cad" in saved["regimes"])
        self.seeds.setText(str(saved.get("seeds", "1")))
        self._update_k_hint()
        self._update_summary()
