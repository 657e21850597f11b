"""OI analytics of one option chain (``dhan viz oi``): change from the previous close, totals, PCR, max pain.

Top: change in OI since the previous session's close by strike, calls (left bar) and puts (right bar),
with the ATM strike and the future marked. Below it the total OI by strike with max pain marked, then the
day so far: PCR by OI and by volume, and max pain, one point a minute. Right: each strike's build-up
(long/short build-up, short covering, long unwinding) from its premium change against its OI change.

The base of every change is our own closing OI of the previous session (``dhan_oi_close``, written by the
writer), else the exchange's previous-day OI from the quote (counted in the header), never the first OI of
today (:mod:`viz.models.oi`). Units: quantity (what Dhan sends, shares or index units) or lots, which is
contracts on NSE (lot size from the instrument master, via the feed's universe).

History: the previous closes, the day's stored trades of every contract reduced to one per minute (each
carries the contract's OI and day volume: the over-the-day lines), then the latest stored quotes, then the
quotes stream from the writer's position (viz/data/seam.py). Painted at most ``PAINT_HZ`` times a second.
"""

from __future__ import annotations

import math
import time
from typing import Any

import aiomysql
import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import QHeaderView, QLabel, QSplitter, QTableView, QVBoxLayout, QWidget

from shared.clock import ist_trading_day
from shared.settings import Settings
from viz.data import history
from viz.data.seam import date_day
from viz.data.sources import LatestSource
from viz.models import fmt, values
from viz.models.oi import BuildUp, OiChainModel, OiTable, OiUnit
from viz.models.oi_day import OiDay, replay_minutes
from viz.widgets.controls import ChoiceBox, labelled
from viz.widgets.paths import place_line, set_text
from viz.widgets.ranges import stick_view
from viz.widgets.rows_table import Row, RowsTableModel
from viz.widgets.strike_bars import CompactAxis, StrikeBars, strike_step
from viz.widgets.tables import DataTable
from viz.widgets.theme import chart_view, style_plot
from viz.windows.base import Routine, VizOptions, VizWindow
from viz.windows.chain_pick import ChainChoice, ChainPicker

__all__ = ["BUILDUP_TEXT", "OiWindow"]

DAY_MIN_SPAN_S = 1800
PAINT_HZ = 5  # bars of a few dozen strikes and lines by the minute: 5 Hz reads live
BUILDUP_TEXT: dict[BuildUp | None, str] = {
    "long_buildup": "long build-up", "short_buildup": "short build-up", "short_covering": "short covering",
    "long_unwinding": "long unwinding", "neutral": "neutral", None: "-",
}
BUILDUP_COLOUR = {"long_buildup": "up", "short_covering": "up", "short_buildup": "down", "long_unwinding": "down"}
COLUMNS = ("CE build-up", "CE OI", "CE chg", "CE chg %", "Strike", "PE chg %", "PE chg", "PE OI", "PE build-up")


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _change(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:+,.0f}"


