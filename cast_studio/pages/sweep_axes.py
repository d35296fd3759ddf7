"""The grid editor of the Sweep page: one row per axis, a config field and its values.

Fields come from the engine's config dataclasses (any data, training or method
field can be an axis); values are typed as on the command line ("0.01, 0.05",
"1e4, 1e5", "1:5:1"). The engine checks them: a bad field or value is refused
with its message, in place.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QHeaderView, QLineEdit, QPushButton, QTableWidget,
                               QVBoxLayout, QWidget)

from cast_engine.config import DataConfig, TrainConfig
from cast_engine.errors import ConfigError
from cast_engine.experiments.grid import parse_axis

#: Offered first: the fields the paper sweeps.
COMMON_FIELDS = ("method.alpha", "method.k", "train.seed", "method", "data.variant", "regime", "train.lr",
                 "train.batch_size", "train.max_epochs")
DEFAULT_AXES = (("method.alpha", "0.01, 0.05, 0.15"), ("method.k", "1e5, 1e6"), ("train.seed", "1, 2"))


def sweepable_fields() -> list[str]:
    """Every config field a grid may vary, the paper's first."""
    from cast_engine.methods.registry import get_method, method_names

    names = list(COMMON_FIELDS)
    for prefix, cls in (("data", DataConfig), ("train", TrainConfig)):
        names += [f"{prefix}.{f.name}" for f in dataclasses.fields(cls)]
    for method in method_names():
        names += [f"method.{f.name}" for f in dataclasses.fields(get_method(method).config_cls)]
    names += ["model"]
    skip = {"data.data", "data.task", "train.device", "train.log_every"}
    return [n for n in dict.fromkeys(names) if n not in skip]


class AxesEditor(QWidget):
    """Axes as table rows; ``grid()`` returns {field: [values]} or raises ConfigError."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Field", "Values (comma separated, or start:stop:step)"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.setMinimumHeight(90)
        self.table.setMaximumHeight(150)
        add, remove = QPushButton("Add axis"), QPushButton("Remove axis")
        add.clicked.connect(lambda: self.add_axis("train.lr", ""))
        remove.clicked.connect(self.remove_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        for name, values in DEFAULT_AXES:
            self.add_axis(name, values)

    def add_axis(self, name: str, values: str) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        field = QComboBox()
        field.addItems(sweepable_fields())
        field.setCurrentText(name)
        field.currentTextChanged.connect(self.changed)
        edit = QLineEdit(values)
        edit.textChanged.connect(self.changed)
        self.table.setCellWidget(row, 0, field)
        self.table.setCellWidget(row, 1, edit)
        self.changed.emit()

    def remove_selected(self) -> None:
        rows = sorted({index.row() for index in self.table.selectedIndexes()}, reverse=True) or [self.table.rowCount() - 1]
        for row in rows:
            if row >= 0:
                self.table.removeRow(row)
        self.changed.emit()

    def set_axes(self, axes: list[tuple[str, str]]) -> None:
        self.table.setRowCount(0)
        for name, values in axes:
            self.add_axis(name, values)

    def axes(self) -> list[tuple[str, str]]:
        """(field, values text) of every row, as typed."""
        return [(self.table.cellWidget(r, 0).currentText(), self.table.cellWidget(r, 1).text())
                for r in range(self.table.rowCount())]

    def grid(self) -> dict[str, list[str]]:
        """The grid the rows describe; ConfigError names a bad row."""
        grid: dict[str, list[str]] = {}
        for name, values in self.axes():
            if not values.strip():  # said in the form's words, not the command line's --grid syntax
                raise ConfigError(f"{name}: give at least one value, e.g. 1, 2, 3 or a range start:stop:step")
            key, parsed = parse_axis(f"{name}={values}")
            grid[key] = parsed
        return grid
