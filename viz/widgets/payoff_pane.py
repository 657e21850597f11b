"""A user's combination beside the straddle: P&L at expiry if entered now, its live net premium, breakevens.

P&L at expiry over a grid of expiry prices (:func:`viz.models.strategy.price_grid`, every strike on it, so
the breakevens are exact) at the legs' last traded prices; the title says the net premium (a debit is
paid, a credit received), the best and worst P&L over the grid and the breakevens. Rupees throughout:
units are lots x lot size.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from viz.models import fmt
from viz.models.strategy import Strategy, breakevens, price_grid
from viz.widgets.paths import place_line, set_text
from viz.widgets.strike_bars import CompactAxis
from viz.widgets.theme import Theme, chart_view, style_plot

__all__ = ["PayoffPane"]


class PayoffPane:
    def __init__(self) -> None:
        self.chart = chart_view(pg.PlotWidget(axisItems={"left": CompactAxis(orientation="left")}))
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.widget = QWidget()
        lay = QVBoxLayout(self.widget)
        lay.setContentsMargins(0, 2, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.title)
        lay.addWidget(self.chart, 1)
        plot = self.plot = self.chart.getPlotItem()
        plot.hideButtons()
        plot.setLabel("left", "P&L at expiry (Rs)")
        plot.getAxis("left").enableAutoSIPrefix(False)
        plot.setLabel("bottom", "price of the underlying at expiry")
        self.curve = plot.plot()
        self.zero = pg.InfiniteLine(pos=0, angle=0, movable=False)
        plot.addItem(self.zero)
        self.future_line = pg.InfiniteLine(angle=90, movable=False)
        self.future_line.label = pg.InfLineLabel(self.future_line, text="", position=0.9, anchors=[(0, 0), (0, 0)])
        plot.addItem(self.future_line)
        self.breakeven_dots = pg.ScatterPlotItem(size=8, symbol="o")
        plot.addItem(self.breakeven_dots)
        self.breakevens: list[float] = []
        self._drawn: tuple[object, ...] = ()

    def on_theme(self, t: Theme) -> None:
        self.chart.setBackground(t.bg)
        style_plot(self.plot, t)
        self.title.setStyleSheet(f"color: {t.fg}; font-size: 12px;")
        self.curve.setPen(pg.mkPen(t.accent, width=2))
        self.zero.setPen(pg.mkPen(t.muted))
        self.future_line.setPen(pg.mkPen(t.poc, style=Qt.PenStyle.DashLine))
        self.future_line.label.setColor(t.poc)
        self.breakeven_dots.setBrush(pg.mkBrush(t.value_line))
        self._drawn = ()

    def paint(self, strategy: Strategy, future: float | None) -> None:
        premium = strategy.net_premium()
        key = (tuple(sorted(strategy.prices.items())), future, strategy.legs)
        if key == self._drawn:
            return
        self._drawn = key
        place_line(self.future_line, future, f"future {fmt.price(future)}")
        strikes = [leg.spec.strike for leg in strategy.legs]
        grid = price_grid(strikes + ([future] if future else []), pad=0.02, points=401)
        pnl = strategy.pnl(grid)
        if premium is None or pnl is None:
            self.curve.setData([], [])
            self.breakeven_dots.setData([], [])
            self.breakevens = []
            set_text(self.title, "waiting for a traded price of every leg")
            return
        self.curve.setData(grid, pnl)
        self.breakevens = breakevens(grid, pnl)
        self.breakeven_dots.setData(self.breakevens, [0.0] * len(self.breakevens))
        kind = "debit (paid)" if premium > 0 else "credit (received)"
        set_text(self.title, (
            f"live net premium <b>{fmt.qty(abs(premium))}</b> {kind} &middot; at expiry, over the chart: best "
            f"{fmt.qty(float(np.max(pnl)))}, worst {fmt.qty(float(np.min(pnl)))} &middot; breakevens "
            f"{', '.join(fmt.price(b, 0) for b in self.breakevens) or 'none'}"
        ))
