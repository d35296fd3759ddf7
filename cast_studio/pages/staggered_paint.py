"""Paint a group of widgets one per turn of the event loop instead of all in one.

When a page of plots is shown, or a run's start clears every plot, Qt paints
all of them in one go: on a 2-core CPU that is 5-12 ms a plot and, with the
Monitor's four, 30-60 ms in which the window answers nothing (no click, no
key, no timer). ``StaggeredPaint`` holds the paint of all but the first
widget and lets them paint one at a time, each in its own turn of the event
loop, so that input and timers are served between them. The widgets' contents
are set at once as before; only their pixels follow, a few milliseconds apart.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QWidget


class StaggeredPaint(QObject):
    """Holds the paints of ``widgets`` on ``hold()`` and releases them one per event-loop turn."""

    def __init__(self, widgets: list[QWidget], parent: QObject | None = None,
                 prepare: Callable[..., None] | None = None) -> None:
        """``prepare(*widgets)``, if given, readies widgets for their paint: a held one just before its turn
        (the work it would do in the paint, such as laying out a plot's axes, comes in that turn too)."""
        super().__init__(parent)
        self._widgets = list(widgets)
        self._prepare = prepare
        self._held: list[QWidget] = []
        self._release = QTimer(self)
        self._release.setSingleShot(True)
        self._release.setInterval(0)  # the next turn: after what is waiting to paint now, and any due timers
        self._release.timeout.connect(self._release_next)

    def hold(self, widgets: list[QWidget] | None = None, *, first_now: bool = True) -> None:
        """Of ``widgets`` (default: all), the first visible one paints as usual; the other visible ones, each in
        a later turn (after those held already). With ``first_now=False`` all of them wait, so that the rest
        of the window paints first."""
        visible = [w for w in (self._widgets if widgets is None else widgets) if w.isVisible() and w not in self._held]
        if first_now and not self._held and visible:
            visible = visible[1:]
        for widget in visible:
            widget.setUpdatesEnabled(False)
            self._held.append(widget)
        if self._held and not self._release.isActive():
            self._release.start()

    def held(self) -> list[QWidget]:
        """The widgets waiting for their turn to paint."""
        return list(self._held)

    def prepare_unheld(self) -> None:
        """Ready now the widgets that paint now; those waiting for their turn are readied in it."""
        if self._prepare is not None:
            self._prepare(*(widget for widget in self._widgets if widget not in self._held))

    def _release_next(self) -> None:
        if not self._held:
            return
        widget = self._held.pop(0)
        if self._prepare is not None:
            self._prepare(widget)
        widget.setUpdatesEnabled(True)  # schedules the widget's paint
        if self._held:
            self._release.start()
