"""The rolling ATM straddle of one chain over the day (``dhan viz straddle``).

Top: the straddle premium (call + put LTP at the strike ATM at each moment) with its volume-weighted
average, and a marker wherever the ATM strike moved; middle: the ATM IV (mean of the two legs' IVs);
bottom: the ATM strike itself. Definitions in :mod:`viz.models.straddle`.

History: the day's stored trades, one per instrument per exchange second, first the future (its path gives
the strikes that were ATM), then those strikes' legs; the IV over the day is solved from those trades with
the greeks service's Black-76 (:mod:`viz.models.straddle_history`). Then the latest stored quotes and greeks
and both streams from the writer's position (viz/data/seam.py). At the seam an event older than the last
one applied for its contract (exchange time, then day volume) is dropped, so the overlap of the stored
trades with the quotes in the stream neither moves a price back nor counts volume twice (the model also
counts only rises of each leg's cumulative volume). Painted at most ``PAINT_HZ`` times a second.
"""

from __future__ import annotations

import math
import time
from typing import Any

import aiomysql
import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel, QLineEdit, QSplitter, QVBoxLayout, QWidget

from shared.clock import ist_trading_day
from shared.settings import Settings
from viz.data import history
from viz.data.seam import date_day
from viz.data.sources import LatestSource
from viz.models import fmt, values
from viz.models.straddle import StraddleModel
from viz.models.straddle_history import history_columns, visited_strikes
from viz.models.strategy import Strategy
from viz.models.strategy_text import parse_legs
from viz.widgets.controls import labelled
from viz.widgets.paths import set_text
from viz.widgets.payoff_pane import PayoffPane
from viz.widgets.ranges import stick_view
from viz.widgets.strike_bars import strike_step
from viz.widgets.theme import chart_view, style_plot
from viz.windows.base import Routine, VizOptions, VizWindow
from viz.windows.chain_pick import ChainChoice, ChainPicker

__all__ = ["StraddleWindow"]

PAINT_HZ = 5
MIN_SPAN_S = 1800.0  # the time axis shows at least half an hour: a few minutes alone would fill the width


