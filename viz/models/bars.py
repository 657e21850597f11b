"""Bars from trades: candles of N trades each (tick chart) and of fixed time periods (pure numpy).

:class:`TickBars` groups trades in arrival order into bars of ``trades_per_bar`` trades; the last bar is
"forming" until it holds N trades. :func:`time_bars` groups trades by period of the session clock.
Both keep open/high/low/close, volume (sum of trade ``qty``), buy and sell volume and the trade count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.candles import SESSION_OPEN_S
from viz.models.ticks import SIDE_BUY, SIDE_SELL, TickSeries

__all__ = ["SESSION_ORIGIN_S", "TICKS_PER_BAR_CHOICES", "Bars", "TickBars", "period_index", "period_start", "time_bars"]

TICKS_PER_BAR_CHOICES = (10, 25, 50, 100, 200, 500)
SESSION_ORIGIN_S = SESSION_OPEN_S["NSE_FNO"]  # periods are counted from the NSE open (09:15 IST)
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Bars:
    """Columns of bars, oldest first. ``start_ts``/``end_ts``: Dhan exchange time of first/last trade."""

    open: F64
    high: F64
    low: F64
    close: F64
    volume: I64
    buy: I64
    sell: I64
    count: I64
    start_ts: I64
    end_ts: I64

    def __len__(self) -> int:
        return len(self.open)


def _group_bars(ticks: TickSeries, starts: npt.NDArray[np.intp]) -> Bars:
    """Bars over consecutive groups of trades beginning at ``starts`` (ascending) up to the last trade."""
    n = len(ticks)
    if n == 0 or len(starts) == 0:
        z_f: F64 = np.zeros(0, np.float64)
        z_i: I64 = np.zeros(0, np.int64)
        return Bars(z_f, z_f, z_f, z_f, z_i, z_i, z_i, z_i, z_i, z_i)
    first = int(starts[0])  # bars from trade ``first`` on (TickBars recomputes only its newest bars)
    price, qty, side = ticks.price[first:], ticks.qty[first:], ticks.side[first:]
    starts = starts - first
    ends = np.append(starts[1:], n - first) - 1
    buy_q = np.where(side == SIDE_BUY, qty, 0)
    sell_q = np.where(side == SIDE_SELL, qty, 0)
    return Bars(
        open=price[starts].copy(),
        high=np.maximum.reduceat(price, starts),
        low=np.minimum.reduceat(price, starts),
        close=price[ends].copy(),
        volume=np.add.reduceat(qty, starts),
        buy=np.add.reduceat(buy_q, starts),
        sell=np.add.reduceat(sell_q, starts),
        count=(ends - starts + 1).astype(np.int64),
        start_ts=ticks.exchange_ts[first:][starts].copy(),
        end_ts=ticks.exchange_ts[first:][ends].copy(),
    )


class TickBars:
    """Candles of ``trades_per_bar`` trades over a :class:`TickSeries`, the last one possibly forming.

    ``bars()`` recomputes vectorised from the columns (a day of trades in a few milliseconds) but only when
    trades were added since the last call, so a repaint timer may call it every frame.
    """

    def __init__(self, ticks: TickSeries, trades_per_bar: int = 100) -> None:
        if trades_per_bar < 1:
            raise ValueError("trades_per_bar must be at least 1")
        self.ticks = ticks
        self.trades_per_bar = trades_per_bar
        self._cache: tuple[int, int, Bars] | None = None

    def set_trades_per_bar(self, n: int) -> None:
        if n < 1:
            raise ValueError("trades_per_bar must be at least 1")
        self.trades_per_bar = n

    @property
    def forming(self) -> bool:
        """True when the last bar holds fewer than N trades."""
        return len(self.ticks) % self.trades_per_bar != 0

    def bars(self) -> Bars:
        """The bars of every trade so far. After appends only the bars from the last one cached on are
        computed again (the closed ones before it cannot change); a shorter series or another N: all."""
        n, per = len(self.ticks), self.trades_per_bar
        cache = self._cache
        if cache is not None and cache[:2] == (n, per):
            return cache[2]
        keep = 0
        if cache is not None and cache[1] == per and cache[0] < n:
            keep = max(0, len(cache[2]) - 1)  # every cached bar but the last was closed
        starts = np.arange(keep * per, n, per, dtype=np.intp)
        result = _group_bars(self.ticks, starts)
        if keep:
            old = cache[2] if cache is not None else result
            result = Bars(*(np.concatenate((getattr(old, f)[:keep], getattr(result, f)))
                            for f in Bars.__dataclass_fields__))
        self._cache = (n, per, result)
        return result

    def closed_count(self) -> int:
        return len(self.ticks) // self.trades_per_bar


def period_index(exchange_ts: Any, period_s: int, origin_s: int = SESSION_ORIGIN_S) -> Any:
    """Period number of Dhan exchange times (IST wall clock as epoch): 0 is the one starting at 09:15."""
    ts = np.asarray(exchange_ts, dtype=np.int64)
    day = ts // 86_400 * 86_400
    return (ts - day - origin_s) // period_s


def period_start(exchange_ts: int, period_s: int, origin_s: int = SESSION_ORIGIN_S) -> int:
    day = exchange_ts // 86_400 * 86_400
    return day + origin_s + int((exchange_ts - day - origin_s) // period_s) * period_s


def time_bars(ticks: TickSeries, period_s: int, origin_s: int = SESSION_ORIGIN_S) -> tuple[I64, Bars]:
    """``(period start times, bars)``: one bar per period that has trades (Dhan exchange time)."""
    if len(ticks) == 0:
        return np.zeros(0, np.int64), _group_bars(ticks, np.zeros(0, np.intp))
    ts = ticks.exchange_ts
    periods = period_index(ts, period_s, origin_s)
    day = ts // 86_400 * 86_400
    change = np.flatnonzero(np.diff(periods) != 0) + 1
    starts = np.concatenate(([0], change)).astype(np.intp)
    period_start_ts = day[starts] + origin_s + periods[starts] * period_s
    return period_start_ts.astype(np.int64), _group_bars(ticks, starts)
