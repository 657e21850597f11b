"""Heatmap grid of stocks coloured by % change, and a proportional advances/declines bar (QPainter)."""

from __future__ import annotations

import math

from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QPainter, QPaintEvent
from PyQt6.QtWidgets import QSizePolicy, QWidget

from viz.models.breadth import BreadthCounts, Stock
from viz.models.fmt import pct, price
from viz.widgets.theme import DARK, Theme

__all__ = ["BreadthBar", "Heatmap", "change_colour"]

FULL_SCALE_PCT = 2.0  # |change| at or beyond this is drawn in full colour


def change_colour(change_pct: float | None, theme: Theme) -> QColor:
    if change_pct is None:
        return QColor(theme.panel)
    base = QColor(theme.bg if theme.name == "dark" else "#eef0f3")
    target = QColor(theme.up if change_pct > 0 else theme.down)
    f = min(1.0, abs(change_pct) / FULL_SCALE_PCT) ** 0.7 if change_pct else 0.0
    f = 0.25 + 0.75 * f if change_pct else 0.0
    return QColor(
        round(base.red() + (target.red() - base.red()) * f),
        round(base.green() + (target.green() - base.green()) * f),
        round(base.blue() + (target.blue() - base.blue()) * f),
    )


class Heatmap(QWidget):
    """Cells of stocks in the given order (left to right, top to bottom)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stocks: list[Stock] = []
        self.theme = DARK
        self.columns = 10
        self.setMinimumHeight(220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_stocks(self, stocks: list[Stock]) -> None:
        self.stocks = stocks
        self.update()

    def cell_rect(self, i: int) -> QRectF:
        cols = self.columns
        rows = max(1, math.ceil(len(self.stocks) / cols))
        w, h = self.width() / cols, self.height() / rows
        return QRectF((i % cols) * w + 1, (i // cols) * h + 1, w - 2, h - 2)

    def paintEvent(self, event: QPaintEvent | None) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(self.theme.bg))
        big, small = QFont(self.font()), QFont(self.font())
        big.setBold(True)
        small.setPointSizeF(max(6.0, self.font().pointSizeF() * 0.9))
        fg = QColor(self.theme.fg)
        for i, s in enumerate(self.stocks):
            r = self.cell_rect(i)
            p.fillRect(r, change_colour(s.change_pct, self.theme))
            p.setPen(fg)
            p.setFont(big)
            top = QRectF(r.left(), r.top() + r.height() * 0.12, r.width(), r.height() * 0.4)
            p.drawText(top, Qt.AlignmentFlag.AlignCenter, s.symbol)
            p.setFont(small)
            bottom = QRectF(r.left(), r.top() + r.height() * 0.5, r.width(), r.height() * 0.4)
            text = "not traded" if s.change_pct is None else f"{pct(s.change_pct)}  {price(s.ltp)}"
            p.drawText(bottom, Qt.AlignmentFlag.AlignCenter, text)
        p.end()


class BreadthBar(QWidget):
    """One bar split advances | unchanged | declines in proportion."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.counts = BreadthCounts(0, 0, 0, 0)
        self.theme = DARK
        self.setFixedHeight(14)

    def set_counts(self, counts: BreadthCounts) -> None:
        self.counts = counts
        self.update()

    def paintEvent(self, event: QPaintEvent | None) -> None:
        p = QPainter(self)
        c = self.counts
        total = c.advances + c.declines + c.unchanged
        p.fillRect(self.rect(), QColor(self.theme.panel))
        if total:
            x = 0.0
            for n, colour in (
                (c.advances, self.theme.up),
                (c.unchanged, self.theme.neutral),
                (c.declines, self.theme.down),
            ):
                w = self.width() * n / total
                p.fillRect(QRectF(x, 0, w, self.height()), QColor(colour))
                x += w
        p.end()
