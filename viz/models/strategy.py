"""A user's option combination (one to four legs): payoff at expiry over a price grid, and its live premium.

A leg is a contract, a side (``"B"`` bought: long, ``"S"`` sold: short) and a quantity in lots; its units
are ``lots x lot_size`` (quantity of the underlying, as Dhan counts). Money is in rupees.

payoff(S)    at expiry price S: ``sum sign x units x intrinsic(S)``, intrinsic ``max(S - K, 0)`` for a call,
             ``max(K - S, 0)`` for a put; sign +1 bought, -1 sold.
net premium  ``sum sign x units x price``: what entering the combination costs now (positive: a net debit,
             paid; negative: a net credit, received). Live: at each leg's last traded price; unknown until
             every leg has one.
P&L(S)       ``payoff(S) - net premium`` at the entry prices given.
breakevens   the prices where P&L crosses zero, by linear interpolation between grid points. P&L is piecewise
             linear with kinks only at the strikes, so on a grid holding every strike
             (:func:`price_grid`) the interpolation is exact. A grid point where P&L is exactly 0 counts once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from viz.models import values
from viz.models.contracts import OptionSpec

__all__ = ["MAX_LEGS", "Strategy", "StrategyLeg", "breakevens", "price_grid"]

MAX_LEGS = 4
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class StrategyLeg:
    spec: OptionSpec
    side: Literal["B", "S"]
    lots: int = 1

    def __post_init__(self) -> None:
        if self.side not in ("B", "S"):
            raise ValueError(f"a leg is bought (B) or sold (S), got {self.side!r}")
        if self.lots < 1:
            raise ValueError(f"a leg needs at least one lot, got {self.lots!r}")

    @property
    def units(self) -> int:
        """Signed quantity of the underlying: + bought, - sold."""
        return (1 if self.side == "B" else -1) * self.lots * self.spec.lot_size

    def intrinsic(self, grid: F64) -> F64:
        k = self.spec.strike
        return np.maximum(grid - k, 0.0) if self.spec.option_type == "CE" else np.maximum(k - grid, 0.0)


def price_grid(strikes: Sequence[float], pad: float = 0.1, points: int = 201) -> F64:
    """Expiry prices from ``(1 - pad) x`` the lowest strike to ``(1 + pad) x`` the highest, evenly spaced,
    with every strike added so the payoff's kinks are on the grid."""
    if not strikes:
        return np.zeros(0, np.float64)
    lo, hi = min(strikes) * (1.0 - pad), max(strikes) * (1.0 + pad)
    return np.unique(np.concatenate((np.linspace(lo, hi, max(points, 2)), np.asarray(strikes, np.float64))))


def breakevens(grid: npt.ArrayLike, pnl: npt.ArrayLike) -> list[float]:
    """Prices where ``pnl`` (over ascending ``grid``) is zero or changes sign, interpolated linearly."""
    x, y = np.asarray(grid, np.float64), np.asarray(pnl, np.float64)
    out = [float(v) for v in x[y == 0.0]]
    i = np.flatnonzero(y[:-1] * y[1:] < 0.0)  # strictly opposite signs across an interval
    out += (x[i] - y[i] * (x[i + 1] - x[i]) / (y[i + 1] - y[i])).tolist()
    return sorted(out)


@dataclass
class Strategy:
    """One to four legs; :meth:`apply_quote` keeps each leg's last traded price for :meth:`net_premium`."""

    legs: tuple[StrategyLeg, ...]
    prices: dict[str, float] = field(default_factory=dict)  # leg key -> last traded price

    def __post_init__(self) -> None:
        if not 1 <= len(self.legs) <= MAX_LEGS:
            raise ValueError(f"a combination has 1 to {MAX_LEGS} legs, got {len(self.legs)}")

    def payoff(self, grid: npt.ArrayLike) -> F64:
        g = np.asarray(grid, np.float64)
        total = np.zeros(len(g))
        for leg in self.legs:
            total += leg.units * leg.intrinsic(g)
        return total

    def net_premium(self, prices: Mapping[str, float] | None = None) -> float | None:
        """Net premium at ``prices`` (leg key -> price; default: the live ones); None if a leg has none."""
        book = self.prices if prices is None else prices
        if any(leg.spec.key not in book for leg in self.legs):
            return None
        return float(sum(leg.units * book[leg.spec.key] for leg in self.legs))

    def pnl(self, grid: npt.ArrayLike, entry: Mapping[str, float] | None = None) -> F64 | None:
        """P&L at expiry over ``grid`` for entry prices ``entry`` (default: the live ones); None without."""
        premium = self.net_premium(entry)
        return None if premium is None else self.payoff(grid) - premium

    def apply_quote(self, key: str, q: Mapping[str, Any]) -> bool:
        ltp = values.price(q.get("ltp"))
        if not ltp or all(leg.spec.key != key for leg in self.legs):
            return False
        self.prices[key] = ltp
        return True
