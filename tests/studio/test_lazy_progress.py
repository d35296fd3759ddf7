"""The progress bars move with the window's next update, never by painting the window on the spot."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget

from cast_studio.pages.lazy_progress import LazyProgressBar


class Paints(QObject):
    def __init__(self):
        super().__init__()
        self.count = 0

    def eventFilter(self, watched, event):  # noqa: N802 (Qt's name)
        self.count += event.type() == QEvent.Type.Paint
        return False


def test_moving_the_bar_paints_nothing_until_the_next_update(qtbot):
    window = QWidget()
    layout = QVBoxLayout(window)
    bar, neighbour = LazyProgressBar(), QLabel("a plot the last events changed")
    layout.addWidget(bar)
    layout.addWidget(neighbour)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    for _ in range(3):
        QApplication.processEvents()
    paints = Paints()
    neighbour.installEventFilter(paints)
    bar.installEventFilter(paints)
    neighbour.update()  # waiting to be drawn, as the Monitor's plots are after an event
    bar.setRange(0, 200)
    bar.setValue(37)  # QProgressBar would repaint here, and draw the waiting neighbour with it
    bar.setValue(120)
    assert paints.count == 0
    QApplication.processEvents()
    assert paints.count >= 1 and bar.value() == 120 and bar.text() == "60%"
