"""The DOM ladder: price rows, bid size bars growing left of the price, ask size bars growing right of it.

Painted with one ``QPainter`` pass per frame (40-odd rows of text and bars; a table widget's item
objects would cost more than the painting). The last trade's row is outlined and carries a marker in the
colour of its aggressor (buy/sell); the window's header gives its quantity. Rows between the best bid and
the best ask (the spread) are shaded. ``rows_fit()`` tells the window how many rows the current height holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from PyQt6.QtCore import QPointF, QRectF, QSize, Qt
from PyQt6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPen, QPolygonF, QStaticText
from PyQt6.QtWidgets import QSizePolicy, QWidget

from viz.models import fmt
from viz.models.ladder import LadderRows
from viz.models.ticks import SIDE_BUY, SIDE_SELL
from viz.widgets.theme import DARK, Theme

__all__ = ["LadderWidget", "LastTrade"]

ROW_H = 18
# column edges as fractions of the width: bid orders | bid size | price | ask size | ask orders
_EDGES = (0.0, 0.10, 0.37, 0.63, 0.90, 1.0)
_HEADERS = ("Ord", "Bid qty", "Price", "Ask qty", "Ord")
_TEXTS_MAX = 4096  # laid-out texts kept (quantities, prices); cleared when full


@dataclass(frozen=True, slots=True)
class LastTrade:
    price: float
    qty: int
    side: int  # viz.models.ticks side code


class LadderWidget(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme: Theme = DARK
        self.rows: LadderRows | None = None
        self.decimals = 2
        self.last: LastTrade | None = None
        self.font_ = QFont()
        self.font_.setPixelSize(12)
        self.bold = QFont(self.font_)
        self.bold.setBold(True)
        self._texts: dict[tuple[str, bool], QStaticText] = {}
        self.setMinimumWidth(300)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(380, 760)

    def rows_fit(self) -> int:
        return max(3, self.height() // ROW_H - 1)  # less the header row

    def set_state(self, rows: LadderRows | None, decimals: int, last: LastTrade | None, theme: Theme) -> None:
        self.rows, self.decimals, self.last, self.theme = rows, decimals, last, theme
        self.update()

    def paintEvent(self, event: QPaintEvent | None) -> None:
        p = QPainter(self)
        try:
            self._paint(p)
        finally:
            p.end()

    def _paint(self, p: QPainter) -> None:
        t, w = self.theme, float(self.width())
        p.fillRect(self.rect(), QColor(t.bg))
        xs = [w * e for e in _EDGES]
        p.setFont(self.bold)
        p.setPen(QColor(t.muted))
        for i, text in enumerate(_HEADERS):
            p.drawText(QRectF(xs[i], 0, xs[i + 1] - xs[i], ROW_H), Qt.AlignmentFlag.AlignCenter, text)
        rows = self.rows
        if rows is None:
            p.setPen(QColor(t.muted))
            p.drawText(QRectF(0, ROW_H, w, ROW_H * 3), Qt.AlignmentFlag.AlignCenter, "no book yet")
            return
        p.setFont(self.font_)
        top_max = max(rows.max_qty, 1)
        bid_bar, ask_bar = t.color("buy", 150), t.color("sell", 150)
        spread_bg = t.color("panel")
        lo_spread, hi_spread = rows.best_ask_row, rows.best_bid_row
        fg, muted = QColor(t.fg), QColor(t.muted)
        bid_w, ask_w = xs[2] - xs[1], xs[4] - xs[3]
        for r in range(rows.rows):
            y = ROW_H * (r + 1)
            bq, aq = int(rows.bid_qty[r]), int(rows.ask_qty[r])
            if 0 <= lo_spread < r < hi_spread:
                p.fillRect(QRectF(0, y, w, ROW_H), spread_bg)
            if bq:
                bw = bid_w * bq / top_max
                p.fillRect(QRectF(xs[2] - bw, y + 1, bw, ROW_H - 2), bid_bar)
                p.setPen(fg)
                self._text(p, fmt.qty(bq), xs[2] - 4, y, 1.0)
                p.setPen(muted)
                self._text(p, fmt.qty(int(rows.bid_orders[r])), xs[1] - 4, y, 1.0)
            if aq:
                aw = ask_w * aq / top_max
                p.fillRect(QRectF(xs[3], y + 1, aw, ROW_H - 2), ask_bar)
                p.setPen(fg)
                self._text(p, fmt.qty(aq), xs[3] + 4, y, 0.0)
                p.setPen(muted)
                self._text(p, fmt.qty(int(rows.ask_orders[r])), xs[4] + 4, y, 0.0)
            best = r in (rows.best_bid_row, rows.best_ask_row)
            p.setPen(QColor(t.up if r == rows.best_bid_row else t.down) if best else fg)
            self._text(p, fmt.price(rows.price(r), self.decimals), (xs[2] + xs[3]) / 2, y, 0.5, bold=best)
        self._paint_last(p, rows, xs)

    def _text(self, p: QPainter, text: str, x: float, y: float, anchor: float, *, bold: bool = False) -> None:
        """``text`` in row ``y``: ``anchor`` 0 starts it at ``x``, 1 ends it there, 0.5 centres it. Laid out
        once and kept (a QStaticText draws in a fraction of drawText's time)."""
        key = (text, bold)
        static = self._texts.get(key)
        if static is None:
            if len(self._texts) >= _TEXTS_MAX:
                self._texts.clear()
            static = self._texts[key] = QStaticText(text)
            static.prepare(font=self.bold if bold else self.font_)
        size = static.size()
        p.setFont(self.bold if bold else self.font_)
        p.drawStaticText(QPointF(x - anchor * size.width(), y + (ROW_H - size.height()) / 2), static)

    def _paint_last(self, p: QPainter, rows: LadderRows, xs: list[float]) -> None:
        last, r = self.last, rows.last_row
        if last is None or r < 0:
            return
        t = self.theme
        colour = QColor(t.buy if last.side == SIDE_BUY else t.sell if last.side == SIDE_SELL else t.accent)
        y = ROW_H * (r + 1)
        p.setPen(QPen(colour, 2))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(QRectF(xs[2] + 1, y + 1, xs[3] - xs[2] - 2, ROW_H - 2))
        p.setBrush(colour)
        p.setPen(Qt.PenStyle.NoPen)
        x, mid = xs[2] + 3, y + ROW_H / 2
        p.drawPolygon(QPolygonF([QPointF(x, mid - 5), QPointF(x + 7, mid), QPointF(x, mid + 5)]))
