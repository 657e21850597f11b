"""Market profile by time (TPO): 30-minute periods lettered A-Z then a-z (pure; numpy for history).

A period's TPOs are every price row from its lowest to its highest trade (the standard marking: a price
the market passed through in a period counts for that period, traded exactly or not). Periods are
``period_s`` (30 min) long from the session open (``shared.candles.session_open_s``: 09:15 NSE, 09:00 MCX)
and half-open: a trade at 09:45:00 is period B's. Trades before the open (the NSE pre-open auction) count in
period A, the opening period, so the profile holds every trade of the day; index 51 ("z") would take anything
past 26 hours, which a trading day never reaches (MCX's longest day is 30 periods, A to d).

Rows are those of the volume profile (:mod:`viz.models.profile`): ``ticks_per_row`` ticks each, labelled by
their lowest price. Each period keeps only its lowest and highest tick, so adding a trade is O(1), the row size
can change at any time, and a 1-minute candle adds as its low..high range (:meth:`TpoProfile.add_range`), the
same ranges as its ticks.

Derived figures, by TPO count per row:

* **POC**: the row with the most TPOs; ties go to the row nearest the middle of the day's range, then to the
  lower price (:func:`viz.models.profile.point_of_control`, the rule the volume profile uses).
* **Value area**: the rows around the POC holding 70 % of the TPOs, expanded by the volume profile's rule
  (:func:`viz.models.profile.value_area`, CBOT two-row pairs by default). VAH/VAL: its highest/lowest rows.
* **Initial balance (IB)**: the range of the first hour, periods A and B (only A while B is forming; None
  without either). **Range extensions**: every later period trading above the IB high (up) or below the IB low
  (down); a period may extend both ways.
* **Single prints**: rows inside the day's range with exactly one TPO (the extremes' tails included; rows
  with no TPO, where price gapped between periods, are not prints at all).

:meth:`TpoProfile.stats` returns the volume profile's :class:`ProfileStats`, so a window switches between
TPO and volume by switching the source of one object.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from viz.models.profile import ProfileStats, ValueAreaMethod, point_of_control, price_decimals, value_area

__all__ = ["IB_PERIODS", "LETTERS", "TPO_PERIOD_S", "Extension", "InitialBalance", "TpoProfile", "period_letter"]

TPO_PERIOD_S = 1_800
LETTERS = string.ascii_uppercase + string.ascii_lowercase
IB_PERIODS = 2  # the first hour
_NONE = np.iinfo(np.int64).max  # "no trade yet" as a period's low tick (its high is -_NONE)
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def period_letter(period: int) -> str:
    """``0 -> "A"`` ... ``25 -> "Z"``, ``26 -> "a"`` ... ``51 -> "z"``."""
    return LETTERS[period]


@dataclass(frozen=True, slots=True)
class InitialBalance:
    low: float
    high: float
    periods: int  # how many of the IB periods have traded (1 while B is forming)


@dataclass(frozen=True, slots=True)
class Extension:
    """A period trading beyond the initial balance: ``up`` above its high, else below its low; ``price`` is
    the period's extreme on that side."""

    period: int
    letter: str
    up: bool
    price: float


