"""A method's learning rate on the Experiment page: its recommended value (with the source as a
tooltip), editable per method, refused in place when it is not a rate."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from cast_engine.errors import ConfigError

INVALID_STYLE = "QLineEdit { background: #fde2e2; }"


class MethodLearningRate(QWidget):
    """'Learning rate [5e-05] recommended 5e-05 [Recommended]' for one method's config class."""

    changed = Signal()

    def __init__(self, config_cls: type, parent=None):
        super().__init__(parent)
        self.config_cls = config_cls
        self.recommended = config_cls.recommended_lr
        source = config_cls.lr_source
        grid = ", ".join(f"{lr:g}" for lr in config_cls.lr_grid)
        self.edit = QLineEdit(f"{self.recommended:g}")
        self.edit.setObjectName("method_lr")
        self.edit.setToolTip(f"{config_cls.name}'s learning rate for the runs queued here. {source} "
                             f"The tuned protocol tries {grid}.")
        self.edit.textChanged.connect(self._check)
        self.note = QLabel(f"recommended {self.recommended:g}")
        self.note.setToolTip(source)
        self.note.setStyleSheet("color: #555;")
        self.reset = QPushButton("Recommended")
        self.reset.setToolTip(f"Back to {self.recommended:g}. {source}")
        self.reset.clicked.connect(lambda: self.edit.setText(f"{self.recommended:g}"))
        self.source = QLabel(f"{source} Tuned protocol grid: {grid}.")
        self.source.setWordWrap(True)
        self.source.setStyleSheet("color: #555; font-size: 11px;")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Learning rate"))
        row.addWidget(self.edit, 1)
        row.addWidget(self.note)
        row.addWidget(self.reset)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.source)

    def value(self) -> float:
        """The rate typed; ConfigError naming the method and the text when it is not a rate in (0, 1]."""
        text = self.edit.text().strip()
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"learning rate of {self.config_cls.name}: {text!r} is not a number") from None
        if not 0 < value <= 1:
            raise ConfigError(f"learning rate of {self.config_cls.name}: {text} is out of range: it must be in (0, 1]")
        return value

    def config_lr(self) -> float:
        """What the run's train.lr gets: 0 (the method's recommended rate, recorded as the method
        default) when the field holds it, else the rate typed (recorded as set by the user)."""
        value = self.value()
        return 0.0 if value == self.recommended else value

    def set_overridden(self, global_lr: float) -> None:
        """Show that the training form's learning rate (when not 0) applies to every method instead."""
        self.edit.setEnabled(not global_lr)
        self.reset.setEnabled(not global_lr)
        self.note.setText(f"recommended {self.recommended:g}" if not global_lr
                          else f"all methods train at {global_lr:g} (Training: learning rate); 0 there uses this")

    def _check(self) -> None:
        try:
            self.value()
            self.edit.setStyleSheet("")
        except ConfigError:
            self.edit.setStyleSheet(INVALID_STYLE)
        self.changed.emit()
