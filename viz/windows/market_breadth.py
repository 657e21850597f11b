"""Window 2: market breadth of the NIFTY 50 (``dhan viz market-breadth``).

Advances, declines and unchanged against each stock's previous close, the A/D ratio, the intraday A/D
line (net advances per minute, with advances and declines) and a heatmap of the 50 stocks by % change.
The basket is the feed's universe members with role ``equity`` (the NIFTY 50 constituents it subscribes).
History: previous closes and latest prices from ``dhan_quotes``, the line from each stock's last trade per
minute in ``dhan_ticks``; then quotes live from the stream (from the writer's position, see ``seam``).
The feed's outages and stalls from the gap ledger are shaded bands on the A/D line's time axis (the line's
day) and summed up in the status line (today's).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import aiomysql
import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from shared.clock import day_bounds, ist_trading_day
from shared.gaps import Gap, all_gaps_between
from shared.settings import Settings
from viz.data import history
from viz.data.live import read_universe
from viz.data.sources import LatestSource
from viz.models.breadth import Breadth
from viz.models.gaps import gap_bands, gap_summary, span_slots
from viz.widgets.controls import ChoiceBox, labelled
from viz.widgets.gap_bands import GapBands
from viz.widgets.heatmap import BreadthBar, Heatmap
from viz.widgets.ranges import stick_view
from viz.widgets.theme import chart_view, style_plot
from viz.windows.base import Routine, VizOptions, VizWindow

__all__ = ["MarketBreadthWindow"]

UNIVERSE_RETRY_S = 2.0
GAPS_REFRESH_S = 5.0
MINUTE_S = 60
SEAM_WIDTH_S = 90.0  # a gap shorter than this is widened to it (about 4 px across a session's line)


def _exchange_day(exchange_ts: int) -> date:
    """The IST calendar day of a Dhan exchange time (IST wall clock counted as epoch)."""
    return date(1970, 1, 1) + timedelta(days=exchange_ts // 86_400)


class MarketBreadthWindow(VizWindow):
    NAME = "market-breadth"
    TITLE = "Market breadth - NIFTY 50"

    def __init__(self, settings: Settings, options: VizOptions | None = None) -> None:
        super().__init__(settings, options)
        self.breadth = Breadth()
        self._line_drawn: tuple[Breadth, int] | None = None  # (model, line version) the curves show
        self.gaps: list[Gap] = []  # the whole feed's, on the A/D line's day
        self.gaps_now = self.clock()
        self.sort_box = ChoiceBox([("% change", "change"), ("symbol", "symbol")])
        self.sort_box.set_value(str(self.recall("sort", "change")))
        self.sort_box.currentIndexChanged.connect(self._sort_changed)
        self.toolbar.addWidget(labelled("Heatmap order", self.sort_box))
        self.finish_toolbar()

        self.header = QLabel("waiting for the feed's NIFTY 50 list")
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setWordWrap(True)  # a long header wraps instead of widening the window
        self.bar = BreadthBar()
        self.plot_widget = chart_view(
            pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(orientation="bottom", utcOffset=0)})
        )
        self.plot = self.plot_widget.getPlotItem()
        self.plot.hideButtons()
        # the view follows the line by sticky ranges (viz.widgets.ranges), not auto-range: a re-fit re-renders both
        # axes, and auto-range re-fitted on every change of the line; a pan or zoom of the user's stops it
        self.plot.enableAutoRange(enable=False)
        self._user_view = False
        self.plot.getViewBox().sigRangeChangedManually.connect(self._user_zoomed)
        self.plot.showAxis("right")
        self.plot.setLabel("left", "stocks")
        self.plot.addLegend(offset=(10, 5))
        self.net_curve = self.plot.plot(name="net advances (A - D)")
        self.adv_curve = self.plot.plot(name="advances")
        self.dec_curve = self.plot.plot(name="declines")
        self.zero = pg.InfiniteLine(pos=0, angle=0, movable=False)
        self.plot.addItem(self.zero)
        self.gap_bands = GapBands(self.plot)
        self.heatmap = Heatmap()
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.plot_widget)
        split.addWidget(self.heatmap)
        split.setSizes([320, 380])
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(8, 6, 8, 4)
        lay.addWidget(self.header)
        lay.addWidget(self.bar)
        lay.addWidget(split, 1)
        self.setCentralWidget(central)

    def _user_zoomed(self, *_: object) -> None:
        self._user_view = True  # the user's pan or zoom stays until the window is reopened

    def _sort_changed(self, *_: object) -> None:
        self.remember("sort", self.sort_box.value())
        self.mark_dirty()

    # --- data ---
    def data_routines(self) -> dict[str, Routine]:
        return {"breadth": self._breadth_routine, "gaps": self._gaps_routine}

    async def _gaps_routine(self) -> None:
        """Every few seconds, the whole feed's holes from the gap ledger (outages and stalls, shared.gaps)."""
        while True:
            pool = await self.link.pool()
            now = self.clock()
            today = ist_trading_day(now)
            minutes = self.breadth.minutes
            shown = today if not minutes else _exchange_day(minutes[-1])
            midnight, _ = bounds = day_bounds(today)
            todays = await all_gaps_between(pool, *bounds, feed_only=True)
            gaps = todays if shown == today else await all_gaps_between(pool, *day_bounds(shown), feed_only=True)
            self.status_model.gaps = gap_summary(todays, now, since=midnight)
            if gaps != self.gaps or any(g.end_ts is None for g in gaps):
                self.gaps, self.gaps_now = gaps, now
                self.mark_dirty()
            await asyncio.sleep(GAPS_REFRESH_S)

    async def _breadth_routine(self) -> None:
        while True:
            redis = await self.link.redis()
            universe = await read_universe(redis, self.keys)
            stocks = [i for i in universe.values() if i.role == "equity"]
            if stocks:
                break
            self.status_model.note = "no NIFTY 50 stocks in the feed's universe yet (start the feed)"
            await asyncio.sleep(UNIVERSE_RETRY_S)
        self.breadth = Breadth()
        for inst in stocks:
            self.breadth.add_stock(inst.key, inst.symbol, inst.tick_size)
        pairs = [(i.seg, i.sid) for i in stocks]
        source = LatestSource(
            self.link,
            self.keys,
            ["quotes"],
            lambda pool: self._load(pool, pairs),
            self._apply,
            self.status_model,
            wants=self.breadth.stocks.__contains__,
            on_loaded=self.mark_loaded,
        )
        await source.run()

    async def _load(self, pool: aiomysql.Pool, pairs: list[tuple[str, int]]) -> Mapping[str, Mapping[str, Any]]:
        quotes = await history.fetch_quotes(pool, pairs)
        for key, q in quotes.items():
            self.breadth.update(key, prev_close=q.get("prev_close") or q.get("close"))
        days = [int(q["exchange_ts"]) for q in quotes.values() if q.get("exchange_ts")]
        if days:
            day = _exchange_day(max(days))
            self.breadth.replay_minutes(await history.fetch_breadth_minutes(pool, pairs, day))
        return {"quotes": quotes}

    def _apply(self, kind: str, key: str, q: dict[str, Any], live: bool) -> None:
        self.breadth.update(
            key, ltp=q.get("ltp"), prev_close=q.get("prev_close") or q.get("close"), exchange_ts=q.get("exchange_ts")
        )
        self.mark_dirty()

    # --- paint ---
    def on_theme(self) -> None:
        t = self.theme
        self.plot_widget.setBackground(t.bg)
        style_plot(self.plot, t)
        self.net_curve.setPen(pg.mkPen(t.accent, width=2))
        self.adv_curve.setPen(pg.mkPen(t.up, width=1))
        self.dec_curve.setPen(pg.mkPen(t.down, width=1))
        self.zero.setPen(pg.mkPen(t.muted, style=Qt.PenStyle.DashLine))
        self.heatmap.theme = t
        self.bar.theme = t
        self.header.setStyleSheet(f"color: {t.fg}; font-size: 15px;")

    def paint_models(self) -> None:
        b = self.breadth
        c = b.counts()
        t = self.theme
        ratio = "-" if c.ratio is None else f"{c.ratio:.2f}"
        if c.ratio is None and c.advances:
            ratio = "all up"
        self.header.setText(
            f"<b>NIFTY 50</b> &nbsp; <span style='color:{t.up}'>Advances <b>{c.advances}</b></span> &nbsp; "
            f"<span style='color:{t.down}'>Declines <b>{c.declines}</b></span> &nbsp; "
            f"Unchanged <b>{c.unchanged}</b> &nbsp; A/D ratio <b>{ratio}</b> &nbsp; "
            f"net <b>{c.net:+d}</b>"
            + (f" &nbsp; <span style='color:{t.muted}'>not traded {c.not_traded}</span>" if c.not_traded else "")
        )
        self.bar.set_counts(c)
        x, net = b.line()
        xs = x.astype(np.float64)
        drawn = self._line_drawn
        if drawn is None or drawn[0] is not b or drawn[1] != b.line_version:
            # most quotes move no stock across its previous close: the line, and so the chart, stay as they are
            self._line_drawn = (b, b.line_version)
            self.net_curve.setData(xs, net.astype(np.float64))
            self.adv_curve.setData(xs, np.asarray(b.advances_line, np.float64))
            self.dec_curve.setData(xs, np.asarray(b.declines_line, np.float64))
            if len(xs) and not self._user_view:
                low = min(0.0, float(net.min()))
                top = max(low + 1.0, max(b.advances_line), max(b.declines_line), float(net.max()))
                stick_view(self.plot, x=(float(xs[0]), float(xs[-1]) + MINUTE_S), y=(low, top))
        bands = []
        if len(xs):  # the line spans its first minute to the end of its last
            slots = span_slots(float(xs[0]), float(xs[-1]) + MINUTE_S)
            bands = gap_bands(self.gaps, slots, self.gaps_now, min_width=SEAM_WIDTH_S)
        self.gap_bands.set_bands(bands, self.theme)
        stocks = (
            b.by_change() if self.sort_box.value() == "change" else sorted(b.stocks.values(), key=lambda s: s.symbol)
        )
        self.heatmap.set_stocks(stocks)
