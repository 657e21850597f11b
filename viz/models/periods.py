"""Session split into periods, each with its own volume profile (the volume-profile chart's model).

Periods are ``period_s`` long, counted from 09:15 IST on Dhan's exchange clock (1, 5, 15, 30 or 60 minutes).
Each period keeps a :class:`PriceLadder` and its OHLC; its POC/VAH/VAL come from
:meth:`Profile.stats`. The session ladder accumulates every period, and the developing POC is the
session's POC as it stood at the end of each period (the last value moves with the forming period).
Adding a trade is O(1); :meth:`PeriodProfiles.rebuild` recomputes everything vectorised from a
:class:`TickSeries` (history loads, and a change of period or row size).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from viz.models import values
from viz.models.bars import SESSION_ORIGIN_S, period_index
from viz.models.profile import PriceLadder, Profile, ProfileStats, ValueAreaMethod, point_of_control
from viz.models.ticks import TickSeries

__all__ = ["PERIOD_MINUTES_CHOICES", "Period", "PeriodProfiles"]

PERIOD_MINUTES_CHOICES = (1, 5, 15, 30, 60)


@dataclass(slots=True)
class Period:
    index: int
    start_ts: int  # Dhan exchange time of the period's start
    ladder: PriceLadder
    open: float = 0.0
    high: float = float("-inf")
    low: float = float("inf")
    close: float = 0.0
    volume: int = 0
    trades: int = 0
    _stats: tuple[int, str, float, ProfileStats, Profile] | None = field(default=None, repr=False)

    def add(self, price: float, qty: int, side: int) -> None:
        if self.trades == 0:
            self.open = price
        self.close = price
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.volume += qty
        self.trades += 1
        self.ladder.add(price, qty, side)
        self._stats = None

    def profile_and_stats(
        self, ticks_per_row: int, method: ValueAreaMethod, fraction: float
    ) -> tuple[Profile, ProfileStats]:
        cached = self._stats
        if cached is not None and cached[:3] == (ticks_per_row, method, fraction):
            return cached[4], cached[3]
        profile = self.ladder.profile(ticks_per_row)
        stats = profile.stats(fraction, method)
        self._stats = (ticks_per_row, method, fraction, stats, profile)
        return profile, stats


class PeriodProfiles:
    """Per-period profiles of one instrument's session, the session profile and the developing POC."""

    def __init__(
        self,
        tick_size: float,
        *,
        period_s: int = 300,
        ticks_per_row: int = 1,
        method: ValueAreaMethod = "cbot",
        fraction: float = 0.70,
        origin_s: int = SESSION_ORIGIN_S,
    ) -> None:
        self.tick_size = tick_size
        self.period_s = period_s
        self.ticks_per_row = ticks_per_row
        self.method: ValueAreaMethod = method
        self.fraction = fraction
        self.origin_s = origin_s
        self.periods: list[Period] = []
        self.session = PriceLadder(tick_size)
        self._dpoc: list[float | None] = []  # session POC at the end of each closed period

    def _new_period(self, index: int, exchange_ts: int) -> Period:
        day = exchange_ts // 86_400 * 86_400
        p = Period(index, day + self.origin_s + index * self.period_s, PriceLadder(self.tick_size))
        if self.periods:
            # the session POC as the previous period closed
            self._dpoc.append(self._session_poc())
        self.periods.append(p)
        return p

    def _session_poc(self) -> float | None:
        prof = self.session.profile(self.ticks_per_row)
        row = point_of_control(prof.total)
        return float(prof.price[row]) if row >= 0 else None

    def add(self, price: float, qty: int, side: int, exchange_ts: int) -> None:
        if values.price(price) is None or values.quantity(qty) is None or values.exchange_ts(exchange_ts) is None:
            return  # a bad value belongs to no period
        index = int(period_index(exchange_ts, self.period_s, self.origin_s))
        day_start = exchange_ts // 86_400 * 86_400
        last = self.periods[-1] if self.periods else None
        if last is None or index != last.index or last.start_ts // 86_400 * 86_400 != day_start:
            last = self._new_period(index, exchange_ts)
        last.add(price, qty, side)
        self.session.add(price, qty, side)

    def rebuild(self, ticks: TickSeries) -> None:
        """Recompute every period from ``ticks`` (in arrival order)."""
        self.periods = []
        self._dpoc = []
        self.session = PriceLadder(self.tick_size)
        n = len(ticks)
        if n == 0:
            return
        ts, price, qty, side = ticks.exchange_ts, ticks.price, ticks.qty, ticks.side
        idx = period_index(ts, self.period_s, self.origin_s)
        day = ts // 86_400
        change = np.flatnonzero((np.diff(idx) != 0) | (np.diff(day) != 0)) + 1
        bounds = np.concatenate(([0], change, [n]))
        for a, b in itertools.pairwise(bounds):
            if self.periods:
                self._dpoc.append(self._session_poc())
            d0 = int(day[a]) * 86_400
            p = Period(int(idx[a]), d0 + self.origin_s + int(idx[a]) * self.period_s, PriceLadder(self.tick_size))
            seg_p = price[a:b]
            p.ladder.add_many(seg_p, qty[a:b], side[a:b])
            p.open, p.close = float(seg_p[0]), float(seg_p[-1])
            p.high, p.low = float(seg_p.max()), float(seg_p.min())
            p.volume, p.trades = int(qty[a:b].sum()), int(b - a)
            self.periods.append(p)
            self.session.add_many(seg_p, qty[a:b], side[a:b])

    def set_rows(self, ticks_per_row: int, ticks: TickSeries) -> None:
        self.ticks_per_row = ticks_per_row
        self.rebuild(ticks)

    def developing_poc(self) -> list[float | None]:
        """Session POC at the end of each period, the last one as of now (one value per period)."""
        if not self.periods:
            return []
        return [*self._dpoc, self._session_poc()]

    def period_stats(self) -> list[tuple[Period, Profile, ProfileStats]]:
        out = []
        for p in self.periods:
            prof, stats = p.profile_and_stats(self.ticks_per_row, self.method, self.fraction)
            out.append((p, prof, stats))
        return out

    def session_profile(self) -> tuple[Profile, ProfileStats]:
        prof = self.session.profile(self.ticks_per_row)
        return prof, prof.stats(self.fraction, self.method)
