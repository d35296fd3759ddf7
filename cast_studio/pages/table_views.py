"""Table views that paint once when their model is reset, after the work that reset it.

After a model reset a ``QTableView`` lays its rows out in a later turn of the
event loop, but the paint that the reset asked for can come first: the view
then paints every cell on screen, learns the new row count, sets its scroll
bar and paints them all again. For the History table that was two paints of
15-30 ms for one choice in a filter, for the Pairs view's diff rows more.

A table's paint is also the costliest part of a filter or a sort, so it can
wait for the next turn: the query and the repaint of the page around the table
come in one turn, the cells in the next, and input is served between them.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QAbstractItemModel, QObject
from PySide6.QtWidgets import QAbstractItemView, QWidget

from .staggered_paint import StaggeredPaint


def lay_out_on_reset(view: QAbstractItemView) -> None:
    """Lay ``view``'s rows out as soon as its current model is reset, before anything paints."""
    view.model().modelReset.connect(view.doItemsLayout)


def paint_after_reset(models: Iterable[QAbstractItemModel], table: QWidget, parent: QObject) -> StaggeredPaint:
    """Hold ``table``'s paint from just before any of ``models`` is reset until a later turn of the event loop
    (held before the reset, so that the reset's own request to paint is not served first). Returns the
    ``StaggeredPaint``; ``hold(first_now=False)`` on it holds the table the same way at other times."""
    stagger = StaggeredPaint([table], parent)
    for model in models:
        model.modelAboutToBeReset.connect(lambda: stagger.hold(first_now=False))
    return stagger
