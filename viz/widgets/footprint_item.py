"""Footprint bars drawn as cells: ``bid x ask`` volume per price row, one column per bar (pyqtgraph item).

Each bar ``k`` is a column centred at ``x = k`` (the tick chart's convention, so an index time axis labels it).
Per row: a cell tinted by which side traded more there (green: ask/buy volume, red: bid/sell volume, the
stronger the more one-sided), the bid volume right-aligned left of the centre and the ask volume left-aligned
right of it. A diagonal imbalance shows its number bold in the side's colour; a run of stacked imbalances is
a bar on the column's edge (buy on the right, sell on the left); the POC row is outlined; a thin candle on the
column's left edge gives the bar's open, high, low and close.

Shapes are paths in chart coordinates, built when the bars change (:meth:`FootprintItem.set_bars`). Numbers
are drawn in device pixels (text must not scale with the view) and only when a row is tall enough to read:
zoomed out, the tinted cells remain (a heat map of the flow).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen

from viz.models import fmt
from viz.models.footprint import BarView
from viz.widgets.paths import rects_path, segments_path
from viz.widgets.theme import Theme

__all__ = ["CELL_HALF", "TEXT_MIN_PX", "FootprintItem"]

CELL_HALF = 0.46  # a cell spans x - CELL_HALF .. x + CELL_HALF
CANDLE_X = -0.49  # the candle's wick, relative to the column centre
STACK_WIDTH = 0.05
TEXT_MIN_PX = 11.0  # row height under which numbers are not drawn
_ALPHA_STEPS = (30, 50, 70, 90, 110)  # kept low: the numbers on the tint must stay readable
_FONT_PX = 11


def _volume(v: int) -> str:
    return fmt.compact(v) if v >= 10_000 else str(v)


class FootprintItem(pg.GraphicsObject):  # type: ignore[misc]
    """The cells, marks and numbers of some footprint bars (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._layers: list[tuple[QPainterPath, QPen, Any]] = []
        self._texts: list[tuple[float, float, float, str, str, bool, bool]] = []  # x, y, row, bid, ask, imb b/s
        self._bounds = QRectF()
        self._theme: Theme | None = None
        self.row_size = 1.0
        self._font = QFont()
        self._font.setPixelSize(_FONT_PX)
        self._bold = QFont(self._font)
        self._bold.setBold(True)

    def set_bars(self, xs: Sequence[float], views: Sequence[BarView], row_size: float, theme: Theme) -> None:
        """Draw ``views`` at column centres ``xs`` (rows ``row_size`` tall, centred on their price)."""
        self.prepareGeometryChange()
        self._theme, self.row_size = theme, row_size
        half = row_size / 2.0
        tints: dict[tuple[str, int], list[tuple[float, float, float, float]]] = {}
        poc: list[tuple[float, float, float, float]] = []
        stacks: dict[str, list[tuple[float, float, float, float]]] = {"buy": [], "sell": []}
        wicks: dict[str, list[tuple[float, float, float, float]]] = {"up": [], "down": []}
        texts = []
        lo_y, hi_y = np.inf, -np.inf
        for x, view in zip(xs, views, strict=True):
            if len(view.price) == 0:
                continue
            lo_y, hi_y = min(lo_y, float(view.price[0]) - half), max(hi_y, float(view.price[-1]) + half)
            delta = view.ask - view.bid
            top = max(1, int(np.abs(delta).max()))
            steps = np.minimum(len(_ALPHA_STEPS) - 1, (np.abs(delta) * len(_ALPHA_STEPS)) // (top + 1))
            traded = (view.bid + view.ask + view.other) > 0
            for i, price in enumerate(view.price.tolist()):
                if traded[i]:
                    tints.setdefault(("neutral", 45), []).append(
                        (x - CELL_HALF, price - half, x + CELL_HALF, price + half))
                if delta[i] != 0:
                    key = ("buy" if delta[i] > 0 else "sell", _ALPHA_STEPS[int(steps[i])])
                    tints.setdefault(key, []).append((x - CELL_HALF, price - half, x + CELL_HALF, price + half))
                if traded[i]:
                    texts.append((x, price, row_size, _volume(int(view.bid[i])), _volume(int(view.ask[i])),
                                  bool(view.buy_imbalance[i]), bool(view.sell_imbalance[i])))
            if view.poc is not None:
                poc.append((x - CELL_HALF, view.poc - half, x + CELL_HALF, view.poc + half))
            for stack in view.stacks:
                edge = x + CELL_HALF - STACK_WIDTH if stack.direction == "buy" else x - CELL_HALF
                stacks[stack.direction].append((edge, stack.low - half, edge + STACK_WIDTH, stack.high + half))
            wx = x + CANDLE_X
            wicks["up" if view.close >= view.open else "down"].append((wx, view.low, wx, view.high))
        self._layers = self._shapes(tints, poc, stacks, wicks, theme)
        self._texts = texts
        self._bounds = QRectF() if not texts else QRectF(
            min(xs) - 0.5, lo_y, max(xs) - min(xs) + 1.0, hi_y - lo_y)
        self.update()

    @staticmethod
    def _shapes(tints: dict[tuple[str, int], list[tuple[float, float, float, float]]],
                poc: list[tuple[float, float, float, float]],
                stacks: dict[str, list[tuple[float, float, float, float]]],
                wicks: dict[str, list[tuple[float, float, float, float]]], theme: Theme
                ) -> list[tuple[QPainterPath, QPen, Any]]:
        no_pen = QPen(Qt.PenStyle.NoPen)
        layers: list[tuple[QPainterPath, QPen, Any]] = []
        for (side, alpha), rects in sorted(tints.items(), key=lambda kv: kv[0][0] != "neutral"):  # base first
            layers.append((rects_path(*np.asarray(rects).T), no_pen, theme.color(side, alpha)))
        for side, rects in stacks.items():
            if rects:
                layers.append((rects_path(*np.asarray(rects).T), no_pen, theme.color(side)))
        if poc:
            layers.append((rects_path(*np.asarray(poc).T), pg.mkPen(theme.poc, width=1.5), None))
        for name, segs in wicks.items():
            if segs:
                layers.append((segments_path(*np.asarray(segs).T), pg.mkPen(getattr(theme, name), width=2), None))
        return layers

    def clear(self) -> None:
        self.prepareGeometryChange()
        self._layers, self._texts, self._bounds = [], [], QRectF()
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(self._bounds)

    def paint(self, painter: QPainter, *args: Any) -> None:
        for path, pen, brush in self._layers:
            painter.setPen(pen)
            painter.setBrush(brush if brush is not None else Qt.BrushStyle.NoBrush)
            painter.drawPath(path)
        theme = self._theme
        if theme is None or not self._texts:
            return
        transform = painter.transform()
        row_px = abs(transform.m22()) * self.row_size
        if row_px < TEXT_MIN_PX:
            return
        painter.save()
        painter.resetTransform()
        painter.setClipping(False)
        fg, muted, buy, sell = (QColor(theme.fg), QColor(theme.muted), QColor(theme.buy), QColor(theme.sell))
        if theme.name == "dark":  # imbalances stand out from the tinted cell behind them
            buy, sell = buy.lighter(135), sell.lighter(135)
        else:
            buy, sell = buy.darker(125), sell.darker(125)
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        left = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        centre = Qt.AlignmentFlag.AlignCenter
        for x, y, row, bid, ask, buy_imb, sell_imb in self._texts:
            cell = transform.mapRect(QRectF(x - CELL_HALF, y - row / 2, 2 * CELL_HALF, row))
            if cell.width() < 40:
                break  # columns too narrow for numbers (all are equally wide)
            mid, pad = cell.center().x(), 7.0
            bid_rect = QRectF(cell.left(), cell.top(), mid - pad - cell.left(), cell.height())
            ask_rect = QRectF(mid + pad, cell.top(), cell.right() - mid - pad, cell.height())
            painter.setPen(muted)
            painter.setFont(self._font)
            painter.drawText(QRectF(mid - pad, cell.top(), 2 * pad, cell.height()), centre, "\u00d7")
            painter.setFont(self._bold if sell_imb else self._font)
            painter.setPen(sell if sell_imb else fg)
            painter.drawText(bid_rect, right, bid)
            painter.setFont(self._bold if buy_imb else self._font)
            painter.setPen(buy if buy_imb else fg)
            painter.drawText(ask_rect, left, ask)
        painter.restore()
