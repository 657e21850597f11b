"""Window: DOM ladder and liquidity heatmap of one instrument (``dhan viz depth``).

Left, the ladder of the newest book (20 levels a side from ``dhan:depth20``; 200 for the 200-level
instrument; the 5-level depth of the main feed when the 20-level feed is off), with size bars and the
last trade marked. Right, the heatmap: time across, price up, the resting size of each sampled book as
colour (square-root scale, so thin levels still show next to thick ones), the best bid and ask as lines,
and the trades as bubbles (one per time bin and side, area by quantity, green buys, red sells, grey
unclassified). History comes from MySQL (``dhan_depth20_history`` and ``dhan_ticks``), then the streams,
through the same seam as the other windows (viz.data.books, viz.data.sources). The heatmap follows the
newest column in steps of a tenth of its span, and shows the prices the touch visited lately.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF
from PyQt6.QtWidgets import QHBoxLayout, QVBoxLayout, QWidget

from shared.settings import Settings
from viz.data.books import BookSource
from viz.data.catalog import Instrument
from viz.models import fmt
from viz.models.depth_view import DepthView
from viz.models.heat_colours import HeatFrame
from viz.models.ladder import Book
from viz.models.liquidity import focus_range, trade_bubbles
from viz.models.ticks import SIDE_BUY, SIDE_NONE, SIDE_SELL
from viz.widgets.controls import ChoiceBox, labelled
from viz.widgets.ladder import LadderWidget, LastTrade
from viz.widgets.paths import set_text
from viz.widgets.ranges import sticky_range
from viz.widgets.theme import cache_item, chart_view, style_plot
from viz.windows.base import VizOptions
from viz.windows.price_base import PriceWindow

__all__ = ["SPANS", "DepthLadderWindow"]

# span of the heatmap -> column width: 600 columns at most, never finer than the 1 s default sampling
SPANS = ((5 * 60, 1.0), (10 * 60, 1.0), (30 * 60, 3.0), (60 * 60, 6.0))
FOLLOW_FRACTION = 0.1
FOCUS_S = 45.0  # the heatmap's prices: where the touch went in the last 45 seconds ...
FOCUS_PAD_TICKS = 25  # ... and a 20-level book's depth beyond
BUBBLE_STEPS = 8
BUBBLE_BINS = 150  # trades are summed into this many time bins across the span, a bubble per bin and side
BUBBLE_PX = 18.0  # bubble sizes are rounded to this many steps (fewer distinct sprites to draw)
_FEEDS = {5: "5-level depth (the 20-level feed is off for it)", 20: "20-level depth", 200: "200-level depth"}


class DepthLadderWindow(PriceWindow):
    NAME = "depth"
    TITLE = "Depth ladder"

    def __init__(self, settings: Settings, options: VizOptions | None = None) -> None:
        super().__init__(settings, options)
        self.span_box = ChoiceBox([(f"{s // 60} min", s) for s, _ in SPANS])
        self.span_box.set_value(int(self.recall("span_s", 10 * 60)))
        self.span_box.currentIndexChanged.connect(self._span_changed)
        self.toolbar.addWidget(labelled("Heatmap", self.span_box))
        self.finish_toolbar()
        self.view: DepthView | None = None
        self.books_source: BookSource | None = None
        self._books_ready = False
        self._ticks_ready = False
        self._drawn: tuple[Any, ...] = ()  # (heat version, trades, span) last drawn into the chart
        self._x_range: tuple[float, float] | None = None
        self._bubbles_shown: dict[int, tuple[Any, ...]] = {}  # side code -> (x, y, size) last given to its item

        self.ladder = LadderWidget()
        self.chart = chart_view(pg.GraphicsLayoutWidget())
        self.plot = self.chart.addPlot(row=0, col=0, axisItems={"bottom": cache_item(pg.DateAxisItem(utcOffset=0))})
        self.plot.showAxis("right")
        self.plot.hideAxis("left")
        self.plot.hideButtons()
        self.plot.setMouseEnabled(x=True, y=True)
        self.plot.enableAutoRange(False)  # the window places the ranges (_follow)
        self.image = pg.ImageItem(axisOrder="row-major")  # HeatFrame.index.T: [price row, column], contiguous
        self._cmap = pg.colormap.get("inferno")
        self.plot.addItem(self.image)
        self.bid_line = pg.PlotCurveItem(connect="finite")
        self.ask_line = pg.PlotCurveItem(connect="finite")
        self.plot.addItem(self.bid_line)
        self.plot.addItem(self.ask_line)
        self.bubbles = {code: pg.ScatterPlotItem(pxMode=True) for code in (SIDE_NONE, SIDE_BUY, SIDE_SELL)}
        for item in self.bubbles.values():
            self.plot.addItem(item)

        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(8, 6, 8, 4)
        lay.addWidget(self.header)
        row = QHBoxLayout()
        row.addWidget(self.ladder, 0)
        row.addWidget(self.chart, 1)
        lay.addLayout(row, 1)
        self.setCentralWidget(central)

    # --- controls ---
    def _span(self) -> tuple[int, float]:
        span = int(self.span_box.value())
        return next(((s, c) for s, c in SPANS if s == span), SPANS[1])

    def _span_changed(self, *_: object) -> None:
        self.remember("span_s", self._span()[0])
        if self.instrument is not None:
            self.on_instrument(self.instrument)  # reload the books for the new span

    # --- data ---
    def on_instrument(self, instrument: Instrument) -> None:
        span_s, col_s = self._span()
        self.view = DepthView(instrument.tick_size or 0.05, col_s=col_s, cols=int(span_s / col_s),
                              ladder_rows=self.ladder.rows_fit())  # fmt: skip
        self._books_ready = False
        self._drawn = ()
        self._x_range = None
        self.books_source = BookSource(self.link, self.keys, instrument, self, self.status_model,
                                       span_s=lambda: float(self._span()[0]))  # fmt: skip
        self.spawn(self.books_source.run, "books")
        self.mark_dirty()

    def reset_books(self, books: list[Book]) -> None:
        if self.view is None:
            return
        self.view.reset(books)
        self._books_ready = True
        if self._ticks_ready:
            super().mark_loaded()
        self.mark_dirty()

    def add_books(self, books: list[Book]) -> None:
        if self.view is None:
            return
        for book in books:
            self.view.add(book)
        self.mark_dirty()

    def on_reset(self) -> None:
        self._drawn = ()
        self._ticks_ready = True

    def mark_loaded(self) -> None:
        """Loaded once both the trades and the books are in (screenshots wait for it)."""
        if self._books_ready:
            super().mark_loaded()
        else:
            self.mark_dirty()

    # --- paint ---
    def on_theme(self) -> None:
        t = self.theme
        self.chart.setBackground(t.bg)
        # inferno without its darkest fifth, so the thinnest level still shows; no resting size is the
        # background colour. Opaque on purpose: an image without alpha draws in a third of the time.
        lut = self._cmap.getLookupTable(start=0.2, stop=1.0, nPts=256, alpha=False)
        bg = pg.mkColor(t.bg)
        lut[0] = (bg.red(), bg.green(), bg.blue())
        self.image.setLookupTable(lut)
        style_plot(self.plot, t)
        self.plot.showGrid(x=True, y=True, alpha=0.08)
        self.bid_line.setPen(pg.mkPen(t.up, width=1.5))
        self.ask_line.setPen(pg.mkPen(t.down, width=1.5))
        for code, colour in ((SIDE_NONE, t.neutral), (SIDE_BUY, t.buy), (SIDE_SELL, t.sell)):
            fill = pg.mkColor(colour)
            fill.setAlpha(190)
            self.bubbles[code].setBrush(pg.mkBrush(fill))
            self.bubbles[code].setPen(pg.mkPen(t.bg, width=1.0))
        self.header.setStyleSheet(f"color: {t.fg}; font-size: 13px;")
        self._drawn = ()

    def paint_models(self) -> None:
        inst, view = self.instrument, self.view
        if inst is None or view is None:
            return
        if view.ladder.n_rows != self.ladder.rows_fit():
            view.ladder.resize(self.ladder.rows_fit())
        ticks = self.ticks
        last = None
        if len(ticks):
            last = LastTrade(float(ticks.price[-1]), int(ticks.qty[-1]), int(ticks.side[-1]))
        dp = fmt.display_decimals(inst.tick_size)
        self.ladder.set_state(view.ladder_rows(last.price if last else None), dp, last, self.theme)
        # the heatmap changes once a column (col_s); the trades' bubbles are redrawn with it, not per trade
        key = (view.liquidity.version, self.session_day)
        if key != self._drawn:
            self._drawn = key
            self._paint_heat(view)
        set_text(self.header, self._header_html(inst, view, last, dp))

    def _paint_heat(self, view: DepthView) -> None:
        _, y_range = self.plot.getViewBox().viewRange()
        heat = view.colours.frame((y_range[0], y_range[1]))  # only the rows in view are drawn
        if heat is None:
            self.image.clear()
            for line in (self.bid_line, self.ask_line):
                line.setData([], [])
            self._paint_bubbles(None)
            return
        if self._follow(heat):
            _, y_range = self.plot.getViewBox().viewRange()
            heat = view.colours.frame((y_range[0], y_range[1]))
            assert heat is not None
        self.image.setImage(heat.index.T, autoLevels=False, levels=(0, 255))
        self.image.setRect(QRectF(heat.t0, (heat.tick_lo - 0.5) * heat.tick, heat.index.shape[0] * heat.col_s,
                                  heat.index.shape[1] * heat.tick))  # fmt: skip
        x = heat.x
        self.bid_line.setData(x, heat.best_bid)
        self.ask_line.setData(x, heat.best_ask)
        self._paint_bubbles(heat)

    def _paint_bubbles(self, heat: HeatFrame | None) -> None:
        """The trades' bubbles over the heatmap's columns; an item whose points did not change is left alone
        (most columns only change the newest bubble of each side)."""
        points: dict[int, tuple[Any, ...]] = {code: ((), (), ()) for code in self.bubbles}
        if heat is not None and self.view is not None:
            liq, ticks = self.view.liquidity, self.ticks
            bin_s = liq.col_s * max(1, round(liq.cols / BUBBLE_BINS))
            b = trade_bubbles(ticks.exchange_ts, ticks.price, ticks.qty, ticks.side, heat.t0, bin_s,
                              int(np.ceil(heat.index.shape[0] * heat.col_s / bin_s)), max_px=BUBBLE_PX)  # fmt: skip
            step = b.size.max(initial=1.0) / BUBBLE_STEPS
            size = np.ceil(b.size / step) * step
            for code in self.bubbles:
                pick = b.side == code
                points[code] = (b.x[pick], b.y[pick], size[pick])
        for code, item in self.bubbles.items():
            x, y, size = points[code]
            shown = self._bubbles_shown.get(code)
            if shown is not None and all(np.array_equal(a, b) for a, b in zip(shown, points[code], strict=True)):
                continue
            self._bubbles_shown[code] = points[code]
            item.setData(x=x, y=y, size=size)

    def _follow(self, heat: HeatFrame) -> bool:
        """Newest column in view; the x range moves in steps of a tenth of the span, y when the recent touch
        leaves it (:func:`viz.models.liquidity.focus_range`). True when the y range moved."""
        right = heat.t0 + heat.index.shape[0] * heat.col_s
        span_s = float(self._span()[0])
        step = span_s * FOLLOW_FRACTION
        current = self._x_range
        if current is None or not (current[0] <= right - span_s + step and right <= current[1]):
            self._x_range = (right - span_s + step, right + step)
            self.plot.setXRange(*self._x_range, padding=0)
        focus = focus_range(heat, int(FOCUS_S / heat.col_s), FOCUS_PAD_TICKS)
        if focus is None:
            return False
        _, (y_lo, y_hi) = self.plot.getViewBox().viewRange()
        y = sticky_range((y_lo, y_hi), *focus, headroom=0.05, slack=1.6)
        if y is not None:
            self.plot.setYRange(*y, padding=0)
        return y is not None

    def _header_html(self, inst: Instrument, view: DepthView, last: LastTrade | None, dp: int) -> str:
        t = self.theme
        head = f"<b>{inst.label}</b> &middot; {_FEEDS.get(view.levels or 0, 'no book yet')}"
        book = view.book
        if book is None:
            return head + " &middot; waiting for a book"
        bb, ba = book.best_bid, book.best_ask
        spread = fmt.price(ba - bb, dp) if bb is not None and ba is not None else "-"
        bid_total, ask_total = int(book.bid_qty.sum()), int(book.ask_qty.sum())
        text = (
            f"{head} &middot; book at {fmt.ist_time(int(book.t))} IST"
            f"<br><span style='color:{t.up}'>bid {fmt.price(bb, dp)}</span> / "
            f"<span style='color:{t.down}'>ask {fmt.price(ba, dp)}</span> &middot; spread {spread} &middot; "
            f"resting bid {fmt.qty(bid_total)} / ask {fmt.qty(ask_total)} "
            f"in {len(book.bid_px)}+{len(book.ask_px)} levels"
        )
        if last is not None:
            colour = t.buy if last.side == SIDE_BUY else t.sell if last.side == SIDE_SELL else t.neutral
            text += (f" &middot; last <span style='color:{colour}'>{fmt.price(last.price, dp)} "
                     f"&times; {fmt.qty(last.qty)}</span>")  # fmt: skip
        return text
