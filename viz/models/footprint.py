"""Footprint bars, order flow *inferred*: bid x ask volume by price inside each bar (pure; live and bulk).

The aggressor side is inferred (:mod:`viz.models.aggressor`; Dhan sends none), so every figure here is an
estimate and the window labels it so, with the share of volume each rule classified (:meth:`rule_shares`).

Bars hold ``trades_per_bar`` trades (tick events) each, or one ``period_s`` period of the session clock
(:func:`viz.models.bars.period_index`, from 09:15 IST). A trade stamped before the forming bar's period (out
of order) joins the forming bar: bars never reopen.

Per bar, at each price level (one tick size; every level from the bar's low to its high is a row):

bid volume   volume of trades classified sell: they hit the bid. ``ask volume``: classified buy, lifting the
             ask. Unclassified volume is kept apart (``other``): it counts in the volume and the POC, not in
             the delta or the imbalances.
delta        ask volume - bid volume over the bar; cumulative delta: the running sum over the session's bars.
POC          the row with the most volume (bid + ask + other); ties as the volume profile's
             (:func:`viz.models.profile.point_of_control`: nearest the middle of the bar's range, then lower).
imbalance    diagonal, as footprints compare the two sides of one price step: a *buy* imbalance at price p
             when ``ask[p] >= ratio * bid[p - tick]``, a *sell* imbalance at p when
             ``bid[p] >= ratio * ask[p + tick]`` (ratio 1.5 = 150 % by default), and in both cases the volume
             at p is at least ``min_volume``. A missing or zero opposite row (the bar's edge, an untraded
             level) is an infinite ratio, so any volume of at least ``min_volume`` there is an imbalance.
stacked      ``stacked_min`` (default 3) or more imbalances of the same direction on consecutive levels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from shared.events import PRICE_MAX
from viz.models import values
from viz.models.aggressor import RULE_NAMES, RULE_NONE, RULE_QUOTE, RULE_TICK, RULE_UNKNOWN, rule_code
from viz.models.bars import period_index
from viz.models.profile import point_of_control, price_decimals
from viz.models.ticks import SIDE_BUY, SIDE_CODES, SIDE_SELL

__all__ = [
    "BarView", "FootprintBar", "FootprintConfig", "FootprintModel", "Stack", "diagonal_imbalances",
    "stacked_runs",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BOOL = npt.NDArray[np.bool_]
_U32_MAX = 0xFFFFFFFF  # Dhan exchange times are uint32
_BID, _ASK, _OTHER = 0, 1, 2  # columns of a level: sell-aggressor (bid) volume, buy (ask), unclassified


@dataclass(frozen=True, slots=True)
class FootprintConfig:
    """Exactly one of ``trades_per_bar`` (N-trade bars) and ``period_s`` (time bars) is set."""

    tick_size: float
    trades_per_bar: int | None = 100
    period_s: int | None = None
    imbalance_ratio: float = 1.5
    stacked_min: int = 3
    min_volume: int = 1

    def __post_init__(self) -> None:
        if not self.tick_size > 0:
            raise ValueError(f"tick size must be positive, got {self.tick_size!r}")
        if (self.trades_per_bar is None) == (self.period_s is None):
            raise ValueError("set exactly one of trades_per_bar and period_s")
        if (self.trades_per_bar or 1) < 1 or (self.period_s or 1) < 1:
            raise ValueError("bars need at least one trade or one second")
        if not self.imbalance_ratio > 0 or self.stacked_min < 1 or self.min_volume < 1:
            raise ValueError("imbalance ratio must be positive, stacked_min and min_volume at least 1")


def diagonal_imbalances(bid: npt.ArrayLike, ask: npt.ArrayLike, ratio: float,
                        min_volume: int = 1) -> tuple[BOOL, BOOL]:
    """``(buy, sell)`` masks over rows one tick apart, ascending (module docstring)."""
    b = np.asarray(bid, dtype=np.float64)
    a = np.asarray(ask, dtype=np.float64)
    bid_below = np.concatenate(([0.0], b[:-1]))  # bid volume one tick under each row; 0 under the lowest
    ask_above = np.concatenate((a[1:], [0.0]))
    buy = (a >= min_volume) & (a >= ratio * bid_below)
    sell = (b >= min_volume) & (b >= ratio * ask_above)
    return buy, sell


def stacked_runs(mask: npt.ArrayLike, min_run: int) -> list[tuple[int, int]]:
    """``(first, last)`` row indexes (inclusive) of every run of at least ``min_run`` consecutive Trues."""
    m = np.asarray(mask, dtype=np.int8)
    edges = np.diff(np.concatenate(([0], m, [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True) if e - s + 1 >= min_run]


@dataclass(frozen=True, slots=True)
class Stack:
    direction: Literal["buy", "sell"]
    low: float
    high: float
    levels: int


@dataclass(frozen=True, slots=True)
class BarView:
    """What a window paints of one bar: rows ascending by price, every tick from low to high."""

    price: F64
    bid: I64
    ask: I64
    other: I64
    buy_imbalance: BOOL
    sell_imbalance: BOOL
    stacks: tuple[Stack, ...]
    poc: float | None
    open: float
    high: float
    low: float
    close: float
    volume: int
    delta: int
    trades: int
    start_ts: int
    end_ts: int


class FootprintBar:
    """One bar's volume by price level (tick index -> [bid, ask, other]) and its OHLC as tick indexes."""

    __slots__ = ("close", "end_ts", "high", "levels", "low", "open", "period", "start_ts", "trades", "version")

    def __init__(self, tick: int, ts: int, period: int) -> None:
        self.levels: dict[int, list[int]] = {}
        self.open = self.high = self.low = self.close = tick
        self.start_ts = self.end_ts = ts
        self.period = period
        self.trades = 0
        self.version = 0

    def add(self, tick: int, qty: int, column: int, ts: int) -> None:
        level = self.levels.get(tick)
        if level is None:
            level = self.levels[tick] = [0, 0, 0]
        level[column] += qty
        self.high = max(self.high, tick)
        self.low = min(self.low, tick)
        self.close, self.end_ts = tick, ts
        self.trades += 1
        self.version += 1

    @property
    def delta(self) -> int:
        return sum(v[_ASK] - v[_BID] for v in self.levels.values())


