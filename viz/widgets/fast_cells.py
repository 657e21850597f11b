"""A table delegate that paints a cell from one Python call instead of seven ``data()`` role queries.

Qt's default delegate asks the model for display, font, alignment, foreground, background, check state and
decoration of every visible cell on every repaint; through PyQt each query is a Python call, which made a
600-cell table cost ~20 ms per repaint (bench/viz_frames.py). Models used with :class:`FastCellDelegate`
answer ``cell(index) -> (text, foreground, background, alignment, bold)`` once per cell and paint.
"""

from __future__ import annotations

from typing import Protocol

from PyQt6.QtCore import QModelIndex, QPersistentModelIndex, QSize, Qt
from PyQt6.QtGui import QColor, QFont, QFontMetrics, QPainter
from PyQt6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

__all__ = ["Cell", "CellSource", "FastCellDelegate"]

Cell = tuple[str, QColor | None, QColor | None, Qt.AlignmentFlag, bool]
_PAD = 4
# flag tests on plain ints: PyQt6 flags are Python enums, and ``&`` on them costs ~1 us each (measured)
_SELECTED = QStyle.StateFlag.State_Selected.value
_ALTERNATE = QStyleOptionViewItem.ViewItemFeature.Alternate.value


class CellSource(Protocol):
    def cell(self, index: QModelIndex | QPersistentModelIndex) -> Cell: ...


class FastCellDelegate(QStyledItemDelegate):
    def __init__(self, source: CellSource, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self._bold: QFont | None = None

    def paint(
        self, painter: QPainter | None, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        if painter is None:
            return
        text, fg, bg, align, bold = self.source.cell(index)
        rect = option.rect
        palette = option.palette
        if option.state.value & _SELECTED:
            painter.fillRect(rect, palette.highlight())
            fg = palette.highlightedText().color()
        elif bg is not None:
            painter.fillRect(rect, bg)
        elif option.features.value & _ALTERNATE:
            painter.fillRect(rect, palette.alternateBase())
        painter.setPen(fg if fg is not None else palette.text().color())
        if bold:
            if self._bold is None:
                self._bold = QFont(option.font)
                self._bold.setBold(True)
            painter.setFont(self._bold)
        else:
            painter.setFont(option.font)
        painter.drawText(rect.adjusted(_PAD, 0, -_PAD, 0), align.value, text)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        """Room for the text in bold (any row may become the bold one, e.g. the option chain's ATM row)."""
        text = self.source.cell(index)[0]
        if self._bold is None:
            self._bold = QFont(option.font)
            self._bold.setBold(True)
        metrics = QFontMetrics(self._bold)
        return QSize(metrics.horizontalAdvance(text) + 2 * _PAD + 2, metrics.height() + 4)
