"""The simulated market: every instrument's state, who is subscribed to it, and the update generator.

Pure and deterministic: a :class:`Market` is built from settings, a seed and a start time, and moves only
when asked, with times handed in by the caller (the server's injectable clock). Same seed, same
subscriptions in the same order and the same times give the same packets, byte for byte.

Prices: NIFTY 50 (IDX_I 13) and NIFTY BANK (IDX_I 25) follow :class:`feed.sim.model.Factors`; index and MCX
futures are worth ``spot * exp(r * t)``; options are priced with Black-76 on the near-month future (the
earliest-expiry FUTIDX of the same underlying not yet expired, as the greeks service does) with
``t = year_fraction(expiry, now)`` and ``sigma = smile_iv(...)``; NIFTY 50 stocks move with their index
(beta) plus their own noise. Updates arrive by weighted random choice among the subscribed instruments, the
weights being each instrument's rate in a live session (:mod:`feed.sim.activity`): near futures and
at-the-money options are the busiest, far strikes the quietest. :meth:`Market.live_rate` is their sum.

Sessions (:mod:`feed.sim.hours`): by default every exchange is always open and the day rolls at 00:00 IST.
With market hours an exchange that is closed sends nothing (its weights are 0), in NSE's pre-open only stock
and futures books change, and an exchange's day rolls when its regular session opens on a new date; built
while closed, an instrument's last trade is a second before its exchange's last close.

Depth feeds subscribe in modes 3 (20 levels) and 4 (200 levels): the instrument's :class:`DeepBook` is
built then and moves with every update while they remain.
"""

from __future__ import annotations

import math
import random
from datetime import date, datetime, time, timedelta
from typing import Any

from feed.greeks.black76 import price as black76_price
from feed.greeks.black76 import year_fraction
from feed.protocol.constants import ExchangeSegment
from feed.sim.activity import INDEX_RATE, PRE_OPEN_SHARE, equity_rate, future_rate, option_rate
from feed.sim.book import KIND_EQUITY, KIND_FUTURE, KIND_INDEX, KIND_OPTION, SimInstrument
from feed.sim.contracts import UNDERLYINGS, Contract, generate_contracts
from feed.sim.deep import DeepBook
from feed.sim.hours import MarketHours
from feed.sim.model import START_PRICES_MCX, Factors, burst_factor, smile_iv
from feed.sim.reference import Reference, load_reference
from shared.calendar import TradingCalendar
from shared.clock import IST, IST_OFFSET_S, to_dhan_epoch
from shared.settings import Settings

__all__ = ["DEPTH20", "DEPTH200", "DEPTH_MODES", "MODES", "Market", "Sink"]

MODES = ("ticker", "quote", "full")
DEPTH20, DEPTH200 = 3, 4  # subscription modes of the depth feeds (after the live feed's three)
DEPTH_MODES = {20: DEPTH20, 200: DEPTH200}
_OI_EXPIRY_SHARE = (1.0, 0.5, 0.3, 0.2)  # open interest by expiry rank, nearest first
_BANKS = frozenset({"HDFCBANK", "ICICIBANK", "SBIN", "KOTAKBANK", "AXISBANK"})
_WEIGHT_REFRESH_S = 1.0
_DAY_S = 1.0 / 365.0

Sink = Any
"""Anything with an ``out: list[bytes]`` attribute (the server's connection); packets are appended to it."""


