"""Previous sessions on today's charts (pure): yesterday's POC/VAH/VAL, naked POCs, and N-trade bars over days.

:class:`PriorSessions` takes the last N sessions before the shown one, each as a :class:`PriorDay`: its price
ladder (volume at every tick, from ``dhan_ticks`` grouped by price) and its one-minute ranges (``low``/``high``
of ``dhan_candles_1m``, oldest first). With the chart's row size and value-area rule it gives:

* ``yesterday``: the levels of the latest prior session (:func:`viz.models.sessions.session_levels`);
* naked POCs: the POC of each session *before* yesterday (yesterday's is drawn as its own level) that no later
  trade reached. A POC is a profile row, ``[poc, poc + row)`` (``poc`` its lowest price, as the profile labels
  rows): a trade at ``p`` reaches it when ``poc <= p < poc + row``, a minute when its range meets the row. The
  prior sessions' minutes are replayed in time order (each minute can only reach POCs of earlier sessions);
  POCs reached before today are gone. Today's trades (:meth:`PriorSessions.touch`) end the others' lines: a
  :class:`~viz.models.sessions.PocLine` with ``touched_at`` the exchange time of the first trade that reached
  it. The session's own trades never count.

A change of row size or value-area rule is a new :class:`PriorSessions` (its POCs are other rows); the window
then touches it again with the session's trades so far (vectorised, :meth:`touch`).

:func:`day_bars` concatenates per-day N-trade bars (a bar never spans two sessions) for the tick chart's
"last N days", and :func:`day_starts` gives the first bar of each day for its separators; :class:`DaysBars`
keeps the previous sessions' bars and joins today's to them, recomputing only what changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt

from viz.models.bars import Bars, TickBars
from viz.models.profile import PriceLadder, ValueAreaMethod
from viz.models.sessions import NakedPocs, PocLine, SessionLevels, session_levels

__all__ = ["DaysBars", "PriorDay", "PriorSessions", "day_bars", "day_starts"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class PriorDay:
    """One previous session: its ladder and its one-minute ranges (``minute_ts`` Dhan epoch, ascending)."""

    day: date
    ladder: PriceLadder
    minute_ts: I64
    low: F64
    high: F64


class PriorSessions:
    """Yesterday's levels and the naked POCs of earlier sessions, for one row size and value-area rule."""

    def __init__(self, days: Sequence[PriorDay], ticks_per_row: int = 1, *, fraction: float = 0.70,
                 method: ValueAreaMethod = "cbot") -> None:
        ordered = sorted(days, key=lambda d: d.day)
        self.ticks_per_row = max(1, int(ticks_per_row))
        self.row = ordered[0].ladder.tick_size * self.ticks_per_row if ordered else 0.0
        self._eps = self.row / (2 * self.ticks_per_row) if ordered else 0.0  # half a tick: float slack
        levels = [(d, session_levels(d.day, d.ladder, self.ticks_per_row, fraction, method)) for d in ordered]
        with_levels = [lv for _, lv in levels if lv is not None]
        self.yesterday: SessionLevels | None = with_levels[-1] if with_levels else None
        self.sessions = with_levels
        self._naked = NakedPocs()
        for prior, lv in levels:  # each session's minutes first (they reach only earlier POCs), then its POC
            for ts, lo, hi in zip(prior.minute_ts.tolist(), prior.low.tolist(), prior.high.tolist(), strict=True):
                self._reach(lo, hi, int(ts))
            if lv is not None and lv is not self.yesterday:
                self._naked.add_session(lv)
        self._start = {(line.day, line.price) for line in self._naked.naked}  # naked as today began
        self._today: list[PocLine] = []

    def _reach(self, low: float, high: float, at: int) -> list[PocLine]:
        """POCs whose row ``[poc, poc + row)`` meets ``[low, high]``: ``low - row < poc <= high``."""
        return self._naked.touch(low - self.row + self._eps, high + self._eps, at)

    def touch(self, price: Any, exchange_ts: Any) -> int:
        """Today's trades (arrays or scalars, in time order) reach naked POCs; returns how many they ended."""
        naked = self._naked.naked
        if not naked:
            return 0
        p = np.atleast_1d(np.asarray(price, dtype=np.float64))
        ts = np.atleast_1d(np.asarray(exchange_ts, dtype=np.int64))
        if not len(p):
            return 0
        ended = 0
        for line in naked:  # a handful of POCs: one vectorised scan each
            hit = np.flatnonzero((p > line.price - self._eps) & (p < line.price + self.row - self._eps))
            if len(hit):
                at = int(ts[hit[0]])
                ended += len(self._naked.touch(line.price - self._eps, line.price + self._eps, at))
                self._today.append(PocLine(line.day, line.price, at))
        return ended

    def naked_lines(self) -> list[PocLine]:
        """The POCs naked when today began, oldest session first: still naked (``touched_at`` None) or ended
        by a trade of today (``touched_at`` its exchange time)."""
        today = [line for line in self._today if (line.day, line.price) in self._start]
        return sorted([*today, *self._naked.naked], key=lambda line: (line.day, line.price))


def day_bars(per_day: Sequence[Bars]) -> Bars:
    """Bars of several sessions side by side, oldest first (each session's own N-trade bars)."""
    fields = Bars.__dataclass_fields__
    if len(per_day) == 1:
        return per_day[0]
    return Bars(*(np.concatenate([getattr(b, f) for b in per_day]) for f in fields))


def day_starts(per_day: Sequence[Bars]) -> list[int]:
    """Index of each session's first bar in :func:`day_bars` (sessions without bars are skipped)."""
    return [k for k in _firsts(per_day) if k >= 0]


class DaysBars:
    """The tick chart's bars over previous sessions and today: each session's own N-trade bars, side by side.

    The previous sessions' bars come made (:func:`viz.data.prior.fetch_trade_bars`) for one bar size;
    :meth:`bars` joins today's (:class:`~viz.models.bars.TickBars`, which caches its own until a trade
    arrives) after them while the sizes agree (after a change of size, today's alone until the reload).
    """

    def __init__(self) -> None:
        self.prior: list[Bars] = []
        self.trades_per_bar = 0  # of ``prior``
        self._joined: tuple[Bars, Bars] | None = None  # (today's bars object, the join)
        self.version = 0  # changes with the previous sessions (a redraw of the closed bars)

    def set_prior(self, prior: Sequence[Bars], trades_per_bar: int) -> None:
        self.prior = [b for b in prior if len(b)]
        self.trades_per_bar = trades_per_bar
        self._joined = None
        self.version += 1

    def shown(self, today: TickBars) -> list[Bars]:
        """The previous sessions' bars shown with ``today``'s (none while their bar size differs)."""
        return self.prior if self.trades_per_bar == today.trades_per_bar else []

    def bars(self, today: TickBars) -> Bars:
        own = today.bars()
        prior = self.shown(today)
        if not prior:
            return own
        joined = self._joined
        if joined is None or joined[0] is not own:
            joined = (own, day_bars([*prior, own]))
            self._joined = joined
        return joined[1]

    def starts(self, today: TickBars) -> list[tuple[int, int]]:
        """``(first bar index, its session's first exchange time)`` of every session shown, today included."""
        per_day = [*self.shown(today), today.bars()]
        return [(k, int(per_day[i].start_ts[0])) for i, k in enumerate(_firsts(per_day)) if k >= 0]


def _firsts(per_day: Sequence[Bars]) -> list[int]:
    """Per session, the index of its first bar in :func:`day_bars`, -1 for a session without bars."""
    out, k = [], 0
    for bars in per_day:
        out.append(k if len(bars) else -1)
        k += len(bars)
    return out
