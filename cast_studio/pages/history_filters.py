"""The History page's filter row: method, task, variant and status, a start date and a name."""

from __future__ import annotations

from datetime import date
from typing import Any

from PySide6.QtCore import QDate, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDateEdit, QHBoxLayout, QLabel, QLineEdit, QWidget

from cast_engine.store import RUN_STATUSES

from .history_table import ANY, RunTableModel


class RunFilterBar(QWidget):
    """One row of filters; ``changed()`` whenever one of them changes, ``values()`` for the proxy."""

    changed = Signal()

    #: The filters the History page offers under the same names.
    PARTS = ("method_filter", "task_filter", "variant_filter", "status_filter", "since_check", "since_edit",
             "name_filter")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.method_filter = self._combo()
        self.task_filter = self._combo()
        self.variant_filter = self._combo()
        self.status_filter = self._combo(RUN_STATUSES)
        self.since_check = QCheckBox("Since")
        self.since_edit = QDateEdit(QDate.currentDate().addDays(-7))
        self.since_edit.setCalendarPopup(True)
        self.since_edit.setDisplayFormat("yyyy-MM-dd")
        self.since_edit.setEnabled(False)
        self.name_filter = QLineEdit()
        self.name_filter.setPlaceholderText("Filter by name…")
        self.name_filter.setClearButtonEnabled(True)
        for combo in (self.method_filter, self.task_filter, self.variant_filter, self.status_filter):
            combo.currentTextChanged.connect(self._changed)
        self.since_check.toggled.connect(self.since_edit.setEnabled)
        self.since_check.toggled.connect(self._changed)
        self.since_edit.dateChanged.connect(self._changed)
        self.name_filter.textChanged.connect(self._changed)
        self._build_layout()

    @staticmethod
    def _combo(items=()) -> QComboBox:
        combo = QComboBox()
        combo.addItems([ANY, *items])
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        combo.setMinimumContentsLength(6)
        return combo

    def _build_layout(self) -> None:
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for label, widget in (("Method", self.method_filter), ("Task", self.task_filter),
                              ("Variant", self.variant_filter), ("Status", self.status_filter)):
            row.addWidget(QLabel(label))
            row.addWidget(widget)
            row.addSpacing(8)
        row.addWidget(self.since_check)
        row.addWidget(self.since_edit)
        row.addSpacing(8)
        row.addWidget(self.name_filter, 1)

    def _changed(self, *_: Any) -> None:
        self.changed.emit()

    def values(self) -> dict[str, Any]:
        """The filters as ``RunTableModel.set_filter`` takes them."""
        since: date | None = self.since_edit.date().toPython() if self.since_check.isChecked() else None
        return dict(method=self.method_filter.currentText(), task=self.task_filter.currentText(),
                    variant=self.variant_filter.currentText(), status=self.status_filter.currentText(),
                    since=since, text=self.name_filter.text())

    def offer(self, model: RunTableModel) -> None:
        """Offer the values present in ``model``; keep each combo's current choice."""
        for combo, key in ((self.method_filter, "method"), (self.task_filter, "task"),
                           (self.variant_filter, "variant")):
            current = combo.currentText()
            values = model.values(key)
            if current != ANY and current not in values:
                values = sorted([*values, current])
            combo.blockSignals(True)
            combo.clear()
            combo.addItems([ANY, *values])
            combo.setCurrentText(current)
            combo.blockSignals(False)
