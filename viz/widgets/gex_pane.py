"""The option chain's GEX pane: gamma exposure by strike, net GEX and the zero-gamma level.

The chain's own state (each contract's OI from quotes, gamma and IV from the greeks service, the future's
price) is copied into a :class:`viz.models.gex.GexModel` when the pane is painted, so the pane keeps no
second copy of the streams. Bars: net GEX of each strike (call + put), green above zero, red below.
Lines: the future, and the zero-gamma level (solved again at most every ``ZERO_GAMMA_S``: it recomputes every
gamma over a grid of prices, the pane's one costly step). The sign convention is on screen (the title) and in the
tooltip: dealers long the calls and short the puts the public holds (:mod:`viz.models.gex`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from viz.models import fmt
from viz.models.chain import ChainModel
from viz.models.contracts import OptionSpec
from viz.models.gex import GexModel, GexProfile
from viz.widgets.paths import place_line, set_text
from viz.widgets.ranges import stick_view
from viz.widgets.strike_bars import CompactAxis, StrikeBars
from viz.widgets.theme import Theme, chart_view, style_plot

__all__ = ["SIGN_CONVENTION", "ZERO_GAMMA_S", "GexPane"]

ZERO_GAMMA_S = 5.0  # the zero-gamma level is solved again at most this often (every gamma over a price grid)

SIGN_CONVENTION = (
    "GEX = sign x gamma x OI x F^2 x 1%, rupees per 1% move of the future F; OI in units (lots x lot size).\n"
    "Sign: dealers long calls, short puts (customers sell calls, buy puts): calls +, puts -.\n"
    "Net GEX > 0: dealers' hedging damps moves; < 0: it follows them.\n"
    "Zero gamma: the future price where net GEX, every gamma recomputed there (Black-76, IVs held), is 0."
)


class GexPane:
    """A plot of GEX by strike for one chain; :meth:`paint` recomputes from the chain."""

    def __init__(self) -> None:
        self.chart = chart_view(pg.PlotWidget(axisItems={"left": CompactAxis(orientation="left")}))
        self.title = QLabel()  # a label, not the plot's title: re-laying out the plot item costs a frame
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.widget = QWidget()
        self.widget.setToolTip(SIGN_CONVENTION)
        lay = QVBoxLayout(self.widget)
        lay.setContentsMargins(0, 2, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.title)
        lay.addWidget(self.chart, 1)
        self.plot = self.chart.getPlotItem()
        self.plot.hideButtons()
        self.plot.disableAutoRange()  # sticky ranges (paint)
        self.plot.setLabel("left", "GEX (Rs / 1% move)")
        self.plot.getAxis("left").enableAutoSIPrefix(False)  # CompactAxis writes Cr and L itself
        self.plot.setLabel("bottom", "strike")
        self.bars = StrikeBars(self.plot)
        self.zero = pg.InfiniteLine(pos=0, angle=0, movable=False)
        self.plot.addItem(self.zero)
        self.spot_line = self._line(0.92)
        self.flip_line = self._line(0.78)
        self.model: GexModel | None = None
        self.profile: GexProfile | None = None
        self.zero_gamma: float | None = None
        self._zero_at = -math.inf  # monotonic time the zero-gamma level was last solved

    def _line(self, position: float) -> pg.InfiniteLine:
        line = pg.InfiniteLine(angle=90, movable=False)
        line.label = pg.InfLineLabel(line, text="", position=position, anchors=[(0, 0), (0, 0)])
        self.plot.addItem(line)
        return line

    def set_contracts(self, specs: Sequence[OptionSpec]) -> None:
        self.model = GexModel(specs)
        self.profile, self.zero_gamma, self._zero_at = None, None, -math.inf

    def on_theme(self, t: Theme) -> None:
        self.chart.setBackground(t.bg)
        self.title.setStyleSheet(f"color: {t.muted}; font-size: 12px;")
        style_plot(self.plot, t)
        self.bars.set_colours(t.up, t.down)
        self.zero.setPen(pg.mkPen(t.muted))
        self.spot_line.setPen(pg.mkPen(t.poc, style=Qt.PenStyle.DashLine))
        self.spot_line.label.setColor(t.poc)
        self.flip_line.setPen(pg.mkPen(t.accent, width=2))
        self.flip_line.label.setColor(t.accent)
        self.theme = t

    def _load(self, chain: ChainModel) -> GexModel | None:
        """The chain's OI, gamma, IV and future price into the model (NaN where unknown)."""
        model = self.model
        if model is None:
            return None
        for key, i in model.index.items():
            side = chain.sides.get(key)
            oi, gamma, iv = (None, None, None) if side is None else (side.oi, side.gamma, side.iv)
            model.oi[i] = np.nan if oi is None else oi
            model.gamma[i] = np.nan if gamma is None else gamma
            model.iv[i] = np.nan if iv is None else iv
        if chain.underlying_price:
            model.underlying = chain.underlying_price
        return model

    def paint(self, chain: ChainModel, now_utc: float) -> None:
        model = self._load(chain)
        profile = model.profile() if model is not None else None
        self.profile = profile
        if model is None or profile is None or not len(profile.strikes):
            self.bars.set_data(np.zeros(0), np.zeros(0))
            self._set_title("GEX: waiting for the future's price and the greeks")
            return
        mono = time.monotonic()
        if mono - self._zero_at >= ZERO_GAMMA_S:  # a level a trader reads slowly; the curve is the costly part
            self._zero_at, self.zero_gamma = mono, model.zero_gamma(now_utc)
        self.bars.set_data(profile.strikes, profile.net_by_strike)
        place_line(self.spot_line, profile.underlying, f"future {fmt.price(profile.underlying)}")
        place_line(self.flip_line, self.zero_gamma, f"zero gamma {fmt.price(self.zero_gamma, 0)}")
        ys = np.concatenate((profile.net_by_strike, [0.0]))
        k = profile.strikes
        pad = (k[-1] - k[0]) * 0.03 + 1
        stick_view(self.plot, x=(k[0] - pad, k[-1] + pad), headroom=0.0)
        stick_view(self.plot, y=(float(ys.min()), float(ys.max())), headroom=0.15)
        n = profile.missing
        missing = f" &middot; {n} contract{'s' if n != 1 else ''} without OI or gamma left out" if n else ""
        zg = self.zero_gamma
        off = " (off the strikes shown)" if zg is not None and not k[0] - pad <= zg <= k[-1] + pad else ""
        self._set_title(
            f"net GEX <b>{fmt.compact(profile.net)}</b> per 1% &middot; zero gamma <b>{fmt.price(zg, 0)}</b>{off}"
            f" &middot; sign: dealers long calls (+), short puts (-){missing}"
        )

    def _set_title(self, text: str) -> None:
        set_text(self.title, text)
