"""The diff delegate draws a page of new rows at once: past its layout budget, rows show their
plain text first and get their highlighted changes a moment later, without a long repaint."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtGui import QColor  # noqa: E402

from cast_engine.data.types import CadSplit, Example  # noqa: E402
from cast_studio.pages.data_preview import PairPreview  # noqa: E402

ADDED_BACKGROUND = QColor("#dcf2df")  # data_preview.ADDED_STYLE's background


def _split(pairs: int) -> CadSplit:
    filler = "a long review that goes on about the plot and the actors " * 6
    factual = [Example(f"the film was good {i} {filler}", None, 1) for i in range(pairs)]
    revised = [Example(f"the film was awful {i} {filler}", None, 0) for i in range(pairs)]
    return CadSplit("test", factual, revised, [(i, i) for i in range(pairs)])


def _highlighted_pixels(preview) -> int:
    image = preview.view.viewport().grab().toImage()
    target = ADDED_BACKGROUND.rgb()
    return sum(1 for y in range(0, image.height(), 2) for x in range(0, image.width(), 2) if image.pixel(x, y) == target)


def test_rows_past_the_budget_show_plain_text_then_their_highlights(qtbot):
    preview = PairPreview()
    qtbot.addWidget(preview)
    preview.resize(1000, 700)
    preview.show()
    preview.delegate.LAYOUT_BUDGET_S = 0.0  # every layout after a paint's first waits for later
    preview.model.set_split(_split(40), ["Negative", "Positive"])
    first = _highlighted_pixels(preview)  # one paint: only the first document laid out
    assert preview.delegate.waiting > 0
    qtbot.waitUntil(lambda: preview.delegate.waiting == 0)
    qtbot.wait(50)  # the cells drawn as plain text are drawn again
    rows_shown = preview.view.rowAt(preview.view.viewport().height() - 1) - preview.view.rowAt(0) + 1
    assert rows_shown > 3
    assert _highlighted_pixels(preview) > 3 * max(first, 1)


def test_a_page_seen_before_is_drawn_from_laid_out_documents(qtbot):
    preview = PairPreview()
    qtbot.addWidget(preview)
    preview.resize(1000, 700)
    preview.show()
    preview.model.set_split(_split(40), ["Negative", "Positive"])
    preview.view.viewport().grab()
    qtbot.waitUntil(lambda: preview.delegate.waiting == 0)
    preview.delegate.LAYOUT_BUDGET_S = 0.0  # no new layouts allowed: a repaint must need none
    preview.view.viewport().grab()
    assert preview.delegate.waiting == 0
