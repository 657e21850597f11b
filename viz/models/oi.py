"""Open-interest analytics of one option chain (one underlying, one expiry): pure, no I/O.

Units. OI, volume and quantities are what Dhan sends: a quantity of the underlying (shares or index units,
a multiple of the lot size), here called ``"quantity"``. ``"lots"`` divides by the contract's lot size from
the instrument master (:class:`viz.models.contracts.OptionSpec`). Percentages and ratios are unit-free.

Definitions (every one over the chain's listed contracts; an unknown value is ``None``/NaN, never 0):

OI change      ``oi - base``, where ``base`` is the previous session's closing OI of the same contract: the
               value we stored ourselves (:func:`closing_oi`, handed in with :meth:`OiChainModel.set_closing_oi`),
               else the exchange's previous-day OI (the quote's ``prev_oi``, Dhan's code-6 packet). Never the
               first OI seen today: OI does not move overnight, but it does move in the day's first minutes, so
               measuring from the day's first bar understates the change (3,700 -> 5,400 in the opening
               minutes -> 9,990 by noon reads +85 % from the first bar, +170 % from the close: the exchange's
               figure). Without a base the change is unknown.
OI change %    ``100 * (oi - base) / base``; unknown when the base is 0 (a strike listed today).
PCR (OI)       sum of put OI / sum of call OI over the contracts whose OI is known; None when the call
               sum is 0. PCR (volume): the same with today's cumulative traded volume.
Max pain       the expiry price at which option writers pay out least: for a candidate price X,
               ``payout(X) = sum_k call_oi[k] * max(X - k, 0) + put_oi[k] * max(k - X, 0)`` (the buyers'
               intrinsic value at expiry, weighted by OI). Candidates are the listed strikes (payout is
               piecewise linear with kinks only there, so its minimum is at a strike). A tie goes to the
               lowest strike. Unknown OI counts as 0; None when no contract has OI above 0.
Build-up       per contract, from its premium change against its OI change, both since the previous close
               (premium: the quote's ``prev_close``, else its ``close``, which Dhan's quote packet fills with
               the previous day's close): price up + OI up = long build-up; price down + OI up = short
               build-up; price up + OI down = short covering; price down + OI down = long unwinding; either
               change exactly 0 = neutral; either unknown = None.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from shared.events import instrument_key
from viz.models import values
from viz.models.contracts import OptionSpec, atm_strike

__all__ = [
    "BuildUp", "ClosingOiTracker", "OiChainModel", "OiSide", "OiTable", "OiUnit", "Pcr", "classify_buildup",
    "closing_oi", "max_pain", "oi_change", "oi_change_pct", "put_call_ratio", "writers_payout",
]

OiUnit = Literal["quantity", "lots"]
BaseSource = Literal["stored", "exchange"]
BuildUp = Literal["long_buildup", "short_buildup", "short_covering", "long_unwinding", "neutral"]
F64 = npt.NDArray[np.float64]


def oi_change(oi: int | None, base: int | None) -> int | None:
    return None if oi is None or base is None else oi - base


def oi_change_pct(oi: int | None, base: int | None) -> float | None:
    """Percent change from the previous session's closing OI (``base``); None without one or when it is 0."""
    if oi is None or not base:
        return None
    return 100.0 * (oi - base) / base


def classify_buildup(price_change: float | None, oi_change: float | None) -> BuildUp | None:
    """Long/short build-up, short covering, long unwinding (module docstring); neutral on a zero change."""
    if price_change is None or oi_change is None:
        return None
    if price_change == 0 or oi_change == 0:
        return "neutral"
    if oi_change > 0:
        return "long_buildup" if price_change > 0 else "short_buildup"
    return "short_covering" if price_change > 0 else "long_unwinding"


def put_call_ratio(put_total: float, call_total: float) -> float | None:
    return put_total / call_total if call_total > 0 else None


def writers_payout(strikes: npt.ArrayLike, call_oi: npt.ArrayLike, put_oi: npt.ArrayLike,
                   candidates: npt.ArrayLike | None = None) -> F64:
    """Option writers' total payout at each candidate expiry price (default: the strikes); NaN OI counts 0."""
    k = np.asarray(strikes, dtype=np.float64)
    c = np.nan_to_num(np.asarray(call_oi, dtype=np.float64))
    p = np.nan_to_num(np.asarray(put_oi, dtype=np.float64))
    x = k if candidates is None else np.asarray(candidates, dtype=np.float64)
    diff = x[:, None] - k[None, :]  # [candidate, strike]: X - K
    return np.asarray(np.maximum(diff, 0.0) @ c + np.maximum(-diff, 0.0) @ p, dtype=np.float64)


