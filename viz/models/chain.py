"""Option chain: calls and puts by strike for one underlying and expiry, quotes plus greeks.

Rows are strikes ascending; each side (CE/PE) holds LTP, OI, OI change (vs previous day's OI), volume and
the greeks service's IV, delta, gamma, theta and vega. The ATM strike is the listed strike nearest the
underlying price (the future the greeks are priced on, else the underlying's own quote), the lower one on
a tie. :meth:`ChainModel.smile` gives IV by strike for each side, for the plot under the table.
:meth:`ChainModel.take_dirty` gives the contracts changed since the last paint (a view repaints only those).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from viz.models import values

__all__ = ["SIDE_FIELDS", "ChainModel", "ChainSide", "OptionContract"]

SIDE_FIELDS: tuple[tuple[str, str], ...] = (
    ("ltp", "LTP"),
    ("oi", "OI"),
    ("oi_change", "OI Chg"),
    ("volume", "Volume"),
    ("iv", "IV %"),
    ("delta", "Delta"),
    ("gamma", "Gamma"),
    ("theta", "Theta/day"),
    ("vega", "Vega/1%"),
)
# The greeks service sends Black-76 in its units (theta per year, vega per 1.00 of volatility); a chain
# shows what a trader reads: theta per calendar day and vega per volatility point.
_DISPLAY_SCALE = {"iv": 100.0, "theta": 1.0 / 365.0, "vega": 1.0 / 100.0}
# What Black-76 can give (iv: the solver's bracket is 0.0001..5); anything else is shown as unknown.
_GREEK_RANGES = {"iv": (0.0, 10.0), "delta": (-1.0, 1.0), "gamma": (0.0, 1e9), "theta": (-1e9, 1e9),
                 "vega": (0.0, 1e9)}


@dataclass(frozen=True, slots=True)
class OptionContract:
    key: str
    strike: float
    option_type: str  # "CE" | "PE"
    symbol: str = ""


@dataclass(slots=True)
class ChainSide:
    contract: OptionContract
    ltp: float | None = None
    oi: int | None = None
    prev_oi: int | None = None
    volume: int | None = None
    iv: float | None = None
    delta: float | None = None
    gamma: float | None = None
    theta: float | None = None
    vega: float | None = None
    quote_order: tuple[float, float, float] = (-1.0, -1.0, -1.0)
    greeks_order: tuple[float, float] = (-1.0, -1.0)
    version: int = 0  # bumped on every change of this side (views re-format only what changed)

    @property
    def oi_change(self) -> int | None:
        if self.oi is None or self.prev_oi is None:
            return None
        return self.oi - self.prev_oi

    def value(self, name: str) -> Any:
        """Display value: IV in %, theta per day, vega per vol point, the rest as stored."""
        raw = getattr(self, name)
        scale = _DISPLAY_SCALE.get(name)
        return raw if scale is None or raw is None else raw * scale


@dataclass
class ChainModel:
    underlying: str
    expiry: str
    sides: dict[str, ChainSide] = field(default_factory=dict)  # instrument key -> side
    strikes: list[float] = field(default_factory=list)
    by_strike: dict[float, dict[str, ChainSide]] = field(default_factory=dict)
    underlying_price: float | None = None
    underlying_keys: set[str] = field(default_factory=set)  # quotes that move the underlying price
    version: int = 0  # bumped on every applied change (the view repaints when it moved)
    contracts_version: int = 0  # bumped when the set of contracts (the table's rows) changed
    dirty: set[str] = field(default_factory=set)  # sides changed since the last take_dirty()

    def set_contracts(self, contracts: list[OptionContract]) -> None:
        self.sides = {c.key: self.sides.get(c.key) or ChainSide(c) for c in contracts}
        self.by_strike = {}
        for side in self.sides.values():
            self.by_strike.setdefault(side.contract.strike, {})[side.contract.option_type] = side
        self.strikes = sorted(self.by_strike)
        self.version += 1
        self.contracts_version += 1

    def take_dirty(self) -> set[str]:
        """Keys of the sides whose quote or greeks changed since the last call."""
        dirty, self.dirty = self.dirty, set()
        return dirty

    def apply_quote(self, key: str, q: Mapping[str, Any]) -> bool:
        """Apply a quote if not older than the side's; a bad value (:mod:`viz.models.values`) is missing."""
        ltp = values.price(q.get("ltp"))
        if key in self.underlying_keys and ltp:
            self.underlying_price = ltp
            self.version += 1
        side = self.sides.get(key)
        if side is None:
            return key in self.underlying_keys
        order = values.quote_order(q)
        if order < side.quote_order:
            return False
        side.quote_order = order
        if ltp is not None:
            side.ltp = ltp
        for name in ("oi", "prev_oi", "volume"):
            count = values.quantity(q.get(name))
            if count is not None:
                setattr(side, name, count)
        side.version += 1
        self.version += 1
        self.dirty.add(key)
        return True

    def apply_greeks(self, key: str, g: Mapping[str, Any]) -> bool:
        side = self.sides.get(key)
        if side is None:
            return False
        order = (float(values.exchange_ts(g.get("exchange_ts")) or 0), values.finite(g.get("recv_ts")) or 0.0)
        if order < side.greeks_order:
            return False
        side.greeks_order = order
        for name, (lo, hi) in _GREEK_RANGES.items():
            setattr(side, name, values.within(g.get(name), lo, hi))
        underlying = values.price(g.get("underlying_price"))
        if underlying:
            self.underlying_price = underlying
        side.version += 1
        self.version += 1
        self.dirty.add(key)
        return True

    def atm_strike(self) -> float | None:
        if not self.strikes or self.underlying_price is None:
            return None
        price = self.underlying_price
        return min(self.strikes, key=lambda k: (abs(k - price), k))

    def smile(self) -> dict[str, tuple[list[float], list[float]]]:
        """``{"CE": (strikes, iv %), "PE": (...)}`` over strikes whose IV is known."""
        out: dict[str, tuple[list[float], list[float]]] = {"CE": ([], []), "PE": ([], [])}
        for strike in self.strikes:
            for opt, side in self.by_strike[strike].items():
                if side.iv is not None and opt in out:
                    out[opt][0].append(strike)
                    out[opt][1].append(side.iv * 100.0)
        return out