class StraddleWindow(VizWindow):
    NAME = "straddle"
    TITLE = "ATM straddle"

    def __init__(self, settings: Settings, options: VizOptions | None = None) -> None:
        super().__init__(settings, options)
        self.model: StraddleModel | None = None
        self.choice: ChainChoice | None = None
        self.history_rows = 0
        # (kind, key) -> (exchange_ts, volume) last applied: the seam (history rows count as quotes)
        self._last: dict[tuple[str, str], tuple[int, int]] = {}
        self._painted = (-1, -1, -1, "")
        self._painted_at = -math.inf
        self._part, self._paint_all = 0, True  # the next plot of the round; paint all three at once
        self.picker = ChainPicker(self, self._chain_chosen)
        self.strategy: Strategy | None = None
        self.legs_error = ""
        self._day = 0  # the session shown, as Dhan's exchange_ts // 86400
        self._legs_version = 0  # bumped when a leg's live price moved (the payoff repaints)
        self._ltp: dict[str, float] = {}  # each option's last traded price seen (seeds a new combination)
        self.legs_edit = QLineEdit(str(self.recall("legs", "")))
        self.legs_edit.setPlaceholderText("optional legs: S 26100 CE 1, S 26100 PE 1, B 26300 CE, B 25900 PE")
        self.legs_edit.setToolTip("one to four legs, comma separated: SIDE (B bought, S sold) STRIKE CE|PE [LOTS]\n"
                                  "the pane below shows the P&L at expiry if entered now, and the live premium")
        self.legs_edit.setMinimumWidth(420)
        self.legs_edit.editingFinished.connect(self._legs_changed)
        self.toolbar.addWidget(labelled("Legs", self.legs_edit))
        self.finish_toolbar()
        self.header = QLabel("waiting for the feed's options")
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setWordWrap(True)
        self.premium_plot, self.iv_plot, self.atm_plot = (self._time_plot(label) for label in
                                                          ("straddle (Rs)", "ATM IV %", "ATM strike"))
        p = self.premium_plot.getPlotItem()
        p.addLegend(offset=(-10, 5))
        self.premium_curve = p.plot(name="straddle premium (CE + PE)")
        self.vwap_curve = p.plot(name="VWAP")
        self.moves = pg.ScatterPlotItem(symbol="t1", size=9, name="ATM moved")
        p.addItem(self.moves)
        self.iv_curve = self.iv_plot.getPlotItem().plot()
        self.atm_curve = self.atm_plot.getPlotItem().plot(stepMode=None)
        for w in (self.iv_plot, self.atm_plot):
            w.getPlotItem().setXLink(p)
        self.payoff = PayoffPane()
        self.payoff.widget.setVisible(False)
        split = QSplitter(Qt.Orientation.Vertical)
        for w in (self.premium_plot, self.iv_plot, self.atm_plot, self.payoff.widget):
            split.addWidget(w)
        split.setSizes([340, 150, 100, 230])
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(8, 6, 8, 4)
        lay.addWidget(self.header)
        lay.addWidget(split, 1)
        self.setCentralWidget(central)

    def _time_plot(self, label: str) -> pg.PlotWidget:
        widget = chart_view(pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(orientation="bottom", utcOffset=0)}))
        plot = widget.getPlotItem()
        plot.hideButtons()
        plot.setLabel("left", label)
        plot.setDownsampling(auto=True, mode="peak")  # a day of points: drawn at the screen's resolution
        plot.setClipToView(True)
        plot.disableAutoRange()  # sticky ranges (paint_models): a re-fitted range re-renders the axes
        return widget

    # --- data ---
    def data_routines(self) -> dict[str, Routine]:
        return {"universe": self.picker.routine}

    def _chain_chosen(self, choice: ChainChoice) -> None:
        self.spawn(lambda: self._chain_routine(choice), "chain")

    async def _chain_routine(self, choice: ChainChoice) -> None:
        if choice.future is None:
            self.status_model.note = f"no {choice.underlying} future in the feed's universe: no ATM reference"
            return
        fut = choice.future.key
        model = StraddleModel(choice.specs, fut)
        self.model, self.choice, self._last, self._painted = model, choice, {}, (-1, -1, -1, "")
        self._ltp, self._part, self._paint_all = {}, 0, True  # a new chain: a whole new picture
        option_keys = sorted(choice.keys)
        wanted = {*option_keys, fut}
        today = ist_trading_day(self.clock())
        self._day = date_day(today)

        async def load(pool: aiomysql.Pool) -> dict[str, Any]:
            fut_rows = await history.fetch_second_last(pool, history.key_pairs([fut]), today)
            strikes = set(visited_strikes(model.strikes, [r[3] for r in fut_rows]))
            legs = sorted(s.key for s in choice.specs if s.strike in strikes)
            rows = fut_rows + await history.fetch_second_last(pool, history.key_pairs(legs), today)
            cols = history_columns(choice.specs, fut, rows, self.settings.greeks.risk_free_rate)
            model.extend(cols.ts, cols.contract, cols.price, cols.volume, cols.iv)
            for key, ets, cum, ltp, *_ in rows:
                if (ets, cum) >= self._last.get(("quotes", key), (0, -1)):
                    self._last["quotes", key], self._ltp[key] = (ets, cum), ltp
            self.history_rows = len(rows)
            return {"quotes": await history.fetch_quotes(pool, history.key_pairs(sorted(wanted))),
                    "greeks": await history.fetch_greeks(pool, history.key_pairs(option_keys))}

        self._legs_changed()
        source = LatestSource(self.link, self.keys, ["quotes", "greeks"], load, self._apply, self.status_model,
                              wants=wanted.__contains__, on_loaded=self.mark_loaded)
        await source.run()

    def _apply(self, kind: str, key: str, ev: dict[str, Any], live: bool) -> None:
        model = self.model
        if model is None:
            return
        ets = values.exchange_ts(ev.get("exchange_ts")) or 0
        if ets // 86_400 != self._day:  # the model holds one session's volumes: another day's do not mix in
            self._other_day(kind, key, ev, ets)
            return
        volume = values.quantity(ev.get("volume")) if kind == "quotes" else None
        last = self._last.get((kind, key), (0, -1))
        if (ets, -1 if volume is None else volume) < last:
            return  # older than what is already in the model (history or an earlier event)
        self._last[kind, key] = (ets, last[1] if volume is None else volume)
        if kind == "quotes":
            model.apply_quote(key, ev)
            ltp = values.price(ev.get("ltp"))
            if ltp:
                self._ltp[key] = ltp
                if self.strategy is not None and self.strategy.apply_quote(key, ev):
                    self._legs_version += 1
        else:
            model.apply_greeks(key, ev)
        self.mark_dirty()

    def _other_day(self, kind: str, key: str, ev: dict[str, Any], ets: int) -> None:
        """An earlier day's event (a stored quote from before today's first trade) only seeds the legs' prices;
        a later day's starts the chain again on the new day."""
        if self.picker.restart_on_new_session(ets, self._day):
            self._day = ets // 86_400
            return
        ltp = values.price(ev.get("ltp")) if kind == "quotes" else None
        if ltp and key not in self._ltp:
            self._ltp[key] = ltp

    def _legs_changed(self) -> None:
        """The typed legs: a combination of this chain's contracts, or a one-line reason in the status line."""
        text = self.legs_edit.text()
        self.remember("legs", text)
        choice = self.choice
        try:
            legs = parse_legs(text, choice.specs if choice else ())
        except ValueError as exc:
            legs, self.legs_error = (), str(exc)
            self.status_model.note = f"legs: {exc}"
        else:
            self.legs_error = ""
        self.strategy = Strategy(legs, {leg.spec.key: self._ltp[leg.spec.key] for leg in legs
                                        if leg.spec.key in self._ltp}) if legs else None
        self.payoff.widget.setVisible(self.strategy is not None)
        self._painted, self._paint_all = (-1, -1, -1, ""), True
        self.mark_dirty()

    def mark_loaded(self) -> None:
        if self.strategy is not None:  # the stored quotes arrived after the legs were read
            for leg in self.strategy.legs:
                if leg.spec.key in self._ltp:
                    self.strategy.prices[leg.spec.key] = self._ltp[leg.spec.key]
        self._painted_at, self._paint_all = -math.inf, True
        super().mark_loaded()

    # --- paint ---
    def on_theme(self) -> None:
        t = self.theme
        for w in (self.premium_plot, self.iv_plot, self.atm_plot):
            w.setBackground(t.bg)
            style_plot(w.getPlotItem(), t)
        self.premium_curve.setPen(pg.mkPen(t.accent, width=2))
        self.vwap_curve.setPen(pg.mkPen(t.poc, width=2, style=Qt.PenStyle.DashLine))
        self.moves.setBrush(pg.mkBrush(t.down))
        self.moves.setPen(pg.mkPen(t.down))
        self.iv_curve.setPen(pg.mkPen(t.neutral, width=2))
        self.atm_curve.setPen(pg.mkPen(t.value_line, width=2))
        self.header.setStyleSheet(f"color: {t.fg}; font-size: 13px;")
        self.payoff.on_theme(t)
        self._painted, self._paint_all = (-1, -1, -1, ""), True

    def frame(self) -> None:
        model = self.model
        if model is not None and (self._painted[:3] != (id(model), len(model), self._legs_version) or self._part):
            self.mark_dirty()  # a throttled change, or the rest of a round, is painted on a later frame
        super().frame()

    def paint_models(self) -> None:
        """One plot per call in turn (premium, IV, ATM strike with the header), ``PAINT_HZ`` rounds a second;
        a round starts when the series grew; the load paints all three at once."""
        model, now = self.model, time.monotonic()
        if model is None or now - self._painted_at < 1.0 / (PAINT_HZ * 3):
            return
        key = (id(model), len(model), self._legs_version, self.theme.name)
        if self._part == 0 or self._paint_all:
            if key == self._painted and not self._paint_all:
                return
            self._painted = key
        self._painted_at = now
        s = model.series()
        ts = s.ts.astype(np.float64)
        parts = range(3) if self._paint_all else (self._part,)
        for part in parts:
            if part == 0:
                self.premium_curve.setData(ts, s.premium, connect="finite")
                self.vwap_curve.setData(ts, s.vwap, connect="finite")
                self.moves.setData(ts[s.moved], s.premium[s.moved])
                self._fit_y(self.premium_plot, (s.premium, s.vwap))
                if len(s):
                    t0, t1 = float(s.ts[0]), float(s.ts[-1])
                    stick_view(self.premium_plot.getPlotItem(), x=(t0, max(t1, t0 + MIN_SPAN_S)), headroom=0.03)
            elif part == 1:
                self.iv_curve.setData(ts, s.iv * 100.0, connect="finite")
                self._fit_y(self.iv_plot, (s.iv * 100.0,))
            else:
                self.atm_curve.setData(ts, s.atm, connect="finite")
                atm = s.atm[~np.isnan(s.atm)]
                if len(atm):  # a strike step either side: an ATM that never moved reads as a flat line
                    step = strike_step(np.asarray(model.strikes, np.float64))
                    stick_view(self.atm_plot.getPlotItem(), y=(atm.min() - step, atm.max() + step), headroom=0.0)
                set_text(self.header, self._header_html())
                if self.strategy is not None:
                    self.payoff.paint(self.strategy, model.underlying_price)
        self._part = 0 if self._paint_all else (self._part + 1) % 3
        self._paint_all = False

    @staticmethod
    def _fit_y(widget: pg.PlotWidget, cols: tuple[Any, ...]) -> None:
        known = np.concatenate([c[~np.isnan(c)] for c in cols])
        if len(known):  # sticky, with headroom: a re-fitted range re-renders the axis
            stick_view(widget.getPlotItem(), y=(float(known.min()), float(known.max())), headroom=0.15, y_floor=0.0)

    def _header_html(self) -> str:
        model, choice = self.model, self.choice
        if model is None or choice is None:
            return "waiting for the feed's options"
        s = model.series()
        last = len(s) - 1
        atm = model.atm()
        legs = ""
        if atm is not None:
            call, put = model.legs[atm]
            legs = f" (CE {fmt.price(model.state.price[call])} + PE {fmt.price(model.state.price[put])})"
        def at(col: Any) -> float | None:
            return float(col[last]) if last >= 0 and not math.isnan(col[last]) else None
        iv = at(s.iv)
        return (
            f"<b>{choice.underlying}</b> &middot; expiry {choice.expiry} &middot; future "
            f"<b>{fmt.price(model.underlying_price)}</b> &middot; ATM <b>{fmt.price(atm, 0)}</b> &middot; straddle "
            f"<b>{fmt.price(at(s.premium))}</b>{legs} &middot; VWAP {fmt.price(at(s.vwap))} &middot; ATM IV "
            f"{'-' if iv is None else f'{iv * 100:.2f}%'} &middot; ATM moved {int(s.moved.sum())} times "
            f"<span style='color:{self.theme.muted}'>&middot; IV before live: solved from the stored trades "
            f"(Black-76, as the greeks service)</span>"
        )