def max_pain(strikes: npt.ArrayLike, call_oi: npt.ArrayLike, put_oi: npt.ArrayLike) -> float | None:
    """The listed strike minimising :func:`writers_payout`; the lowest on a tie; None without OI."""
    k = np.asarray(strikes, dtype=np.float64)
    if len(k) == 0:
        return None
    c, p = np.nan_to_num(np.asarray(call_oi, np.float64)), np.nan_to_num(np.asarray(put_oi, np.float64))
    if not (np.any(c > 0) or np.any(p > 0)):
        return None
    order = np.argsort(k, kind="stable")
    payout = writers_payout(k[order], c[order], p[order])
    return float(k[order][int(np.flatnonzero(payout == payout.min())[0])])


class ClosingOiTracker:
    """The closing OI of each instrument in one session: the last OI received at or before the close.

    Time is the quote's ``recv_ts`` (true epoch): an OI packet carries no exchange time (a quote's
    ``exchange_ts`` is its last trade's), so receive time is the one clock every OI update has. Quotes
    received outside ``[open_utc, close_utc]`` are ignored; of two at the same receive time the one observed
    later wins (stream order). NSE disseminates OI in snapshots, so a caller wanting the last snapshot of the
    day that arrives just after the bell passes ``close_utc`` = session close plus its grace.
    """

    __slots__ = ("_last", "close_utc", "open_utc")

    def __init__(self, open_utc: float, close_utc: float) -> None:
        if close_utc < open_utc:
            raise ValueError("the session closes before it opens")
        self.open_utc, self.close_utc = open_utc, close_utc
        self._last: dict[str, tuple[float, int]] = {}  # key -> (recv_ts, oi)

    def observe(self, quote: Mapping[str, Any]) -> bool:
        """Take one quote event; True when it became its instrument's closing-OI candidate."""
        oi = values.quantity(quote.get("oi"))
        recv = values.finite(quote.get("recv_ts"))
        seg, sid = quote.get("seg"), quote.get("sid")
        if oi is None or recv is None or not isinstance(seg, str) or not isinstance(sid, int):
            return False
        if not self.open_utc <= recv <= self.close_utc:
            return False
        key = instrument_key(seg, sid)
        last = self._last.get(key)
        if last is not None and recv < last[0]:
            return False
        self._last[key] = (recv, oi)
        return True

    def result(self) -> dict[str, int]:
        """``{"SEG:ID": closing OI}`` of every instrument with an OI in the session."""
        return {key: oi for key, (_, oi) in self._last.items()}


def closing_oi(quotes: Iterable[Mapping[str, Any]], *, open_utc: float, close_utc: float) -> dict[str, int]:
    """The closing OI by instrument of a session's quote events (:class:`ClosingOiTracker`)."""
    tracker = ClosingOiTracker(open_utc, close_utc)
    for q in quotes:
        tracker.observe(q)
    return tracker.result()


@dataclass(slots=True)
class OiSide:
    """One contract's state: the latest quote's OI, volume and premium, and its two possible bases."""

    spec: OptionSpec
    oi: int | None = None
    volume: int | None = None
    ltp: float | None = None
    prev_close: float | None = None
    exchange_base: int | None = None  # the quote's prev_oi
    stored_base: int | None = None  # our own closing OI of the previous session
    order: tuple[float, float, float] = (-1.0, -1.0, -1.0)

    @property
    def base(self) -> tuple[int | None, BaseSource | None]:
        """``(previous session's closing OI, where it came from)``: ours first, then the exchange's."""
        if self.stored_base is not None:
            return self.stored_base, "stored"
        if self.exchange_base is not None:
            return self.exchange_base, "exchange"
        return None, None

    @property
    def price_change(self) -> float | None:
        return None if self.ltp is None or self.prev_close is None else self.ltp - self.prev_close

    @property
    def buildup(self) -> BuildUp | None:
        return classify_buildup(self.price_change, oi_change(self.oi, self.base[0]))


@dataclass(frozen=True, slots=True)
class OiTable:
    """Columns by strike, ascending; NaN where unknown. ``*_oi`` and ``*_change`` are in ``unit``."""

    unit: OiUnit
    strikes: F64
    call_oi: F64
    put_oi: F64
    call_change: F64
    put_change: F64
    call_change_pct: F64
    put_change_pct: F64
    call_buildup: tuple[BuildUp | None, ...]
    put_buildup: tuple[BuildUp | None, ...]
    call_base_source: tuple[BaseSource | None, ...]
    put_base_source: tuple[BaseSource | None, ...]


@dataclass(frozen=True, slots=True)
class Pcr:
    oi: float | None
    volume: float | None


def _scaled(value: int | None, lot_size: int, unit: OiUnit) -> float:
    if value is None:
        return float("nan")
    return value / lot_size if unit == "lots" else float(value)


