"""Levels of previous sessions on the volume profile: yesterday's POC/VAH/VAL and naked POCs (pure).

A session's levels come from its profile by the volume profile's own rules (:meth:`Profile.stats`: POC ties
nearest the middle of the range then lower, value area by the chosen method), with the session's traded
high and low. "Yesterday" is the latest session before today that has levels (a holiday or a day without
data is skipped).

Naked POC: a session's POC that no later trade has reached. It stays naked until a later session trades at
or through it, that is until some later range ``[low, high]`` holds it (``low <= poc <= high``); a gap over
it between two sessions (the close below, the next open above) does not count, as no trade was at the level.
The session's own trades never count (they made the POC). The level is the POC row's price, its lowest
price as the profile labels rows.

:class:`NakedPocs` keeps the POCs sorted by price: a trade or bar range removes the POCs it reaches with two
binary searches, O(log n) plus what it removes; it also keeps when each was reached, so a chart can draw a
line from its session to the bar that touched it, or to now while it is naked.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from viz.models.profile import PriceLadder, ValueAreaMethod

__all__ = ["NakedPocs", "PocLine", "SessionLevels", "poc_lines", "previous_levels", "session_levels"]


@dataclass(frozen=True, slots=True)
class SessionLevels:
    """A session's profile levels and traded range (prices)."""

    day: date
    poc: float
    vah: float
    val: float
    high: float
    low: float


@dataclass(frozen=True, slots=True)
class PocLine:
    """A session's POC as a line: from its session until ``touched_at``, the exchange time (Dhan epoch) or
    session day the caller gave with the touching trade; None while naked."""

    day: date
    price: float
    touched_at: int | date | None = None

    @property
    def naked(self) -> bool:
        return self.touched_at is None


def session_levels(day: date, ladder: PriceLadder, ticks_per_row: int = 1, fraction: float = 0.70,
                   method: ValueAreaMethod = "cbot") -> SessionLevels | None:
    """The levels of one session's :class:`PriceLadder` (rows of ``ticks_per_row`` ticks); None without
    volume. High and low are the traded extremes at tick resolution."""
    stats = ladder.profile(ticks_per_row).stats(fraction, method)
    if stats.poc is None or stats.vah is None or stats.val is None:
        return None
    traded = ladder.profile(1).price
    return SessionLevels(day, stats.poc, stats.vah, stats.val, float(traded[-1]), float(traded[0]))


def previous_levels(history: Iterable[SessionLevels], today: date) -> SessionLevels | None:
    """The levels of the latest session before ``today`` (None when there is none)."""
    earlier = [s for s in history if s.day < today]
    return max(earlier, key=lambda s: s.day) if earlier else None


class NakedPocs:
    """POCs of past sessions that no later trade has reached, sorted by price.

    Feed it in time order: :meth:`add_session` when a session ends (its POC becomes a candidate), and every
    later trade or bar with :meth:`touch` (the session's own trades must not be touched after its POC was
    added).
    """

    def __init__(self) -> None:
        self._prices: list[float] = []  # naked POC prices, ascending
        self._days: list[date] = []  # the session of each, same order
        self._touched: list[PocLine] = []

    def add_session(self, levels: SessionLevels) -> None:
        i = bisect.bisect_right(self._prices, levels.poc)
        self._prices.insert(i, levels.poc)
        self._days.insert(i, levels.day)

    def touch(self, low: float, high: float, at: int | date) -> list[PocLine]:
        """A later trade (``low == high``) or bar range; returns the POCs it reached, now no longer naked."""
        lo = bisect.bisect_left(self._prices, low)
        hi = bisect.bisect_right(self._prices, high)
        if lo >= hi:
            return []
        reached = [PocLine(d, p, at) for p, d in zip(self._prices[lo:hi], self._days[lo:hi], strict=True)]
        del self._prices[lo:hi], self._days[lo:hi]
        self._touched.extend(reached)
        return reached

    @property
    def naked(self) -> list[PocLine]:
        """The POCs still naked, ascending by price."""
        return [PocLine(d, p) for p, d in zip(self._prices, self._days, strict=True)]

    def lines(self) -> list[PocLine]:
        """Every POC seen, naked or touched, oldest session first (the chart's lines)."""
        return sorted([*self._touched, *self.naked], key=lambda line: (line.day, line.price))


def poc_lines(history: Sequence[SessionLevels], today_low: float | None = None,
              today_high: float | None = None, today: date | None = None) -> list[PocLine]:
    """The POC lines of ``history`` (any order) by session ranges: each POC is touched by the first later
    session whose range holds it (``touched_at`` that session's day), then by today's range so far when
    ``today`` and its range are given."""
    tracker = NakedPocs()
    for levels in sorted(history, key=lambda s: s.day):
        tracker.touch(levels.low, levels.high, levels.day)
        tracker.add_session(levels)
    if today is not None and today_low is not None and today_high is not None:
        tracker.touch(today_low, today_high, today)
    return tracker.lines()