class Market:
    """All simulated instruments; :meth:`generate` produces ``n`` updates for the subscribed ones."""

    def __init__(
        self, settings: Settings, t0: float, *, seed: int | None = None,
        contracts: list[Contract] | None = None, hours: MarketHours | None = None,
    ) -> None:
        self.seed = settings.sim.seed if seed is None else seed
        self.rng = random.Random(self.seed)
        self.rate_r = settings.greeks.risk_free_rate
        self.burst_peak = settings.sim.burst_factor
        if hours is None:
            calendar = TradingCalendar.load(settings.scheduler.holidays_file) if settings.sim.market_hours else None
            hours = MarketHours(calendar)
        self.hours = hours
        self.session = hours.statuses(t0)
        self.reference: Reference = load_reference()
        start = {"NIFTY": settings.sim.start_price_nifty, "BANKNIFTY": settings.sim.start_price_banknifty}
        each_side = {"NIFTY": settings.sim.nifty_strikes, "BANKNIFTY": settings.sim.banknifty_strikes}
        self.contracts = contracts if contracts is not None else generate_contracts(t0, start, each_side)
        self.instruments: dict[tuple[int, int], SimInstrument] = {}
        self.now = t0
        self._prev_levels = {**start, **START_PRICES_MCX}
        self.factors = Factors(self.rng, self._gapped(self._prev_levels), t0)
        self._t_cache: dict[tuple[date, time], float] = {}
        self._near: dict[str, list[Contract]] = {}
        self.fnear: dict[str, float] = {}
        self._active: dict[SimInstrument, None] = {}
        self._active_list: list[SimInstrument] = []
        self._cum_weights: list[float] = []
        self._weights_due = 0.0
        self._next_midnight = _next_ist_midnight(t0)
        self._opening_ltt = {ex: self._last_trade_time(ex, t0) for ex in self.session}
        # the IST date of the session each exchange's state is from (market hours: a new one rolls the day)
        self._session_day = {ex: _ist_date(ltt - IST_OFFSET_S) for ex, ltt in self._opening_ltt.items()}
        self._build(t0)

    # --- construction ---
    def _gapped(self, levels: dict[str, float]) -> dict[str, float]:
        return {name: lvl * math.exp(self.rng.gauss(0.0, 0.002)) for name, lvl in levels.items()}

    def _last_trade_time(self, exchange: str, t0: float) -> int:
        """LTT (Dhan epoch) of the opening state: now while the exchange trades, else just before its last close."""
        if self.session[exchange] == "open":
            return to_dhan_epoch(t0)
        last = self.hours.last_close(t0, exchange)
        return to_dhan_epoch(t0 if last is None else last - 1.0)

    def _add(self, inst: SimInstrument) -> SimInstrument:
        self.instruments[inst.key] = inst
        return inst

    def _build(self, t0: float) -> None:
        rng, ltt = self.rng, self._opening_ltt["NSE"]
        for name in ("NIFTY", "BANKNIFTY"):
            sid = UNDERLYINGS[name].index_security_id
            assert sid is not None
            inst = self._add(SimInstrument(ExchangeSegment.IDX_I, sid, KIND_INDEX, 0.05, 1))
            inst.underlying = inst.factor = name
            inst.base_rate = INDEX_RATE
            inst.open_day(rng, self.factors.levels[name], ltt, self._prev_levels[name], 0)
        max_turnover = max(q.volume * q.ltp for q in self.reference.stocks.values())
        for row in self.reference.equity_rows:
            quote = self.reference.stocks[row[5]]
            tick = float(row[11]) / 100  # paise on tradable rows
            inst = self._add(SimInstrument(ExchangeSegment.NSE_EQ, int(row[2]), KIND_EQUITY, tick, 1))
            inst.factor = "BANKNIFTY" if row[5] in _BANKS else "NIFTY"
            inst.beta = 0.7 + 0.6 * rng.random()
            inst.sigma_s = (0.15 + 0.15 * rng.random()) / math.sqrt(252 * 6.25 * 3600)
            inst.mean_lots = max(1.0, quote.volume / 40_000)
            inst.max_lots = 65_535
            inst.depth_lots = int(5 * inst.mean_lots) + 1
            inst.spread_ticks = 1 + int(rng.random() * 3)
            inst.base_rate = equity_rate(quote.volume * quote.ltp, max_turnover)
            gap = self.factors.log_level(inst.factor) - math.log(self._prev_levels[inst.factor])
            start = quote.ltp * math.exp(inst.beta * gap + rng.gauss(0.0, 0.004))
            inst.log_price, inst.last_t = math.log(start), t0
            inst.last_factor = self.factors.log_level(inst.factor)
            inst.open_day(rng, start, ltt, quote.ltp, 0)
        self._near = {}
        for c in self.contracts:
            if c.instrument in ("FUTIDX", "FUTCOM"):
                self._near.setdefault(c.underlying.name, []).append(c)
        self._refresh_forwards(t0)
        option_expiries: dict[str, list[date]] = {}
        for c in self.contracts:
            if c.is_option:
                option_expiries.setdefault(c.underlying.name, []).append(c.expiry)
        ranks = {name: sorted(set(days)) for name, days in option_expiries.items()}
        for c in self.contracts:
            self._build_contract(c, t0, ranks)

    def _build_contract(self, c: Contract, t0: float, option_expiries: dict[str, list[date]]) -> None:
        rng, u = self.rng, c.underlying
        kind = KIND_OPTION if c.is_option else KIND_FUTURE
        seg = ExchangeSegment.MCX_COMM if u.exch == "MCX" else ExchangeSegment.NSE_FNO
        inst = self._add(SimInstrument(seg, c.security_id, kind, c.tick_size, u.lot_size))
        inst.contract, inst.underlying, inst.factor = c, u.name, u.name
        inst.expiry_key = (c.expiry, c.close_time)
        prev_level = self._prev_levels[u.name]
        t = self.t_years(inst.expiry_key)
        if kind == KIND_FUTURE:
            rank = inst.expiry_rank = [e.expiry for e in self._near[u.name]].index(c.expiry)
            inst.base_rate = future_rate(u.name, rank)
            inst.mean_lots, inst.depth_lots = (2.0, 30) if u.exch == "NSE" else (3.0, 10)
            inst.spread_ticks = 1 + int(rng.random() * 2)
            oi_lots = (230_000, 45_000, 9_000)[rank] if u.exch == "NSE" else (12_000, 2_000)[min(rank, 1)]
            prev = prev_level * math.exp(self.rate_r * (t + _DAY_S))
            mid = self.mid(inst, t0)
        else:
            assert c.strike is not None
            inst.strike, inst.is_call = c.strike, c.option_type == "CE"
            inst.expiry_rank = option_expiries[u.name].index(c.expiry)
            distance = (c.strike - self.fnear[u.name]) / u.strike_step
            share = _OI_EXPIRY_SHARE[min(inst.expiry_rank, 3)]
            oi_lots = int(20_000 * math.exp(-((distance / 10.0) ** 2)) * share) + 100
            inst.mean_lots, inst.depth_lots = 3.0, 40
            f_prev = prev_level * math.exp(self.rate_r * (t + _DAY_S))
            prev = black76_price(f_prev, c.strike, t + _DAY_S, self.rate_r,
                                 smile_iv(u.name, c.strike, f_prev, t + _DAY_S), inst.is_call)
            mid = self.mid(inst, t0)
            inst.spread_ticks = 1 + (mid > 50.0) + (mid > 250.0)
        oi = u.lot_size * int(oi_lots * (0.8 + 0.4 * rng.random()))
        inst.open_day(rng, mid, self._opening_ltt[inst.exchange], inst.round_tick(prev), oi)

    # --- time ---
    def t_years(self, expiry_key: tuple[date, time]) -> float:
        t = self._t_cache.get(expiry_key)
        if t is None:
            t = self._t_cache[expiry_key] = year_fraction(expiry_key[0], self.now, expiry_time=expiry_key[1])
        return t

    def _refresh_forwards(self, now: float) -> None:
        for name, futures in self._near.items():
            level = self.factors.levels[name]
            near = next((c for c in futures if self.t_years((c.expiry, c.close_time)) > 0.0), None)
            t = 0.0 if near is None else self.t_years((near.expiry, near.close_time))
            self.fnear[name] = level * math.exp(self.rate_r * t)

    def advance(self, now: float) -> None:
        """Move the clock to ``now`` (never backwards): walk the factors, follow the sessions, roll the day."""
        if now <= self.now:
            return
        self.now = now
        self._t_cache.clear()
        self.factors.advance(now)
        self._refresh_forwards(now)
        session = self.hours.statuses(now)
        if session != self.session:
            self.session = session
            self._weights_due = 0.0
        if self.hours.always_open:
            if now >= self._next_midnight:
                self._next_midnight = _next_ist_midnight(now)
                self._roll(now, None)
            return
        today = _ist_date(now)
        for exchange, status in session.items():
            if status == "open" and today > self._session_day[exchange]:
                self._session_day[exchange] = today
                self._roll(now, exchange)

    def _roll(self, now: float, exchange: str | None) -> None:
        """A new trading day for ``exchange``'s instruments (all when None): yesterday's last is the close."""
        ltt = to_dhan_epoch(now)
        for inst in self.instruments.values():
            if exchange is None or inst.exchange == exchange:
                inst.open_day(self.rng, inst.ltp, ltt, inst.ltp, inst.oi)

    def rate_multiplier(self) -> float:
        return burst_factor(self.now, self.burst_peak)

    # --- prices ---
    def mid(self, inst: SimInstrument, now: float) -> float:
        kind = inst.kind
        if kind == KIND_OPTION:
            name = inst.underlying
            f, t = self.fnear[name], self.t_years(inst.expiry_key)
            sigma = smile_iv(name, inst.strike, f, t)
            return black76_price(f, inst.strike, t, self.rate_r, sigma, inst.is_call)
        if kind == KIND_FUTURE:
            return self.factors.levels[inst.factor] * math.exp(self.rate_r * self.t_years(inst.expiry_key))
        if kind == KIND_EQUITY:
            level = self.factors.log_level(inst.factor)
            dt = now - inst.last_t
            if dt > 0.0:
                s = inst.sigma_s
                inst.log_price += (inst.beta * (level - inst.last_factor) - 0.5 * s * s * dt
                                   + s * math.sqrt(dt) * self.rng.gauss(0.0, 1.0))
                inst.last_t = now
            inst.last_factor = level
            return math.exp(inst.log_price)
        return self.factors.levels[inst.factor]

    def requote(self, inst: SimInstrument) -> None:
        """Bring ``inst``'s quotes to the current model price before a snapshot: between an instrument's
        (perhaps rare) updates its book follows the market, its trades do not. No random number is drawn, so
        the bytes of the feed do not depend on who subscribes when; a closed exchange's books stay as closed."""
        if self.session[inst.exchange] != "open" or self.rate_of(inst) <= 0.0:
            return
        if inst.kind == KIND_INDEX:
            inst.ltp = inst.round_tick(self.factors.levels[inst.factor])
            inst.ltt = to_dhan_epoch(self.now)
        elif inst.kind == KIND_EQUITY:  # its index's move since its last update, without its own noise
            inst.requote(math.exp(inst.log_price + inst.beta * (self.factors.log_level(inst.factor)
                                                                - inst.last_factor)))
        else:
            inst.requote(self.mid(inst, self.now))

    # --- subscriptions ---
    def lookup(self, segment: int, security_id: int) -> SimInstrument | None:
        return self.instruments.get((segment, security_id))

    def subscribe(self, inst: SimInstrument, sink: Sink, mode: int) -> None:
        """Subscribe ``sink`` to ``inst`` in ``mode`` (0 ticker, 1 quote, 2 full, 3 20-level depth, 4 200-level
        depth), replacing another mode of the same sink."""
        was = self._remove(inst, sink)
        if mode >= DEPTH20 and inst.deep is None:
            inst.deep = DeepBook(inst, self.seed)
        inst.subs[mode].append(sink)
        inst.n_subs += 1
        if not was and inst.n_subs == 1:
            self._active[inst] = None
            self._weights_due = 0.0

    def unsubscribe(self, inst: SimInstrument, sink: Sink) -> None:
        if self._remove(inst, sink) and inst.n_subs == 0:
            del self._active[inst]
            self._weights_due = 0.0

    def _remove(self, inst: SimInstrument, sink: Sink) -> bool:
        for lst in inst.subs:
            for i, s in enumerate(lst):
                if s is sink:
                    del lst[i]
                    inst.n_subs -= 1
                    return True
        return False

    @property
    def active_count(self) -> int:
        return len(self._active)

    def rate_of(self, inst: SimInstrument) -> float:
        """Updates/s of ``inst`` now: its live-session rate, by the money for an option, 0 once expired."""
        if inst.expiry_key is not None and self.t_years(inst.expiry_key) <= 0.0:
            return 0.0  # expired: no more trades
        if inst.kind != KIND_OPTION:
            return inst.base_rate
        out = (inst.strike - self.fnear[inst.underlying]) / inst.contract.underlying.strike_step
        return option_rate(inst.underlying, out if inst.is_call else -out, inst.expiry_rank)

    def _session_weight(self, inst: SimInstrument) -> float:
        status = self.session[inst.exchange]
        inst.can_trade = status == "open"
        if status == "open":
            return self.rate_of(inst)
        if status == "pre_open" and inst.kind in (KIND_EQUITY, KIND_FUTURE):
            return PRE_OPEN_SHARE * self.rate_of(inst)
        return 0.0

    def _refresh_weights(self) -> None:
        self._weights_due = self.now + _WEIGHT_REFRESH_S  # re-checked: the money and expiries move
        self._active_list = list(self._active)
        total, cum = 0.0, []
        for inst in self._active_list:
            total += self._session_weight(inst)
            cum.append(total)
        self._cum_weights = cum

    def live_rate(self) -> float:
        """Updates per second of all subscribed instruments in the current session (before the bursts)."""
        if not self._active:
            return 0.0
        if self.now >= self._weights_due:
            self._refresh_weights()
        return self._cum_weights[-1]

    @property
    def rate_now(self) -> float:
        """:meth:`live_rate` as last computed (reading it changes nothing)."""
        return self._cum_weights[-1] if self._active and self._cum_weights else 0.0

    # --- the generator ---
    def generate(self, n: int) -> int:
        """``n`` updates at the current time, packets appended to the subscribed sinks; returns ``n`` (0 when
        nothing subscribed may update: every exchange closed, or only expired contracts)."""
        if n <= 0 or not self._active:
            return 0
        if self.now >= self._weights_due:
            self._refresh_weights()
        if self._cum_weights[-1] <= 0.0:
            return 0
        rng, now = self.rng, self.now
        ltt = to_dhan_epoch(now)
        for inst in rng.choices(self._active_list, cum_weights=self._cum_weights, k=n):
            if inst.kind == KIND_INDEX:
                inst.ltp = inst.round_tick(self.factors.levels[inst.factor])
                inst.ltt = ltt
                pkt = inst.ticker_packet()
                for lst in inst.subs[:3]:  # the live feed's modes: no depth feed serves an index
                    for sink in lst:
                        sink.out.append(pkt)
                continue
            traded, oi_changed = inst.step(rng, self.mid(inst, now), ltt, inst.can_trade)
            inst.publish(traded, oi_changed)
        return n

    def depth_message(self, inst: SimInstrument, levels: int) -> bytes:
        """The instrument's book as the ``levels``-level depth feed sends it (bid packet, then ask packet)."""
        deep: DeepBook = inst.deep or DeepBook(inst, self.seed)
        inst.deep = deep
        return deep.message(inst, levels)


def _ist_date(utc_epoch: float) -> date:
    return datetime.fromtimestamp(utc_epoch, IST).date()


def _next_ist_midnight(utc_epoch: float) -> float:
    day = datetime.fromtimestamp(utc_epoch, IST).date() + timedelta(days=1)
    return datetime.combine(day, time(0, 0), tzinfo=IST).timestamp()