def _column(side: int) -> int:
    return _ASK if side == SIDE_BUY else _BID if side == SIDE_SELL else _OTHER


def _rule(column: int, rule: int) -> int:
    """The rule a trade's volume counts under: none without a side; a side without a known rule, unknown."""
    if column == _OTHER:
        return RULE_NONE
    return rule if rule in (RULE_QUOTE, RULE_TICK) else RULE_UNKNOWN


class FootprintModel:
    """Footprint bars of one instrument and session, fed a trade at a time (:meth:`add_trade`) or in bulk
    (:meth:`extend`, the same result vectorised); :meth:`view` builds a bar's arrays on demand."""

    def __init__(self, config: FootprintConfig) -> None:
        self.config = config
        self.decimals = price_decimals(config.tick_size)
        self.bars: list[FootprintBar] = []
        self.rule_volume: I64 = np.zeros(4, np.int64)  # by rule code (viz.models.aggressor.RULE_*)
        self.rejected = 0  # trades with a bad price or quantity, left out
        self._views: dict[int, tuple[int, BarView]] = {}

    def clear(self) -> None:
        self.bars.clear()
        self.rule_volume[:] = 0
        self._views.clear()

    def _bar_for(self, tick: int, ts: int) -> FootprintBar:
        per_bar, period_s = self.config.trades_per_bar, self.config.period_s
        last = self.bars[-1] if self.bars else None
        if per_bar is not None:
            if last is not None and last.trades < per_bar:
                return last
            period = 0
        elif period_s is not None:
            period = int(period_index(ts, period_s))
            if last is not None and period <= last.period:
                return last  # a late trade joins the forming bar
        else:  # FootprintConfig guarantees one of the two
            raise AssertionError("no bar rule")
        bar = FootprintBar(tick, ts, period)
        self.bars.append(bar)
        return bar

    def add_trade(self, price: float, qty: int, side: int, rule: int, exchange_ts: int) -> bool:
        """One trade: ``side`` a ``viz.models.ticks.SIDE_*`` code, ``rule`` a ``RULE_*`` code. O(1).

        A bad price, quantity (0 included) or exchange time leaves the trade out and counts it in ``rejected``.
        """
        if values.price(price) is None or not values.quantity(qty) or values.exchange_ts(exchange_ts) is None:
            self.rejected += 1
            return False
        self._add(price, qty, side, rule, exchange_ts)
        return True

    def add_tick(self, event: Mapping[str, Any]) -> bool:
        """A tick event (``shared.events``), with the feed's ``rule`` field when it carries one."""
        price, qty = values.price(event.get("ltp")), values.quantity(event.get("qty"))
        ts = values.exchange_ts(event.get("exchange_ts"))
        if price is None or not qty or ts is None:
            self.rejected += 1
            return False
        side = event.get("side")
        self._add(price, qty, SIDE_CODES.get(side, 0), rule_code(side, event.get("rule")), ts)
        return True

    def _add(self, price: float, qty: int, side: int, rule: int, exchange_ts: int) -> None:
        tick = round(price / self.config.tick_size)
        column = _column(side)
        self._bar_for(tick, exchange_ts).add(tick, qty, column, exchange_ts)
        self.rule_volume[_rule(column, rule)] += qty

    def deltas(self) -> tuple[I64, I64]:
        """``(delta per bar, cumulative delta at the end of each bar)``, oldest bar first."""
        per_bar = np.fromiter((b.delta for b in self.bars), np.int64, len(self.bars))
        return per_bar, np.cumsum(per_bar)

    def rule_shares(self) -> dict[str, float]:
        """Share of the session's volume by how its side was found (``RULE_NAMES``); empty without volume."""
        total = int(self.rule_volume.sum())
        if total == 0:
            return {}
        return {RULE_NAMES[code]: int(v) / total for code, v in enumerate(self.rule_volume)}

    def view(self, index: int) -> BarView:
        bar = self.bars[index]
        cached = self._views.get(index)
        if cached is not None and cached[0] == bar.version:
            return cached[1]
        view = self._build_view(bar)
        self._views[index] = (bar.version, view)
        return view

    def _price(self, tick: int) -> float:
        return round(tick * self.config.tick_size, self.decimals)

    def _build_view(self, bar: FootprintBar) -> BarView:
        cfg, lo = self.config, bar.low
        rows = np.zeros((bar.high - lo + 1, 3), np.int64)
        for tick, level in bar.levels.items():
            rows[tick - lo] = level
        bid, ask, other = rows[:, _BID].copy(), rows[:, _ASK].copy(), rows[:, _OTHER].copy()
        prices = np.round(np.arange(lo, bar.high + 1, dtype=np.float64) * cfg.tick_size, self.decimals)
        buy, sell = diagonal_imbalances(bid, ask, cfg.imbalance_ratio, cfg.min_volume)
        stacks = [Stack("buy", float(prices[a]), float(prices[b]), b - a + 1)
                  for a, b in stacked_runs(buy, cfg.stacked_min)]
        stacks += [Stack("sell", float(prices[a]), float(prices[b]), b - a + 1)
                   for a, b in stacked_runs(sell, cfg.stacked_min)]
        poc = point_of_control(rows.sum(axis=1))
        return BarView(
            prices, bid, ask, other, buy, sell, tuple(stacks), float(prices[poc]) if poc >= 0 else None,
            self._price(bar.open), self._price(bar.high), self._price(bar.low), self._price(bar.close),
            int(rows.sum()), int(ask.sum() - bid.sum()), bar.trades, bar.start_ts, bar.end_ts,
        )

    def extend(self, price: npt.ArrayLike, qty: npt.ArrayLike, side: npt.ArrayLike, exchange_ts: npt.ArrayLike,
               rule: npt.ArrayLike | None = None) -> int:
        """Trades in bulk (history) with the result of adding them one by one; ``rule`` None: not recorded.

        Returns how many trades were taken (bad ones are left out and counted, as :meth:`add_trade`).
        """
        p, q, s, ts, r = _columns(price, qty, side, exchange_ts, rule)
        good = (p >= 0.0) & (p < PRICE_MAX) & (q > 0) & (ts > 0) & (ts <= _U32_MAX)  # NaN fails
        self.rejected += int(len(p) - good.sum())
        p, q, s, ts, r = p[good], q[good], s[good], ts[good], r[good]
        if len(p) == 0:
            return 0
        ticks = np.rint(p / self.config.tick_size).astype(np.int64)
        col = np.where(s == SIDE_BUY, _ASK, np.where(s == SIDE_SELL, _BID, _OTHER))
        bar_of, periods = self._assign_bars(ts)
        starts = np.flatnonzero(np.concatenate(([True], bar_of[1:] != bar_of[:-1])))
        ends = np.append(starts[1:], len(p)) - 1
        highs, lows = np.maximum.reduceat(ticks, starts), np.minimum.reduceat(ticks, starts)
        for g, (a, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            if bar_of[a] == len(self.bars):
                self.bars.append(FootprintBar(int(ticks[a]), int(ts[a]), int(periods[a])))
            bar = self.bars[bar_of[a]]
            bar.high, bar.low = max(bar.high, int(highs[g])), min(bar.low, int(lows[g]))
            bar.close, bar.end_ts = int(ticks[e]), int(ts[e])
            bar.trades += e - a + 1
            bar.version += 1
        order = np.lexsort((col, ticks, bar_of))
        keys = np.stack((bar_of[order], ticks[order], col[order]))
        first = np.flatnonzero(np.concatenate(([True], np.any(keys[:, 1:] != keys[:, :-1], axis=0))))
        sums = np.add.reduceat(q[order], first)
        for b, t, c, v in zip(*keys[:, first].tolist(), sums.tolist(), strict=True):
            self.bars[b].levels.setdefault(t, [0, 0, 0])[c] += v
        r = np.where(col == _OTHER, RULE_NONE, np.where((r == RULE_QUOTE) | (r == RULE_TICK), r, RULE_UNKNOWN))
        self.rule_volume += np.bincount(r, weights=q, minlength=4).astype(np.int64)
        return len(p)

    def _assign_bars(self, ts: I64) -> tuple[I64, I64]:
        """``(bar index, period)`` of each trade, as :meth:`_bar_for` would give them one by one."""
        per_bar, period_s, n = self.config.trades_per_bar, self.config.period_s, len(ts)
        last = self.bars[-1] if self.bars else None
        if per_bar is not None:
            partial = last is not None and last.trades < per_bar
            base, offset = (len(self.bars) - 1, last.trades) if partial and last else (len(self.bars), 0)
            return base + (offset + np.arange(n, dtype=np.int64)) // per_bar, np.zeros(n, np.int64)
        if period_s is None:  # FootprintConfig guarantees one of the two
            raise AssertionError("no bar rule")
        periods = np.asarray(period_index(ts, period_s), dtype=np.int64)
        if last is not None:
            periods = np.maximum(periods, last.period)  # a late trade joins the forming bar
        periods = np.maximum.accumulate(periods)
        new = np.empty(n, np.bool_)
        new[0] = last is None or periods[0] > last.period
        new[1:] = periods[1:] != periods[:-1]
        return len(self.bars) - 1 + np.cumsum(new), periods


def _columns(price: npt.ArrayLike, qty: npt.ArrayLike, side: npt.ArrayLike, exchange_ts: npt.ArrayLike,
             rule: npt.ArrayLike | None) -> tuple[F64, I64, I64, I64, I64]:
    p = np.asarray(price, dtype=np.float64)
    q = np.asarray(qty, dtype=np.int64)
    s = np.asarray(side, dtype=np.int64)
    ts = np.asarray(exchange_ts, dtype=np.int64)
    r = np.full(len(p), RULE_UNKNOWN, np.int64) if rule is None else np.asarray(rule, dtype=np.int64)
    if not len(p) == len(q) == len(s) == len(ts) == len(r):
        raise ValueError("trade columns differ in length")
    return p, q, s, ts, r