@dataclass
class OiChainModel:
    """OI by strike for one chain, updated one quote at a time; :meth:`table` etc. are computed on demand.

    Quotes apply in the writer's forward order (:func:`viz.models.values.quote_order`): an older quote than
    the contract's latest is ignored, so history and live may overlap.
    """

    sides: dict[str, OiSide] = field(default_factory=dict)
    by_strike: dict[float, dict[str, OiSide]] = field(default_factory=dict)
    strikes: list[float] = field(default_factory=list)
    version: int = 0

    def set_contracts(self, specs: Sequence[OptionSpec]) -> None:
        by_strike: dict[float, dict[str, OiSide]] = {}
        sides: dict[str, OiSide] = {}
        for spec in specs:
            if spec.option_type in by_strike.get(spec.strike, {}):
                raise ValueError(f"two {spec.option_type} contracts at strike {spec.strike}: one expiry only")
            old = self.sides.get(spec.key)
            side = OiSide(spec) if old is None or old.spec != spec else old
            sides[spec.key] = side
            by_strike.setdefault(spec.strike, {})[spec.option_type] = side
        self.sides, self.by_strike, self.strikes = sides, by_strike, sorted(by_strike)
        self.version += 1

    def set_closing_oi(self, closing: Mapping[str, int]) -> None:
        """Our stored closing OI of the previous session, by ``"SEG:ID"`` (:func:`closing_oi` of that day)."""
        for key, side in self.sides.items():
            side.stored_base = values.quantity(closing.get(key))
        self.version += 1

    def apply_quote(self, key: str, q: Mapping[str, Any]) -> bool:
        side = self.sides.get(key)
        if side is None:
            return False
        order = values.quote_order(q)
        if order < side.order:
            return False
        side.order = order
        for name in ("oi", "volume"):
            count = values.quantity(q.get(name))
            if count is not None:
                setattr(side, name, count)
        prev_oi = values.quantity(q.get("prev_oi"))
        if prev_oi is not None:
            side.exchange_base = prev_oi
        ltp = values.price(q.get("ltp"))
        if ltp:
            side.ltp = ltp
        prev_close = values.price(q.get("prev_close")) or values.price(q.get("close"))
        if prev_close:
            side.prev_close = prev_close
        self.version += 1
        return True

    def _side(self, strike: float, option_type: str) -> OiSide | None:
        return self.by_strike[strike].get(option_type)

    def _column(self, option_type: str, unit: OiUnit, what: str) -> F64:
        out = np.full(len(self.strikes), np.nan)
        for i, strike in enumerate(self.strikes):
            side = self._side(strike, option_type)
            if side is None:
                continue
            base = side.base[0]
            if what == "oi":
                out[i] = _scaled(side.oi, side.spec.lot_size, unit)
            elif what == "change":
                out[i] = _scaled(oi_change(side.oi, base), side.spec.lot_size, unit)
            else:
                pct = oi_change_pct(side.oi, base)
                out[i] = np.nan if pct is None else pct
        return out

    def _labels(self, option_type: str, what: str) -> tuple[Any, ...]:
        sides = [self._side(k, option_type) for k in self.strikes]
        if what == "buildup":
            return tuple(None if s is None else s.buildup for s in sides)
        return tuple(None if s is None else s.base[1] for s in sides)

    def table(self, unit: OiUnit = "quantity") -> OiTable:
        """Total OI and change since the previous close by strike, calls and puts, in ``unit``."""
        if unit not in ("quantity", "lots"):
            raise ValueError(f"unknown OI unit {unit!r}")
        col = self._column
        return OiTable(
            unit, np.asarray(self.strikes, dtype=np.float64),
            col("CE", unit, "oi"), col("PE", unit, "oi"), col("CE", unit, "change"), col("PE", unit, "change"),
            col("CE", unit, "pct"), col("PE", unit, "pct"),
            self._labels("CE", "buildup"), self._labels("PE", "buildup"),
            self._labels("CE", "source"), self._labels("PE", "source"),
        )

    def _total(self, option_type: str, name: str) -> tuple[int, int]:
        """(sum of ``name`` over the contracts where it is known, how many contracts that is)."""
        known = [v for s in self.sides.values() if s.spec.option_type == option_type
                 and (v := getattr(s, name)) is not None]
        return sum(known), len(known)

    def pcr(self) -> Pcr:
        """Put-call ratio of OI and of today's volume (module docstring)."""
        puts_oi, calls_oi = self._total("PE", "oi")[0], self._total("CE", "oi")[0]
        puts_vol, calls_vol = self._total("PE", "volume")[0], self._total("CE", "volume")[0]
        return Pcr(put_call_ratio(puts_oi, calls_oi), put_call_ratio(puts_vol, calls_vol))

    def max_pain(self) -> float | None:
        t = self.table("quantity")
        return max_pain(t.strikes, t.call_oi, t.put_oi)

    def atm(self, underlying_price: float | None) -> float | None:
        return atm_strike(self.strikes, underlying_price)
