"""Switching pages: a page of plots is drawn once when shown, and what is drawn is current."""

from __future__ import annotations

import collections

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QGraphicsItem

from test_monitor_page import feed, synthetic_run


class PaintCounter(QObject):
    """Counts paint events per widget."""

    def __init__(self):
        super().__init__()
        self.paints: collections.Counter = collections.Counter()

    def eventFilter(self, watched, event):  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Paint:
            self.paints[id(watched)] += 1
        return False


def settle() -> None:
    for _ in range(5):
        QApplication.processEvents()


def monitor_with_a_run(window):
    window.show_page("Monitor")
    feed(window.monitor_page, synthetic_run(epochs=3))
    settle()
    return [view for view in window.monitor_page.findChildren(pg.GraphicsView) if view.isVisible()]


def test_showing_the_monitor_again_paints_each_plot_once(window):
    """Before, a shown (or hidden) plot's scene told every item the window had been (de)activated, and
    each item repainted: every plot of the Monitor was painted two or three times, in five passes."""
    views = monitor_with_a_run(window)
    assert len(views) >= 4
    counter = PaintCounter()
    for view in views:
        view.viewport().installEventFilter(counter)
    for _ in range(3):
        window.show_page("Data")
        settle()
        window.show_page("Monitor")
        settle()
    assert [counter.paints[id(view.viewport())] for view in views] == [3] * len(views)


def image_of(view) -> bytes:
    image = view.grab().toImage()
    return bytes(image.constBits())


def test_a_plot_changed_while_its_page_was_hidden_is_drawn_as_it_is_now(window):
    """The axes' pixmaps and the quiet page switch never show a stale plot."""
    views = monitor_with_a_run(window)
    loss = window.monitor_page.loss_plot
    before = image_of(loss)
    window.show_page("History")
    settle()
    feed(window.monitor_page, [event for event in synthetic_run(epochs=5, seed=3)
                               if type(event).__name__ in ("LossReported", "Progress")])  # more steps, new ranges
    window.show_page("Monitor")
    settle()
    shown = image_of(loss)
    assert shown != before
    for view in views:  # draw everything again without any cache: the same picture
        for item in view.scene().items():
            item.setCacheMode(QGraphicsItem.CacheMode.NoCache)
            item.update()
    settle()
    assert image_of(loss) == shown


def test_a_new_run_does_not_resize_the_plots_back_and_forth(window):
    """The header's wrapped lines change with each run; it grows when it must and never shrinks back
    while its width stays, so the plots below are not resized (and drawn anew) at every run's start."""
    from cast_engine.config import RunConfig
    from test_monitor_page import cast_config

    monitor_with_a_run(window)
    page = window.monitor_page
    long_name = "a run whose name is long enough to wrap the header's title onto a second line " * 3
    sizes = []
    for name in ("short", long_name, "short", long_name, "short"):
        page.next_run(RunConfig.from_dict(cast_config(name=name)))
        settle()
        sizes.append(page.loss_plot.size().toTuple())
    assert sizes[1] != sizes[0]  # the long name needed more room: the header grew once
    assert sizes[1:] == [sizes[1]] * 4  # … and kept it
    window.resize(window.width() + 200, window.height())  # a new width: the header fits itself again
    settle()
    page.next_run(RunConfig.from_dict(cast_config(name="short")))
    settle()
    assert page.loss_plot.height() > sizes[1][1]


def paints_per_turn(counter: PaintCounter, views, turns: int = 12) -> list[int]:
    """How many of ``views`` painted in each of the next turns of the event loop."""
    counts = []
    for _ in range(turns):
        before = sum(counter.paints[id(view.viewport())] for view in views)
        QApplication.processEvents()
        counts.append(sum(counter.paints[id(view.viewport())] for view in views) - before)
    return counts



def assert_paints_once_after(counter: PaintCounter, first, then, turns: int = 8) -> None:
    """Over the next turns of the event loop, ``then`` paints exactly once, in a turn after the one in which
    ``first`` paints (both watched by ``counter``; paints counted from now)."""
    start = (counter.paints[id(first)], counter.paints[id(then)])
    seen = []
    for _ in range(turns):
        QApplication.processEvents()
        seen.append((counter.paints[id(first)] - start[0], counter.paints[id(then)] - start[1]))
    first_turn = next((turn for turn, (firsts, _) in enumerate(seen) if firsts), None)
    assert first_turn is not None and seen[first_turn][1] == 0 and seen[-1][1] == 1, seen

def test_the_monitors_plots_paint_one_per_turn_of_the_event_loop(window):
    """Shown, or cleared at a run's start, the Monitor's four plots painted all in one go: 30-60 ms in which
    the window answered no click, key or timer. Now each paints in its own turn, a few milliseconds apart."""
    views = monitor_with_a_run(window)
    counter = PaintCounter()
    for view in views:
        view.viewport().installEventFilter(counter)
    window.show_page("Data")
    settle()
    window.show_page("Monitor")
    shown = paints_per_turn(counter, views)
    assert max(shown) == 1 and sum(shown) == len(views), shown

    page = window.monitor_page
    page.on_event(synthetic_run(epochs=3, seed=1)[1])  # the next run starts: every plot is cleared
    started = paints_per_turn(counter, views)
    assert max(started) == 1 and sum(started) == len(views), started
    assert page.loss_curve.getData()[0] is None or len(page.loss_curve.getData()[0]) == 0
