"""Market breadth of a basket (NIFTY 50): advances, declines, unchanged against the previous close.

A stock advances when its last price is above its previous close, declines when below, and is unchanged
when equal (prices are compared in whole ticks, so float noise never flips a stock). A stock without a
price or a previous close yet is "not traded" and counts in none of the three. The A/D ratio is advances
over declines (``None`` with no declines). The intraday A/D line is net advances (A - D) sampled once per
minute of exchange time: each minute holds the state at its last update, so a quiet minute repeats the one
before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from viz.models import values

__all__ = ["Breadth", "BreadthCounts", "Stock"]


@dataclass(slots=True)
class Stock:
    key: str
    symbol: str
    tick_size: float = 0.05
    prev_close: float | None = None
    ltp: float | None = None
    updated_ts: int = 0

    @property
    def change_pct(self) -> float | None:
        if self.ltp is None or not self.prev_close:
            return None
        return (self.ltp - self.prev_close) / self.prev_close * 100.0

    @property
    def direction(self) -> int | None:
        """+1 up, -1 down, 0 unchanged, None not traded."""
        if self.ltp is None or self.prev_close is None:
            return None
        diff = round((self.ltp - self.prev_close) / self.tick_size)
        return (diff > 0) - (diff < 0)


@dataclass(frozen=True, slots=True)
class BreadthCounts:
    advances: int
    declines: int
    unchanged: int
    not_traded: int

    @property
    def net(self) -> int:
        return self.advances - self.declines

    @property
    def ratio(self) -> float | None:
        return self.advances / self.declines if self.declines else None


@dataclass
class Breadth:
    """Stocks by key, their counts now, and net advances per minute of the session."""

    stocks: dict[str, Stock] = field(default_factory=dict)
    minutes: list[int] = field(default_factory=list)  # exchange time of each minute (start), ascending
    net: list[int] = field(default_factory=list)
    advances_line: list[int] = field(default_factory=list)
    declines_line: list[int] = field(default_factory=list)
    line_version: int = 0  # bumped whenever the line changes: a chart redraws it only then

    def add_stock(self, key: str, symbol: str, tick_size: float = 0.05) -> Stock:
        stock = self.stocks.get(key)
        if stock is None:
            stock = self.stocks[key] = Stock(key, symbol, tick_size)
        return stock

    def counts(self) -> BreadthCounts:
        a = d = u = n = 0
        for s in self.stocks.values():
            direction = s.direction
            if direction is None:
                n += 1
            elif direction > 0:
                a += 1
            elif direction < 0:
                d += 1
            else:
                u += 1
        return BreadthCounts(a, d, u, n)

    def update(
        self, key: str, *, ltp: float | None = None, prev_close: float | None = None, exchange_ts: int | None = None
    ) -> bool:
        """Apply a price and/or previous close to a basket stock; False when the key is not in the basket.

        A bad value (:mod:`viz.models.values`) is taken as missing."""
        stock = self.stocks.get(key)
        if stock is None:
            return False
        ltp, prev_close = values.price(ltp), values.price(prev_close)
        exchange_ts = values.exchange_ts(exchange_ts)
        if prev_close:
            stock.prev_close = prev_close
        if ltp:
            stock.ltp = ltp
        if exchange_ts:
            stock.updated_ts = max(stock.updated_ts, exchange_ts)
            self.sample(exchange_ts)
        return True

    def sample(self, exchange_ts: int) -> None:
        """Record the counts as of now in the minute of ``exchange_ts`` (earlier minutes stay fixed)."""
        minute = exchange_ts - exchange_ts % 60
        c = self.counts()
        if self.minutes and minute < self.minutes[-1]:
            return  # late update for a past minute: the line keeps its recorded shape
        if self.minutes and minute == self.minutes[-1]:
            if (self.net[-1], self.advances_line[-1], self.declines_line[-1]) != (c.net, c.advances, c.declines):
                self.net[-1], self.advances_line[-1], self.declines_line[-1] = c.net, c.advances, c.declines
                self.line_version += 1
            return
        self.line_version += 1
        self.minutes.append(minute)
        self.net.append(c.net)
        self.advances_line.append(c.advances)
        self.declines_line.append(c.declines)

    def replay_minutes(self, rows: list[tuple[str, int, float]]) -> None:
        """Build the A/D line from history: ``(key, minute exchange ts, last price in that minute)`` rows.

        Rows are applied minute by minute (prices carried forward), sampling once per minute; the stocks'
        previous closes must be set first.
        """
        self.minutes, self.net, self.advances_line, self.declines_line = [], [], [], []
        self.line_version += 1
        current: int | None = None
        for key, minute, price in sorted(rows, key=lambda r: r[1]):
            if current is not None and minute != current:
                self.sample(current)
            current = minute
            stock = self.stocks.get(key)
            if stock is not None:
                stock.ltp = price
                stock.updated_ts = max(stock.updated_ts, minute)
        if current is not None:
            self.sample(current)

    def line(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        return np.asarray(self.minutes, dtype=np.int64), np.asarray(self.net, dtype=np.int64)

    def by_change(self) -> list[Stock]:
        """Stocks from the biggest gainer to the biggest loser (not traded last, by symbol)."""
        return sorted(
            self.stocks.values(),
            key=lambda s: (s.change_pct is None, -(s.change_pct or 0.0), s.symbol),
        )