class TpoProfile:
    """TPOs of one instrument in one session opening at ``open_ts`` (Dhan epoch)."""

    __slots__ = ("_high", "_low", "decimals", "open_ts", "period_s", "tick_size")

    def __init__(self, tick_size: float, open_ts: int, period_s: int = TPO_PERIOD_S) -> None:
        if not tick_size > 0 or period_s <= 0:
            raise ValueError(f"tick size and period must be positive, got {tick_size!r} and {period_s!r}")
        self.tick_size = float(tick_size)
        self.decimals = price_decimals(self.tick_size)
        self.open_ts = open_ts
        self.period_s = period_s
        # per period, in ticks; Python lists: a live add is a few list operations, not numpy scalar calls
        self._low: list[int] = [_NONE] * len(LETTERS)
        self._high: list[int] = [-_NONE] * len(LETTERS)

    # --- adding ---
    def period_of(self, ts: Any) -> Any:
        """Period index of exchange times, clamped to ``0 .. 51`` (pre-open trades are period A's)."""
        return np.clip((np.asarray(ts, dtype=np.int64) - self.open_ts) // self.period_s, 0, len(LETTERS) - 1)

    def _tick(self, price: Any) -> Any:
        return np.rint(np.asarray(price, dtype=np.float64) / self.tick_size).astype(np.int64)

    def add(self, ts: int, price: float) -> None:
        """One trade, O(1)."""
        self.add_range(ts, price, price)

    def add_range(self, ts: int, low: float, high: float) -> None:
        """A price range traded at ``ts`` (a 1-minute candle's low..high), O(1)."""
        p = min(max((ts - self.open_ts) // self.period_s, 0), len(LETTERS) - 1)
        lo, hi = round(low / self.tick_size), round(high / self.tick_size)
        if lo < self._low[p]:
            self._low[p] = lo
        if hi > self._high[p]:
            self._high[p] = hi

    def add_many(self, ts: Any, low: Any, high: Any | None = None) -> None:
        """Trades (``high`` None) or ranges given as arrays, vectorised."""
        t = np.asarray(ts, dtype=np.int64)
        if len(t) == 0:
            return
        periods = self.period_of(t)
        lo = self._tick(low)
        hi = lo if high is None else self._tick(high)
        low_p, high_p = np.asarray(self._low, np.int64), np.asarray(self._high, np.int64)
        np.minimum.at(low_p, periods, lo)
        np.maximum.at(high_p, periods, hi)
        self._low, self._high = low_p.tolist(), high_p.tolist()

    def clear(self) -> None:
        self._low = [_NONE] * len(LETTERS)
        self._high = [-_NONE] * len(LETTERS)

    # --- reading ---
    def _traded(self) -> list[int]:
        return [p for p, lo in enumerate(self._low) if lo != _NONE]

    def period_range(self, period: int) -> tuple[float, float] | None:
        """``(low, high)`` price of a period, None if it has no trade."""
        if self._low[period] == _NONE:
            return None
        return self._price(self._low[period]), self._price(self._high[period])

    def _price(self, tick: int) -> float:
        return round(tick * self.tick_size, self.decimals)

    def rows(self, ticks_per_row: int = 1) -> tuple[F64, I64]:
        """``(row prices ascending, TPO count per row)`` from the lowest to the highest row traded."""
        k = max(1, int(ticks_per_row))
        traded = self._traded()
        if not traded:
            return np.zeros(0, np.float64), np.zeros(0, np.int64)
        lo_rows = np.array([self._low[p] for p in traded], np.int64) // k
        hi_rows = np.array([self._high[p] for p in traded], np.int64) // k
        base = int(lo_rows.min())
        size = int(hi_rows.max()) - base + 1
        diff = np.zeros(size + 1, np.int64)  # +1 at a period's low row, -1 past its high row
        np.add.at(diff, lo_rows - base, 1)
        np.add.at(diff, hi_rows - base + 1, -1)
        prices = np.round(np.arange(base, base + size, dtype=np.float64) * k * self.tick_size, self.decimals)
        return prices, np.cumsum(diff[:-1])

    def letters(self, ticks_per_row: int = 1) -> list[str]:
        """Per row (as :meth:`rows`), the letters of the periods marking it, in period order."""
        prices, _ = self.rows(ticks_per_row)
        if len(prices) == 0:
            return []
        k = max(1, int(ticks_per_row))
        traded = self._traded()
        base = min(self._low[p] for p in traded) // k
        out = [""] * len(prices)
        for p in traded:
            for r in range(self._low[p] // k - base, self._high[p] // k - base + 1):
                out[r] += LETTERS[p]
        return out

    def stats(self, ticks_per_row: int = 1, fraction: float = 0.70, method: ValueAreaMethod = "cbot"
              ) -> ProfileStats:
        """POC, VAH and VAL by TPO count (``total``/``va_volume`` count TPOs), as the volume profile's."""
        prices, counts = self.rows(ticks_per_row)
        poc = point_of_control(counts)
        if poc < 0:
            return ProfileStats(None, None, None, -1, (-1, -1), 0, 0)
        lo, hi = value_area(counts, poc, fraction, method)
        return ProfileStats(float(prices[poc]), float(prices[hi]), float(prices[lo]), poc, (lo, hi),
                            int(counts.sum()), int(counts[lo : hi + 1].sum()))

    def single_prints(self, ticks_per_row: int = 1) -> F64:
        """Prices of the rows with exactly one TPO, ascending."""
        prices, counts = self.rows(ticks_per_row)
        single: F64 = prices[counts == 1]
        return single

    def initial_balance(self) -> InitialBalance | None:
        """The first hour's range (periods A and B); None before either traded."""
        ib = [p for p in range(IB_PERIODS) if self._low[p] != _NONE]
        if not ib:
            return None
        return InitialBalance(self._price(min(self._low[p] for p in ib)),
                              self._price(max(self._high[p] for p in ib)), len(ib))

    def extensions(self) -> list[Extension]:
        """The periods after the IB that traded beyond it, in period order (up before down in a period)."""
        ib = [p for p in range(IB_PERIODS) if self._low[p] != _NONE]
        if not ib:
            return []
        ib_low, ib_high = min(self._low[p] for p in ib), max(self._high[p] for p in ib)
        out = []
        for p in self._traded():
            if p < IB_PERIODS:
                continue
            if self._high[p] > ib_high:
                out.append(Extension(p, LETTERS[p], True, self._price(self._high[p])))
            if self._low[p] < ib_low:
                out.append(Extension(p, LETTERS[p], False, self._price(self._low[p])))
        return out
