"""Window 3: tick chart, candles of N trades each (``dhan viz tick-chart``).

N is 10, 25, 50, 100, 200 or 500 trades per bar; the last bar is drawn faded with an outline while it
forms. Volume per bar (buy/sell/unclassified) is plotted underneath on the same bar axis, which is
labelled with each bar's first-trade time. The view follows the newest bars until the user pans or zooms
away, and follows again once the newest bar is back in view. Holes from the gap ledger are shaded bands
at the bars they fall in, or at the seam between two bars when no trade fell inside (see viz.models.gaps).
The session VWAP with its bands and the anchored VWAPs (double-click a bar) are drawn at each bar's close
(viz.widgets.vwap_overlay).
The Days control adds the previous sessions' bars before today's (the VWAPs stay today's), a dashed separator
at each session's start (viz.models.prior_sessions.DaysBars, viz.windows.prior_days).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QVBoxLayout, QWidget

from shared.settings import Settings
from viz.data.catalog import Instrument
from viz.data.prior import fetch_trade_bars
from viz.models import fmt
from viz.models.bars import TICKS_PER_BAR_CHOICES, Bars, TickBars
from viz.models.gaps import bar_slots, gap_bands
from viz.models.prior_sessions import DaysBars
from viz.models.vwap_track import bar_ends
from viz.widgets.blocks import BLOCK, BlockItems, block_sign, blocks_between
from viz.widgets.candles import BODY_WIDTH, IndexTimeAxis, candle_layers, volume_layers
from viz.widgets.controls import ChoiceBox, labelled
from viz.widgets.gap_bands import GapBands
from viz.widgets.paths import PathsItem, place_line, set_text
from viz.widgets.prior_marks import DayMarks
from viz.widgets.ranges import stick_view
from viz.widgets.theme import chart_view, style_plot
from viz.widgets.vwap_overlay import VwapLayer
from viz.windows.base import VizOptions
from viz.windows.price_base import PriceWindow, session_label
from viz.windows.prior_days import PriorDays

__all__ = ["TickChartWindow"]

VISIBLE_BARS = 120
CLIP_MARGIN = 40  # bars drawn beyond each edge of the view (panning a little needs no redraw)
FOLLOW_STEP = 12  # bars of room ahead of the newest one; the view jumps by this much, not one bar a time
FORMING_ALPHA = 110
SEAM_WIDTH = 1.0 - BODY_WIDTH  # a gap between two bars fills the room between their bodies


class TickChartWindow(PriceWindow):
    NAME = "tick-chart"
    TITLE = "Tick chart"

    def __init__(self, settings: Settings, options: VizOptions | None = None) -> None:
        super().__init__(settings, options)
        self.tick_bars = TickBars(self.ticks, int(self.recall("trades_per_bar", 100)))
        self.n_box = ChoiceBox([(f"{n} trades", n) for n in TICKS_PER_BAR_CHOICES])
        self.n_box.set_value(self.tick_bars.trades_per_bar)
        self.n_box.currentIndexChanged.connect(self._n_changed)
        self.toolbar.addWidget(labelled("Bar", self.n_box))
        self.days_bars = DaysBars()
        self._prior_n = 0  # the bar size the previous sessions are being loaded for
        self.prior_days = PriorDays(self, self._load_prior, self._prior_loaded)
        self.following = True
        self._bars: Bars | None = None

        self.chart = chart_view(pg.GraphicsLayoutWidget())
        self.time_axis = IndexTimeAxis(self._bar_times)
        self.price_plot = self.chart.addPlot(row=0, col=0)
        self.volume_plot = self.chart.addPlot(row=1, col=0, axisItems={"bottom": self.time_axis})
        self.chart.ci.layout.setRowStretchFactor(0, 4)
        self.chart.ci.layout.setRowStretchFactor(1, 1)
        self.volume_plot.setXLink(self.price_plot)
        self.price_plot.hideAxis("bottom")
        for plot in (self.price_plot, self.volume_plot):
            plot.showAxis("right")
            plot.hideAxis("left")
            plot.hideButtons()
        self.volume_plot.setMaximumHeight(180)
        # closed bars in blocks of cached pixmaps (viz.widgets.blocks): a bar close redraws the last block only,
        # and the forming bar's frames are blits
        self.closed_item, self.closed_vol = BlockItems(self.price_plot), BlockItems(self.volume_plot)
        self.forming_item, self.forming_vol = PathsItem(), PathsItem()
        self.price_plot.addItem(self.forming_item)
        self.volume_plot.addItem(self.forming_vol)
        self.gap_bands = GapBands(self.price_plot, self.volume_plot)
        self.day_marks = DayMarks(self.price_plot, self.volume_plot)
        self.ltp_line = pg.InfiniteLine(angle=0, movable=False)
        self.ltp_line.label = pg.InfLineLabel(self.ltp_line, text="", position=0.02, anchors=[(0, 1), (0, 1)])
        self.price_plot.addItem(self.ltp_line)
        self.price_plot.getViewBox().sigRangeChangedManually.connect(self._user_moved)
        self.price_plot.getViewBox().sigXRangeChanged.connect(
            lambda *_: self.mark_dirty()
        )  # clipped drawing follows the view
        self.volume_plot.getViewBox().sigRangeChangedManually.connect(self._user_moved)
        self.vwap = VwapLayer(self.price_plot, self.qs, self.NAME, self.mark_dirty, self._bar_span)
        self.toolbar.addWidget(self.vwap.button)
        self.finish_toolbar()

        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(8, 6, 8, 4)
        lay.addWidget(self.header)
        lay.addWidget(self.chart, 1)
        self.setCentralWidget(central)

    def _bar_times(self) -> Any:
        return self._bars.start_ts if self._bars is not None else np.zeros(0, np.int64)

    def _bar_span(self, x: float) -> tuple[int, int] | None:
        """First and last exchange time of the bar at chart position ``x`` (anchored VWAPs start there)."""
        i, bars = round(x), self._bars
        if bars is None or not 0 <= i < len(bars):
            return None
        return int(bars.start_ts[i]), int(bars.end_ts[i])

    def _n_changed(self, *_: object) -> None:
        n = int(self.n_box.value())
        self.tick_bars.set_trades_per_bar(n)
        self.remember("trades_per_bar", n)
        self.following = True
        self.prior_days.reload()  # the previous sessions' bars, made in MySQL for this N
        self.mark_dirty()

    async def _load_prior(self, pool: Any, inst: Instrument, days: list[date]) -> list[Bars]:
        n = self.tick_bars.trades_per_bar
        self._prior_n = n
        return [await fetch_trade_bars(pool, inst.seg, inst.sid, day, n) for day in days]

    def _prior_loaded(self, bars: list[Bars]) -> None:
        self.days_bars.set_prior(bars, self._prior_n)

    def _user_moved(self, *_: object) -> None:
        n = len(self._bars) if self._bars is not None else 0
        right = self.price_plot.getViewBox().viewRange()[0][1]
        self.following = right >= n - 1.5

    # --- data ---
    def on_instrument(self, instrument: Instrument) -> None:
        self.tick_bars = TickBars(self.ticks, self.tick_bars.trades_per_bar)
        self.days_bars.set_prior([], 0)
        self.following = True
        self.vwap.set_instrument(instrument.key, instrument.seg, instrument.tick_size, self.ticks)

    def on_reset(self) -> None:
        self.tick_bars = TickBars(self.ticks, self.tick_bars.trades_per_bar)
        self.following = True
        self.vwap.rebuild(self.ticks)
        self.prior_days.reload()

    def on_add(self, events: list[dict[str, Any]]) -> None:
        self.vwap.extend(self.ticks)

    # --- paint ---
    def on_theme(self) -> None:
        t = self.theme
        self.chart.setBackground(t.bg)
        for plot in (self.price_plot, self.volume_plot):
            style_plot(plot, t)
        self.ltp_line.setPen(pg.mkPen(t.accent, style=Qt.PenStyle.DotLine))
        self.ltp_line.label.setColor(t.accent)
        self.header.setStyleSheet(f"color: {t.fg}; font-size: 13px;")
        self.mark_dirty()  # the blocks' signatures hold the theme: all are drawn again
        self.vwap.set_theme(t)

    def paint_models(self) -> None:
        inst = self.instrument
        if inst is None:
            return
        bars = self.days_bars.bars(self.tick_bars)
        self._bars = bars
        n = len(bars)
        forming = self.tick_bars.forming
        closed = n - 1 if forming else n
        if self.following and n:
            self._follow(bars)
        (x_lo, x_hi), _ = self.price_plot.getViewBox().viewRange()
        first = max(0, min(closed, int(x_lo) - CLIP_MARGIN))  # clip to the view: only visible bars are drawn
        last = max(first, min(closed, int(x_hi) + CLIP_MARGIN))
        self._paint_closed(bars, first, last, closed)
        if forming:
            x = np.array([n - 1], dtype=np.float64)
            self.forming_item.set_layers(candle_layers(x, bars, self.theme, alpha=FORMING_ALPHA, start=n - 1))
            self.forming_vol.set_layers(volume_layers(x, bars, self.theme, alpha=FORMING_ALPHA, start=n - 1))
        else:
            self.forming_item.clear()
            self.forming_vol.clear()
        shown = n if last >= closed else last  # the forming bar too while it is in view
        p = n - len(self.tick_bars.bars())  # the previous sessions' bars: the VWAPs are today's
        lo = max(first, p)
        self.vwap.paint(np.arange(lo, max(lo, shown), dtype=np.float64), bar_ends(bars.count[p:])[lo - p : shown - p])
        self.gap_bands.set_bands(
            gap_bands(self.gaps, bar_slots(bars.start_ts, bars.end_ts), self.gaps_now, min_width=SEAM_WIDTH,
                      open_tail=FOLLOW_STEP),
            self.theme,
        )
        starts = self.days_bars.starts(self.tick_bars) if self.days_bars.shown(self.tick_bars) else []
        self.day_marks.set_marks([(k - 0.5, session_label(ts // 86_400)) for k, ts in starts], self.theme)
        dp = fmt.display_decimals(inst.tick_size)
        last_price = float(bars.close[-1]) if n else None
        place_line(self.ltp_line, last_price, f"LTP {fmt.price(last_price, dp)}")
        set_text(self.header, self._header_html(inst, bars, forming, dp))

    def _paint_closed(self, bars: Bars, first: int, last: int, closed: int) -> None:
        """The closed bars' blocks around the view; a block is drawn again only when what it shows changed."""
        context = (self.theme.name, BODY_WIDTH, self.tick_bars.trades_per_bar, self.days_bars.version)
        values = [bars.open, bars.high, bars.low, bars.close, bars.volume, bars.buy, bars.sell, bars.start_ts]
        spans = {k: (k * BLOCK, min(k * BLOCK + BLOCK, closed)) for k in blocks_between(first, last)}
        signs = {k: block_sign(context, values, a, b) for k, (a, b) in spans.items()}

        def part(k: int) -> tuple[Any, Bars]:
            a, b = spans[k]
            return np.arange(a, b, dtype=np.float64), _slice(bars, a, b)

        self.closed_item.show(signs, lambda k: candle_layers(*part(k), self.theme))
        self.closed_vol.show(signs, lambda k: volume_layers(*part(k), self.theme))

    def _follow(self, bars: Bars) -> None:
        """Keep the newest bars in view; ranges move in steps (see viz.widgets.ranges), not every frame."""
        n = len(bars)
        (x_lo, x_hi), _ = self.price_plot.getViewBox().viewRange()
        if not (x_lo <= n - VISIBLE_BARS + 1 and n + 0.5 <= x_hi <= n + FOLLOW_STEP + 1):
            self.price_plot.setXRange(n - VISIBLE_BARS - 0.5, n + FOLLOW_STEP, padding=0)
        (x_lo, x_hi), _ = self.price_plot.getViewBox().viewRange()
        lo_i = max(0, int(x_lo))
        stick_view(self.price_plot, y=(float(bars.low[lo_i:].min()), float(bars.high[lo_i:].max())), headroom=0.08)
        stick_view(self.volume_plot, y=(0.0, float(bars.volume[lo_i:].max())), y_floor=0.0)

    def _header_html(self, inst: Instrument, bars: Bars, forming: bool, dp: int) -> str:
        n_per = self.tick_bars.trades_per_bar
        head = f"<b>{inst.label}</b> &middot; {session_label(self.session_day)} &middot; {n_per}-trade bars"
        if not len(bars):
            return head + " &middot; no trades yet"
        t = self.theme
        i = len(bars) - 1
        colour = t.up if bars.close[i] >= bars.open[i] else t.down
        state = f"forming {int(bars.count[i])}/{n_per}" if forming else "complete"
        return (
            f"{head} &middot; {fmt.qty(len(bars))} bars &middot; {fmt.qty(len(self.ticks))} trades"
            f"<br>last bar ({state}, from {fmt.ist_time(int(bars.start_ts[i]))} IST): "
            f"<span style='color:{colour}'>O {fmt.price(bars.open[i], dp)} H {fmt.price(bars.high[i], dp)} "
            f"L {fmt.price(bars.low[i], dp)} C {fmt.price(bars.close[i], dp)}</span> &middot; "
            f"V {fmt.qty(int(bars.volume[i]))} (<span style='color:{t.buy}'>B {fmt.qty(int(bars.buy[i]))}</span> / "
            f"<span style='color:{t.sell}'>S {fmt.qty(int(bars.sell[i]))}</span>)"
            + ("" if self.following else " &middot; <i>paused following: scroll to the last bar to resume</i>")
        )


def _slice(bars: Bars, first: int, last: int) -> Bars:
    return Bars(*(getattr(bars, f)[first:last] for f in Bars.__dataclass_fields__))
