"""A progress bar that is drawn with the rest of the window, never on its own.

QProgressBar repaints at once whenever its value or range changes (Qt's
``repaint()``, not ``update()``), and a repaint draws everything else that is
waiting to be drawn too: every plot the last events changed. A training run
moves the bar dozens of times a minute, so each move painted the Monitor's
plots there and then, outside Qt's coalesced updates; at a run's start this
took 30-100 ms of the window's time while the training thread loaded the model.
``LazyProgressBar`` changes its value with updates switched off and asks for an
ordinary update instead.
"""

from __future__ import annotations

from PySide6.QtWidgets import QProgressBar


class LazyProgressBar(QProgressBar):
    """A QProgressBar whose changes are painted with the next window update."""

    def _quietly(self, change, *args) -> None:
        if not self.updatesEnabled():
            change(*args)
            return
        self.setUpdatesEnabled(False)
        try:
            change(*args)
        finally:
            self.setUpdatesEnabled(True)  # schedules an update(): the bar is drawn with the rest

    def setValue(self, value: int) -> None:  # noqa: N802 (Qt's name)
        self._quietly(super().setValue, value)

    def setRange(self, minimum: int, maximum: int) -> None:  # noqa: N802 (Qt's name)
        self._quietly(super().setRange, minimum, maximum)

    def setMaximum(self, maximum: int) -> None:  # noqa: N802 (Qt's name)
        self._quietly(super().setMaximum, maximum)

    def reset(self) -> None:
        self._quietly(super().reset)