class OiWindow(VizWindow):
    NAME = "oi"
    TITLE = "OI analytics"

    def __init__(self, settings: Settings, options: VizOptions | None = None) -> None:
        super().__init__(settings, options)
        self.model = OiChainModel()
        self.day = OiDay()
        self.future_key = ""
        self.future_price: float | None = None
        self._day = 0  # the session shown, as Dhan's exchange_ts // 86400
        self.market_ts = 0  # latest exchange time seen in the chain's quotes (the day's clock, from the data)
        self._painted = (-1, "")
        self._painted_at = -math.inf
        self._scrolled_atm: float | None = None
        self._fitted = (0,) * len(COLUMNS)  # the longest text (characters) each column was fitted to
        self._part, self._paint_all = 0, True  # the next part of the round; paint every part at once
        self._parts = (self._paint_change, self._paint_total, self._paint_day, self._paint_grid)
        self._snap: tuple[OiTable, float | None, float | None] = (OiChainModel().table(), None, None)
        self.picker = ChainPicker(self, self._chain_chosen)
        self.unit_box = ChoiceBox([("quantity", "quantity"), ("lots (contracts)", "lots")])
        self.unit_box.set_value(str(self.recall("unit", "quantity")))
        self.unit_box.setToolTip("OI as Dhan sends it (quantity of the underlying) or in lots: one NSE contract "
                                 "is one lot")
        self.unit_box.currentIndexChanged.connect(self._unit_changed)
        self.toolbar.addWidget(labelled("OI in", self.unit_box))
        self.finish_toolbar()

        self.header = QLabel("waiting for the feed's options")
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setWordWrap(True)
        self.change_plot, self.change_bars, self.change_lines = self._strike_plot("change in OI since previous close")
        self.total_plot, self.total_bars, self.total_lines = self._strike_plot("total OI")
        self.pain_line = pg.InfiniteLine(angle=90, movable=False)
        self.pain_line.label = pg.InfLineLabel(self.pain_line, text="", position=0.69, anchors=[(0, 0), (0, 0)])
        self.total_plot.getPlotItem().addItem(self.pain_line)
        self.day_plot, self.pain_plot = self._day_plots()
        self.table = self._buildup_table()
        self._layout()

    # --- widgets ---
    def _strike_plot(self, title: str) -> tuple[pg.PlotWidget, StrikeBars, tuple[Any, Any]]:
        widget = chart_view(pg.PlotWidget(axisItems={"left": CompactAxis(orientation="left")}))
        plot = widget.getPlotItem()
        plot.hideButtons()
        plot.setTitle(title + "  (calls left, puts right)", size="9pt")
        plot.setLabel("bottom", "strike")
        plot.disableAutoRange()
        bars = StrikeBars(plot)
        lines = []
        for pos in (0.95, 0.82):
            line = pg.InfiniteLine(angle=90, movable=False)
            line.label = pg.InfLineLabel(line, text="", position=pos, anchors=[(0, 0), (0, 0)])
            plot.addItem(line)
            lines.append(line)
        plot.addItem(pg.InfiniteLine(pos=0, angle=0, movable=False, pen=pg.mkPen("#888888")))
        return widget, bars, (lines[0], lines[1])

    def _day_plots(self) -> tuple[pg.PlotWidget, pg.PlotWidget]:
        out = []
        for label in ("PCR", "max pain"):
            widget = chart_view(pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(orientation="bottom", utcOffset=0)}))
            plot = widget.getPlotItem()
            plot.hideButtons()
            plot.setLabel("left", label)
            plot.disableAutoRange()  # sticky ranges (paint_models): a re-fitted range re-renders its axes
            out.append(widget)
        day = out[0].getPlotItem()
        day.setTitle("over the day (IST, one point a minute)", size="9pt")
        day.addLegend(offset=(-10, 5))
        self.pcr_oi_curve = day.plot(name="PCR (OI)")
        self.pcr_vol_curve = day.plot(name="PCR (volume)")
        self.pain_curve = out[1].getPlotItem().plot(stepMode=None)
        out[1].getPlotItem().setXLink(day)
        return out[0], out[1]

    def _buildup_table(self) -> DataTable:
        self.table_model = RowsTableModel(COLUMNS, bold_column=COLUMNS.index("Strike"))
        table = DataTable(self.table_model)
        table.setModel(self.table_model)
        font = table.font()
        font.setPointSizeF(font.pointSizeF() * 0.85)  # nine columns beside the charts
        table.setFont(font)
        hh = table.horizontalHeader()
        if hh is not None:  # fitted once per strike set (ResizeToContents measured every cell on every change)
            hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        table.setToolTip("build-up from the premium change against the OI change, both since the previous close:\n"
                         "price up + OI up = long build-up, price down + OI up = short build-up,\n"
                         "price up + OI down = short covering, price down + OI down = long unwinding")
        return table

    def _layout(self) -> None:
        plots = QSplitter(Qt.Orientation.Vertical)
        for w in (self.change_plot, self.total_plot, self.day_plot, self.pain_plot):
            plots.addWidget(w)
        plots.setSizes([260, 200, 170, 110])
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(plots)
        split.addWidget(self.table)
        split.setSizes([590, 690])
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(8, 6, 8, 4)
        lay.addWidget(self.header)
        lay.addWidget(split, 1)
        self.setCentralWidget(central)

    @property
    def unit(self) -> OiUnit:
        return "lots" if self.unit_box.value() == "lots" else "quantity"

    def _unit_changed(self, *_: object) -> None:
        self.remember("unit", self.unit)
        self._painted, self._paint_all = (-1, ""), True
        self.mark_dirty()

    # --- data ---
    def data_routines(self) -> dict[str, Routine]:
        return {"universe": self.picker.routine}

    def _chain_chosen(self, choice: ChainChoice) -> None:
        self.spawn(lambda: self._chain_routine(choice), "chain")

    async def _chain_routine(self, choice: ChainChoice) -> None:
        model, day = OiChainModel(), OiDay()
        model.set_contracts(choice.specs)
        self.model, self.day, self.market_ts, self.future_price = model, day, 0, None
        self.future_key = choice.future.key if choice.future else ""
        option_keys = sorted(choice.keys)
        wanted = set(option_keys) | ({self.future_key} if self.future_key else set())
        today = ist_trading_day(self.clock())
        self._day = date_day(today)
        self._painted, self._part, self._paint_all = (-1, ""), 0, True  # a new chain: a whole new picture

        async def load(pool: aiomysql.Pool) -> dict[str, Any]:
            model.set_closing_oi(await history.fetch_closing_oi(pool, history.key_pairs(option_keys), today))
            replay_minutes(model, day, await history.fetch_oi_minutes(pool, history.key_pairs(option_keys), today))
            if day.minutes:
                self.market_ts = day.minutes[-1]
            return {"quotes": await history.fetch_quotes(pool, history.key_pairs(sorted(wanted)))}

        source = LatestSource(self.link, self.keys, ["quotes"], load, self._apply, self.status_model,
                              wants=wanted.__contains__, on_loaded=self.mark_loaded)
        await source.run()

    def _apply(self, kind: str, key: str, ev: dict[str, Any], live: bool) -> None:
        if key == self.future_key:
            ltp = values.price(ev.get("ltp"))
            if ltp:
                self.future_price = ltp
        elif self.model.apply_quote(key, ev):
            ets = values.exchange_ts(ev.get("exchange_ts")) or 0
            if self.picker.restart_on_new_session(ets, self._day):
                self._day = ets // 86_400
            elif ets // 86_400 == self._day and ets > self.market_ts:  # the day's lines: today's quotes only
                self.market_ts = ets
        self.mark_dirty()

    def mark_loaded(self) -> None:
        self._painted_at, self._paint_all = -math.inf, True  # the load is painted whole on the next frame
        super().mark_loaded()

    # --- paint ---
    def on_theme(self) -> None:
        t = self.theme
        for widget in (self.change_plot, self.total_plot, self.day_plot, self.pain_plot):
            widget.setBackground(t.bg)
            style_plot(widget.getPlotItem(), t)
        for bars in (self.change_bars, self.total_bars):
            bars.set_colours(t.up, t.down)
        for atm, fut in (self.change_lines, self.total_lines):
            atm.setPen(pg.mkPen(t.accent, width=1))
            atm.label.setColor(t.accent)
            fut.setPen(pg.mkPen(t.poc, style=Qt.PenStyle.DashLine))
            fut.label.setColor(t.poc)
        self.pain_line.setPen(pg.mkPen(t.value_line, style=Qt.PenStyle.DotLine, width=2))
        self.pain_line.label.setColor(t.value_line)
        self.pcr_oi_curve.setPen(pg.mkPen(t.accent, width=2))
        self.pcr_vol_curve.setPen(pg.mkPen(t.neutral, width=1))
        self.pain_curve.setPen(pg.mkPen(t.value_line, width=2))
        self.header.setStyleSheet(f"color: {t.fg}; font-size: 13px;")
        self._painted, self._paint_all = (-1, ""), True

    def frame(self) -> None:
        if self._painted[0] != self.model.version or self._part:
            self.mark_dirty()  # a throttled change, or the rest of a round, is painted on a later frame
        super().frame()

    def paint_models(self) -> None:
        """One part of the window per call (bars of the change, of the totals, the day, the grid), in turn, at
        ``PAINT_HZ`` rounds a second: a frame then costs a quarter of a full repaint. A round starts only when
        the model changed; the load, a unit or theme switch paint every part at once."""
        model, now = self.model, time.monotonic()
        if now - self._painted_at < 1.0 / (PAINT_HZ * len(self._parts)):
            return
        if self._part == 0 or self._paint_all:
            if self._painted == (model.version, self.theme.name) and not self._paint_all:
                return
            self._painted = (model.version, self.theme.name)
            if self.market_ts:
                self.day.sample(model, self.market_ts)
            self._snap = (model.table(self.unit), model.atm(self.future_price), model.max_pain())
        self._painted_at = now
        parts = self._parts if self._paint_all else self._parts[self._part : self._part + 1]
        for part in parts:
            part(*self._snap)
        self._part = 0 if self._paint_all else (self._part + 1) % len(self._parts)
        self._paint_all = False

    def _paint_change(self, table: OiTable, atm: float | None, pain: float | None) -> None:
        self.change_bars.set_data(table.strikes, table.call_change, table.put_change)
        self._place_lines(self.change_lines, atm)
        self._fit(self.change_plot, table, (table.call_change, table.put_change))

    def _paint_total(self, table: OiTable, atm: float | None, pain: float | None) -> None:
        self.total_bars.set_data(table.strikes, table.call_oi, table.put_oi)
        self._place_lines(self.total_lines, atm)
        place_line(self.pain_line, pain, f"max pain {fmt.price(pain, 0)}")
        self._fit(self.total_plot, table, (table.call_oi, table.put_oi))

    def _place_lines(self, lines: tuple[Any, Any], atm: float | None) -> None:
        place_line(lines[0], atm, f"ATM {fmt.price(atm, 0)}")
        place_line(lines[1], self.future_price, f"future {fmt.price(self.future_price)}")

    def _paint_day(self, table: OiTable, atm: float | None, pain: float | None) -> None:
        minutes, pcr_oi, pcr_vol, pains = self.day.columns()
        if len(minutes):  # at least half an hour wide: one minute alone is not a time axis
            span = (minutes[0] - 60, max(minutes[-1], minutes[0] + DAY_MIN_SPAN_S))
            ratios = np.concatenate((pcr_oi[~np.isnan(pcr_oi)], pcr_vol[~np.isnan(pcr_vol)]))
            y = (float(ratios.min()), float(ratios.max())) if len(ratios) else None
            stick_view(self.day_plot.getPlotItem(), x=span, y=y, headroom=0.1)  # sticky: no axis re-render a tick
            known = pains[~np.isnan(pains)]
            if len(known) and len(table.strikes):  # two strikes either side: a flat max pain reads as flat
                step = strike_step(table.strikes)
                stick_view(self.pain_plot.getPlotItem(), y=(known.min() - 2 * step, known.max() + 2 * step),
                           headroom=0.0)
        self.pcr_oi_curve.setData(minutes, pcr_oi, connect="finite")
        self.pcr_vol_curve.setData(minutes, pcr_vol, connect="finite")
        self.pain_curve.setData(minutes, pains, connect="finite")

    def _paint_grid(self, table: OiTable, atm: float | None, pain: float | None) -> None:
        self._fill_table(table)
        self._scroll_to(atm)
        set_text(self.header, self._header_html(table, atm, pain))

    def _fit(self, plot: pg.PlotWidget, table: OiTable, cols: tuple[Any, Any]) -> None:
        if not len(table.strikes):
            return
        pad = (table.strikes[-1] - table.strikes[0]) * 0.03 + 1
        ys = np.concatenate([c[~np.isnan(c)] for c in cols] + [np.zeros(1)])
        stick_view(plot.getPlotItem(), x=(table.strikes[0] - pad, table.strikes[-1] + pad), headroom=0.0)
        stick_view(plot.getPlotItem(), y=(float(ys.min()), float(ys.max())), headroom=0.15)

    def _scroll_to(self, atm: float | None) -> None:
        if atm is None or atm == self._scrolled_atm or atm not in self.model.strikes:
            return
        self._scrolled_atm = atm  # centred when the ATM moves, not on every paint
        index = self.table_model.index(self.model.strikes.index(atm), COLUMNS.index("Strike"))
        self.table.scrollTo(index, QTableView.ScrollHint.PositionAtCenter)
        bar = self.table.horizontalScrollBar()
        if bar is not None:
            bar.setValue(0)  # centred vertically only: the calls' build-up column stays in view

    def _fill_table(self, table: OiTable) -> None:
        t = self.theme
        atm = self.model.atm(self.future_price)
        rows: list[Row] = []
        for i in range(len(table.strikes)):
            call, put = table.call_buildup[i], table.put_buildup[i]
            rows.append((
                (BUILDUP_TEXT[call], getattr(t, BUILDUP_COLOUR.get(str(call), "muted"))),
                (fmt.qty(table.call_oi[i]), None), (_change(table.call_change[i]), None),
                (fmt.pct(table.call_change_pct[i]), None), (fmt.price(table.strikes[i], 0), None),
                (fmt.pct(table.put_change_pct[i]), None), (_change(table.put_change[i]), None),
                (fmt.qty(table.put_oi[i]), None),
                (BUILDUP_TEXT[put], getattr(t, BUILDUP_COLOUR.get(str(put), "muted"))),
            ))
        self.table_model.highlight = QColor(t.highlight)
        atm_row = self.model.strikes.index(atm) if atm in self.model.strikes else -1
        self.table_model.set_rows(rows, atm_row)
        widths = tuple(max((len(r[c][0]) for r in rows), default=0) for c in range(len(COLUMNS)))
        if any(w > f for w, f in zip(widths, self._fitted, strict=True)):  # a text grew past its column
            self._fitted = tuple(max(w, f) for w, f in zip(widths, self._fitted, strict=True))
            self._fit_columns()

    def _fit_columns(self) -> None:
        """Columns as wide as their bold text, squeezed (not below 85 %) to fit the pane."""
        view, viewport = self.table, self.table.viewport()
        view.resizeColumnsToContents()
        n = len(COLUMNS)
        total = sum(view.columnWidth(c) for c in range(n))
        if viewport is None or not total or total <= viewport.width():
            return
        factor = max(0.85, (viewport.width() - 2) / total)
        for c in range(n):
            view.setColumnWidth(c, int(view.columnWidth(c) * factor))

    def _header_html(self, table: OiTable, atm: float | None, pain: float | None) -> str:
        choice, t = self.picker.choice, self.theme
        if choice is None:
            return "waiting for the feed's options"
        pcr = self.model.pcr()
        sources = [s for s in (*table.call_base_source, *table.put_base_source)]
        stored, exchange = sources.count("stored"), sources.count("exchange")
        unknown = len(sources) - stored - exchange
        return (
            f"<b>{choice.underlying}</b> &middot; expiry {choice.expiry} &middot; future "
            f"<b>{fmt.price(self.future_price)}</b> &middot; ATM {fmt.price(atm, 0)} &middot; "
            f"PCR (OI) <b>{_ratio(pcr.oi)}</b> &middot; PCR (volume) {_ratio(pcr.volume)} &middot; "
            f"max pain <b>{fmt.price(pain, 0)}</b> &middot; OI in {self.unit} "
            f"<span style='color:{t.muted}'>&middot; change from our stored close: {stored}, from the exchange's "
            f"previous OI: {exchange}, unknown: {unknown}</span>"
        )
