"""Forms built from the engine's config dataclasses.

Each field's help text becomes the tooltip, its choices a combo box, a bool a
check box; numbers and text are checked by the engine's own field checks as the
user types (the same checks, in the same words, as the command line's). An
invalid value is refused there: the field turns red, its tooltip says why, the
form names the field under its own label, and the form keeps the last valid
value. A page may add checks that need more than the field (K against the
model's eligible parameters) with ``set_extra_check``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QWidget

from cast_engine.config import check_value, coerce
from cast_engine.errors import ConfigError

INVALID_STYLE = "QLineEdit { border: 1px solid #d33; background: #fff0f0; }"


def field_label(name: str) -> str:
    """'max_epochs' → 'Max epochs'; short names like 'lr' and 'k' read as such."""
    special = {"lr": "Learning rate (0: each method's)", "k": "K", "bf16": "bf16 autocast", "alpha": "α (alpha)"}
    return special.get(name, name.replace("_", " ").capitalize())


class ConfigForm(QWidget):
    """Editable form for one config dataclass (fields with help text)."""

    changed = Signal()  # a field took a new valid value
    edited = Signal()  # a field was edited, valid or not (validity may have changed)

    def __init__(self, config_cls: type, *, skip: Iterable[str] = (), owner: str = "", parent=None):
        super().__init__(parent)
        self.config_cls = config_cls
        self.owner = owner or getattr(config_cls, "name", "") or config_cls.__name__
        self.fields = [f for f in dataclasses.fields(config_cls)
                       if f.metadata.get("help") is not None and f.name not in set(skip)]
        self.editors: dict[str, QWidget] = {}
        self.errors: dict[str, str] = {}
        self._extra_checks: dict[str, Callable[[Any], None]] = {}
        self._beside: dict[str, list[QWidget]] = {}
        defaults = config_cls()
        self._values: dict[str, Any] = {f.name: getattr(defaults, f.name) for f in self.fields}
        layout = QFormLayout(self)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #c0392b;")
        self.error_label.setWordWrap(True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)  # "it must be <= 1.0" is text, not markup
        for f in self.fields:
            editor = self._make_editor(f)
            editor.setToolTip(f.metadata["help"])
            editor.setObjectName(f.name)
            self.editors[f.name] = editor
            label = QLabel(field_label(f.name))
            label.setToolTip(f.metadata["help"])
            layout.addRow(label, editor)
        layout.addRow(self.error_label)
        self.error_label.hide()

    def _make_editor(self, f: dataclasses.Field) -> QWidget:
        value = self._values[f.name]
        if f.metadata.get("choices"):
            box = QComboBox()
            box.addItems([str(c) for c in f.metadata["choices"]])
            box.setCurrentText(str(value))
            box.currentTextChanged.connect(lambda text, f=f: self._accept(f, text))
            return box
        if isinstance(value, bool):
            check = QCheckBox()
            check.setChecked(value)
            check.toggled.connect(lambda on, f=f: self._accept(f, on))
            return check
        edit = QLineEdit(str(value))
        edit.textEdited.connect(lambda text, f=f: self._accept(f, text))
        return edit

    def _accept(self, f: dataclasses.Field, raw: Any) -> bool:
        """Check a new value with the engine's rules; keep it or refuse it in place."""
        editor = self.editors.get(f.name)
        try:
            value = coerce(f, raw) if isinstance(raw, str) else raw
            check_value(self.owner, f, value)
            if f.name in self._extra_checks:
                self._extra_checks[f.name](value)
        except ConfigError as exc:
            self.errors[f.name] = f"{field_label(f.name)}: {exc}"
            if isinstance(editor, QLineEdit):
                editor.setStyleSheet(INVALID_STYLE)
                editor.setToolTip(f"{exc}\n\n{f.metadata['help']}")
            self._show_errors()
            self.edited.emit()
            return False
        self.errors.pop(f.name, None)
        if isinstance(editor, QLineEdit):
            editor.setStyleSheet("")
            editor.setToolTip(f.metadata["help"])
        changed = self._values.get(f.name) != value
        self._values[f.name] = value
        self._show_errors()
        if changed:
            self.changed.emit()
        self.edited.emit()
        return True

    def _show_errors(self) -> None:
        """The first problem, on one line (a list would push the page's Run button away); all in the tooltip."""
        problems = list(self.errors.values())
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        self.error_label.setText(problems[0] + more if problems else "")
        self.error_label.setToolTip("\n".join(problems))
        self.error_label.setVisible(bool(problems))

    def add_beside(self, name: str, *widgets: QWidget) -> None:
        """Show ``widgets`` (a Browse… button) to the right of field ``name``'s editor."""
        editor = self.editors[name]
        layout: QFormLayout = self.layout()
        row, _ = layout.getWidgetPosition(editor)
        layout.removeWidget(editor)
        box = QWidget()
        line = QHBoxLayout(box)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(editor, 1)
        for widget in widgets:
            line.addWidget(widget)
        layout.setWidget(row, QFormLayout.ItemRole.FieldRole, box)
        self._beside[name] = list(widgets)
        chain = [w for f in self.fields for w in (self.editors[f.name], *self._beside.get(f.name, ()))]
        for before, after in zip(chain, chain[1:]):  # Tab still goes down the form (the moved editor went last)
            QWidget.setTabOrder(before, after)

    def set_extra_check(self, name: str, check: Callable[[Any], None] | None) -> None:
        """A check of field ``name`` beyond its own limits (raises ConfigError); the field is checked again now."""
        if check is None:
            self._extra_checks.pop(name, None)
        else:
            self._extra_checks[name] = check
        self.recheck(name)

    def recheck(self, name: str) -> None:
        """Check the text now in field ``name`` again (a check it depends on changed)."""
        editor = self.editors.get(name)
        if isinstance(editor, QLineEdit):
            self._accept(next(f for f in self.fields if f.name == name), editor.text())

    # ----------------------------------------------------------------- values
    def is_valid(self) -> bool:
        return not self.errors

    def values(self) -> dict:
        """The last valid value of every field."""
        return dict(self._values)

    def config(self, **extra) -> Any:
        """An instance of the config class from the form's valid values."""
        return self.config_cls(**{**self._values, **extra})

    def set_values(self, values: dict) -> None:
        """Show saved values (unknown or invalid ones are ignored)."""
        for f in self.fields:
            if f.name not in values:
                continue
            editor = self.editors[f.name]
            value = values[f.name]
            if isinstance(editor, QComboBox):
                editor.setCurrentText(str(value))
            elif isinstance(editor, QCheckBox):
                editor.setChecked(bool(value))
            else:
                editor.setText(str(value))
                self._accept(f, str(value))

    def set_text(self, name: str, text: str) -> bool:
        """Type ``text`` into a field as a user would; returns whether it was accepted."""
        editor = self.editors[name]
        field = next(f for f in self.fields if f.name == name)
        if isinstance(editor, QComboBox):
            editor.setCurrentText(text)
            return editor.currentText() == text
        editor.setText(text)
        return self._accept(field, text)
