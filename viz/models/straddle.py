"""The rolling ATM straddle of one chain over the day: premium, its VWAP, the ATM IV, ATM moves (pure).

Definitions:

ATM          at each moment, the strike nearest the underlying price (the near-month future the greeks are
             priced on) among the strikes where both a call and a put are listed; the lower strike on a
             tie (:func:`viz.models.contracts.atm_strike`, the option chain's rule). No hysteresis: a future
             sitting half-way between two strikes flips the ATM each time it crosses, and each flip is a move.
premium      CE + PE last traded price (LTP) at the ATM strike; unknown until both legs have traded.
ATM IV       the mean of the two legs' IVs (greeks events, as a fraction: 0.15 = 15 %); the one known when
             only one is; unknown when neither.
VWAP         volume-weighted: each rise of an ATM leg's cumulative day volume, while it is an ATM leg, adds
             ``premium x volume`` to the numerator and ``volume`` to the denominator, where ``premium`` is the
             straddle's right after that trade (both legs known; the volume of a moment when the other leg has
             no price yet is left out). So the VWAP is the average straddle price paid, weighted by the sum of
             the two legs' traded volume, as a trader reads a VWAP; a time-weighted mean (a TWAP) would weigh a
             quiet lunch hour like the open. Unknown until some ATM volume is counted.
moved        a point where the ATM strike differs from the previous point's (the first ATM is not a move).

Volume comes from each contract's cumulative day volume (quotes' and stored ticks' ``volume``), counted from
0 at the session start, so feed the model the day from the start (history, then live); reading the same
volume twice (quotes and ticks together) counts it once. A point is recorded when the event changed the
ATM, the premium, the ATM IV or the VWAP. :meth:`StraddleModel.extend` takes a day of events at once and
gives exactly what :meth:`StraddleModel.update` gives one at a time.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from viz.models import values
from viz.models.contracts import OptionSpec
from viz.models.straddle_bulk import UNDERLYING, BulkState, extend_series

__all__ = ["UNDERLYING", "StraddleModel", "StraddleSeries"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
NAN = math.nan


@dataclass(frozen=True, slots=True)
class StraddleSeries:
    """The recorded points, oldest first; NaN where unknown. ``ts``: Dhan exchange time of the event."""

    ts: I64
    atm: F64
    premium: F64
    iv: F64
    vwap: F64
    moved: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.ts)


def _same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)  # NaN equals NaN here: "still unknown" is no change


class StraddleModel:
    """One chain's rolling ATM straddle. Contracts are indexed in ``specs`` order (bulk columns use it)."""

    def __init__(self, specs: Sequence[OptionSpec], underlying_key: str, capacity: int = 4096) -> None:
        self.specs = tuple(specs)
        self.underlying_key = underlying_key
        self.index = {s.key: i for i, s in enumerate(self.specs)}
        legs: dict[float, dict[str, int]] = {}
        for i, s in enumerate(self.specs):
            legs.setdefault(s.strike, {})[s.option_type] = i
        self.strikes = sorted(k for k, v in legs.items() if len(v) == 2)
        self.legs = {k: (legs[k]["CE"], legs[k]["PE"]) for k in self.strikes}  # strike -> (call, put) index
        n = len(self.specs)
        self.state = BulkState(np.full(n, NAN), np.full(n, NAN), np.zeros(n, np.int64))
        self._cols: dict[str, npt.NDArray[Any]] = {
            "ts": np.zeros(capacity, np.int64), "atm": np.zeros(capacity), "premium": np.zeros(capacity),
            "iv": np.zeros(capacity), "vwap": np.zeros(capacity), "moved": np.zeros(capacity, np.bool_),
        }
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def underlying_price(self) -> float | None:
        return None if math.isnan(self.state.underlying) else self.state.underlying

    def atm(self) -> float | None:
        u = self.state.underlying
        if math.isnan(u) or not self.strikes:
            return None
        i = bisect.bisect_left(self.strikes, u)
        if i == 0 or i == len(self.strikes):
            return self.strikes[min(i, len(self.strikes) - 1)]
        lower, upper = self.strikes[i - 1], self.strikes[i]
        return lower if u - lower <= upper - u else upper

    def update(self, ts: int, contract: int, price: float = NAN, volume: int = -1, iv: float = NAN) -> bool:
        """One event: ``contract`` an index into ``specs`` or ``UNDERLYING`` (-1); ``price`` NaN, ``volume``
        (cumulative) -1 and ``iv`` NaN when the event carries none. True when a point was recorded."""
        st = self.state
        qty = 0
        if contract == UNDERLYING:
            if price == price:
                st.underlying = price
        else:
            if price == price:
                st.price[contract] = price
            if iv == iv:
                st.iv[contract] = iv
            if volume > st.volume[contract]:
                qty = volume - int(st.volume[contract])
                st.volume[contract] = volume
        atm = self.atm()
        premium = iv_atm = NAN
        if atm is not None:
            call, put = self.legs[atm]
            premium = st.price[call] + st.price[put]
            ivs = [x for x in (st.iv[call], st.iv[put]) if x == x]
            iv_atm = sum(ivs) / len(ivs) if ivs else NAN
            if qty and contract in (call, put) and premium == premium:
                st.num += premium * qty
                st.den += qty
        vwap = st.num / st.den if st.den else NAN
        atm_f = NAN if atm is None else atm
        last = st.last
        if all(_same(a, b) for a, b in zip((atm_f, premium, iv_atm, vwap), last, strict=True)):
            return False
        moved = last[0] == last[0] and atm_f != last[0]
        st.last = (atm_f, float(premium), float(iv_atm), vwap)
        self._append(ts, atm_f, float(premium), float(iv_atm), vwap, moved)
        return True

    def _append(self, ts: int, atm: float, premium: float, iv: float, vwap: float, moved: bool) -> None:
        if self._n == len(self._cols["ts"]):
            self._reserve(1)
        i, c = self._n, self._cols
        c["ts"][i], c["atm"][i], c["premium"][i], c["iv"][i], c["vwap"][i], c["moved"][i] = (
            ts, atm, premium, iv, vwap, moved)
        self._n = i + 1

    def _reserve(self, extra: int) -> None:
        cap = len(self._cols["ts"])
        while cap < self._n + extra:
            cap *= 2
        for name, old in self._cols.items():
            new = np.zeros(cap, old.dtype)
            new[: self._n] = old[: self._n]
            self._cols[name] = new

    def apply_quote(self, key: str, q: Mapping[str, Any]) -> bool:
        """A quote event of a leg or the underlying (its LTP and cumulative volume)."""
        contract = UNDERLYING if key == self.underlying_key else self.index.get(key)
        ltp = values.price(q.get("ltp"))
        if contract is None:
            return False
        volume = values.quantity(q.get("volume"))
        return self.update(values.exchange_ts(q.get("exchange_ts")) or 0, contract,
                           ltp if ltp else NAN, -1 if volume is None else volume)

    def apply_greeks(self, key: str, g: Mapping[str, Any]) -> bool:
        contract = self.index.get(key)
        iv = values.within(g.get("iv"), 0.0, 10.0)
        if contract is None or iv is None:
            return False
        return self.update(values.exchange_ts(g.get("exchange_ts")) or 0, contract, iv=iv)

    def extend(self, ts: npt.ArrayLike, contract: npt.ArrayLike, price: npt.ArrayLike,
               volume: npt.ArrayLike, iv: npt.ArrayLike | None = None) -> int:
        """Events in stream order, as :meth:`update` columns (history); returns the points recorded."""
        got = extend_series(self.state, self.strikes, self.legs, len(self.specs), ts, contract, price, volume, iv)
        k = len(got["ts"])
        if k:
            self._reserve(k)
            for name, col in got.items():
                self._cols[name][self._n : self._n + k] = col
            self._n += k
        return k

    def series(self) -> StraddleSeries:
        c, n = self._cols, self._n
        return StraddleSeries(c["ts"][:n], c["atm"][:n], c["premium"][:n], c["iv"][:n], c["vwap"][:n],
                              c["moved"][:n])
