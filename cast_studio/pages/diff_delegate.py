"""The word-diff delegate of the Data page's and the Pairs view's tables.

Laying out a long text with its highlights is what drawing a row costs (a few
milliseconds each); a page of rows not seen before (scrolling, filtering,
switching to the page) would lay out dozens at once and hold the GUI thread
for 100 ms and more. So the delegate keeps the laid-out documents it drew last,
and one paint spends at most ``LAYOUT_BUDGET_S`` on new layouts: rows past the
budget are drawn as plain wrapped text at once and laid out a few at a time
between events, then drawn again with their highlights.
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QAbstractTextDocumentLayout, QFont, QPainter, QPainterPath, QPalette, QTextDocument
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

PREVIEW_LINES = 4  # text lines shown per preview row; the tooltip has the rest
DIFF_HTML_ROLE = Qt.ItemDataRole.UserRole + 1
PLAIN_CHARS = 600  # of a row's plain text drawn while its layout waits: more than four lines hold


@dataclasses.dataclass
class VisibleLines:
    """The whole text lines of a document that fit a height, and whether some were cut."""

    bottom: float = 0.0  # where the last whole line ends
    last_top: float = 0.0
    last_baseline: float = 0.0
    last_end: float = 0.0  # x where the text of the last whole line ends
    elided: bool = False


def visible_lines(doc: QTextDocument, height: float) -> VisibleLines:
    """Which lines of ``doc`` (laid out at its text width) fit into ``height``."""
    layout, seen = doc.documentLayout(), VisibleLines()
    block = doc.begin()
    while block.isValid():
        top = layout.blockBoundingRect(block).topLeft()
        lines = block.layout()
        for i in range(lines.lineCount()):
            line = lines.lineAt(i)
            line_top = top.y() + line.y()
            if line_top + line.height() > height + 0.5:
                seen.elided = True
                return seen
            seen.bottom, seen.last_top = line_top + line.height(), line_top
            seen.last_baseline = line_top + line.ascent()
            seen.last_end = top.x() + line.x() + line.naturalTextWidth()
        block = block.next()
    return seen


def preview_row_height(line_spacing: int) -> int:
    return PREVIEW_LINES * line_spacing + 8


def lay_out(text: str, font: QFont, width: float) -> QTextDocument:
    """``text`` (rich text) as a document laid out at ``width``."""
    doc = QTextDocument()
    doc.setDocumentMargin(0)
    doc.setDefaultFont(font)
    doc.setHtml(text)
    doc.setTextWidth(max(width, 10))
    doc.documentLayout().documentSize()  # the layout itself, here rather than at the first draw
    return doc


@dataclasses.dataclass
class _Laid:
    doc: QTextDocument
    cuts: dict[float, VisibleLines] = dataclasses.field(default_factory=dict)

    def cut(self, height: float) -> VisibleLines:
        if height not in self.cuts:
            self.cuts[height] = visible_lines(self.doc, height)
        return self.cuts[height]


class DiffDelegate(QStyledItemDelegate):
    """Draws DIFF_HTML_ROLE rich text, elided to the lines that fit the row (see the module's note)."""

    KEEP = 400  # laid-out documents kept: more than two screens of rows
    LAYOUT_BUDGET_S = 0.008  # new layouts per paint, and per step of the layouts left for later

    def __init__(self, parent=None):
        super().__init__(parent)
        self._laid: OrderedDict[tuple, _Laid] = OrderedDict()
        self._font = QFont()
        self._spent = 0.0
        self._frame_open = False
        self._waiting: OrderedDict[tuple, tuple[str, float]] = OrderedDict()
        self._redraw: list[tuple] = []  # (view, persistent index) of cells drawn as plain text
        self._later = QTimer(self)
        self._later.setSingleShot(True)
        self._later.setInterval(0)
        self._later.timeout.connect(self._lay_out_waiting)

    def html(self, index: QModelIndex) -> str | None:
        """The rich text this delegate draws for ``index`` (None: drawn as plain text)."""
        return index.data(DIFF_HTML_ROLE)

    @property
    def waiting(self) -> int:
        """Rows drawn as plain text for now, their layout still to come."""
        return len(self._waiting)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        text = self.html(index)
        if text is None:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        rect = opt.rect.adjusted(4, 3, -4, -3)
        laid = self._document(text, opt.font, rect.width())
        if laid is None and opt.widget is not None:
            self._redraw.append((opt.widget, QPersistentModelIndex(index)))
        # the plain text stands in until the layout is done: only its start, which is all a row shows
        opt.text = "" if laid is not None else opt.text[:PLAIN_CHARS]
        style = opt.widget.style() if opt.widget else None
        if style is not None:  # the background, and the plain text while the layout is still to come
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        if laid is None:
            return
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        painter.save()
        painter.translate(rect.topLeft())
        self._draw(painter, laid, rect.height(), opt.palette, selected)
        painter.restore()

    def _document(self, text: str, font: QFont, width: float) -> _Laid | None:
        """The laid-out document, or None when this paint's layout budget is spent (it comes later)."""
        if font != self._font:  # QFont.key() costs more than a layout lookup: keep one font's layouts
            self._font = QFont(font)
            self._laid.clear()
            self._waiting.clear()
        key = (text, round(width))
        laid = self._laid.get(key)
        if laid is not None:
            self._laid.move_to_end(key)
            return laid
        if self._spent >= self.LAYOUT_BUDGET_S:
            self._waiting[key] = (text, width)
            self._later.start()
            return None
        started = time.perf_counter()
        laid = self._keep(key, lay_out(text, font, width))
        self._spent += time.perf_counter() - started
        if not self._frame_open:  # the budget is per paint: reset once this event is done
            self._frame_open = True
            QTimer.singleShot(0, self._end_frame)
        return laid

    def _keep(self, key: tuple, doc: QTextDocument) -> _Laid:
        laid = self._laid[key] = _Laid(doc)
        while len(self._laid) > self.KEEP:
            self._laid.popitem(last=False)
        return laid

    def _end_frame(self) -> None:
        self._spent, self._frame_open = 0.0, False

    def _lay_out_waiting(self) -> None:
        """Lay out rows drawn as plain text, for one budget's time, then have those cells drawn again."""
        started = time.perf_counter()
        while self._waiting:
            key, (text, width) = self._waiting.popitem(last=False)
            if key not in self._laid:
                self._keep(key, lay_out(text, self._font, width))
            if time.perf_counter() - started >= self.LAYOUT_BUDGET_S:
                break
        if self._waiting:
            self._later.start()
            return
        cells, self._redraw = self._redraw, []
        for view, index in cells:
            if index.isValid():
                try:
                    view.update(QModelIndex(index))
                except RuntimeError:  # the view was closed meanwhile
                    pass

    def _draw(self, painter: QPainter, laid: _Laid, height: float, palette: QPalette, selected: bool) -> None:
        doc = laid.doc
        width = doc.textWidth()
        cut = laid.cut(height)
        context = QAbstractTextDocumentLayout.PaintContext()
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        context.palette.setColor(QPalette.ColorRole.Text, palette.color(role))
        context.clip = QRectF(0, 0, width, cut.bottom)
        clip = QPainterPath()
        clip.addRect(context.clip)
        mark_width = painter.fontMetrics().horizontalAdvance(" …")
        if cut.elided:  # keep room for the mark at the end of the last line shown
            clip = clip.subtracted(_rect_path(QRectF(width - mark_width, cut.last_top, mark_width, cut.bottom - cut.last_top)))
        painter.setClipPath(clip)
        doc.documentLayout().draw(painter, context)
        if cut.elided:
            painter.setClipping(False)
            painter.setPen(palette.color(role))
            painter.drawText(QPointF(min(cut.last_end, width - mark_width), cut.last_baseline), " …")

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        return QSize(200, preview_row_height(option.fontMetrics.lineSpacing()))


def _rect_path(rect: QRectF) -> QPainterPath:
    path = QPainterPath()
    path.addRect(rect)
    return path
