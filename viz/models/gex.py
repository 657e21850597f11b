"""Gamma exposure (GEX) of one option chain by strike, net GEX and the zero-gamma level (pure numpy).

Sign convention (the common dealer one): dealers are assumed long the calls and short the puts the public
holds (customers sell calls, buy puts), so call GEX counts positive and put GEX negative. Net GEX > 0 reads
as dealers hedging against the move (damping it), < 0 as hedging with it.

GEX of a contract, in rupees per 1 % move of the underlying:

    GEX = sign x gamma x OI x F^2 x 0.01

``gamma`` the greeks service's Black-76 gamma (change of delta per 1 rupee of F, per unit); ``OI`` in units
of the underlying, as Dhan sends it, which is already lots x lot size (so the lot size does not multiply it
again; :mod:`viz.models.oi`); ``F`` the near-month future the greeks are priced on, its latest price. The
product is the change of the dealers' delta exposure in rupees (delta x units x F) for a 1 % move of F:
``gamma x OI`` units of delta per rupee, ``x 0.01 F`` rupees of move, ``x F`` rupees per unit. GEX by
strike adds the call and put of each strike; net GEX adds every strike. A contract without OI or gamma
(no IV solved) is left out and counted.

Zero-gamma level: the underlying price where net GEX crosses zero when every option's gamma is recomputed
at that price (Black-76, each option's own IV held: sticky strike; time to expiry and rate as now),
searched on a grid of ``points`` prices within ``span`` of F and interpolated linearly between grid
points; of several crossings the one nearest F (the lower on a tie); None when the grid holds none or no
contract has both OI and IV. This is the price where the dealers' hedging would flip direction if the
future went there. The other common reading, the strike where
the cumulative sum of GEX by strike changes sign, is not used: it evaluates every gamma at today's price
only, so it is a property of the strike ordering rather than of a price the market could move to.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.calendar import year_fraction
from viz.models import values
from viz.models.contracts import OptionSpec

__all__ = ["GexModel", "GexProfile", "black76_gamma", "crossings", "years_to_expiry"]

F64 = npt.NDArray[np.float64]
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def years_to_expiry(expiry: str, at_utc: float) -> float:
    """Years from ``at_utc`` (true epoch) to 15:30 IST on the ISO ``expiry`` day; never negative."""
    return year_fraction(date.fromisoformat(expiry), at_utc)


def black76_gamma(f: npt.ArrayLike, k: npt.ArrayLike, t: npt.ArrayLike, sigma: npt.ArrayLike,
                  r: float = 0.0) -> F64:
    """Black-76 gamma ``e^(-rt) phi(d1) / (F sigma sqrt(t))``, broadcast; 0 where t, sigma, F or K is not > 0."""
    f_, k_, t_, s_ = (np.asarray(x, dtype=np.float64) for x in (f, k, t, sigma))
    ok = (t_ > 0) & (s_ > 0) & (f_ > 0) & (k_ > 0)
    sd = np.where(ok, s_ * np.sqrt(np.where(ok, t_, 1.0)), 1.0)
    d1 = np.log(np.where(ok, f_ / np.where(ok, k_, 1.0), 1.0)) / sd + 0.5 * sd
    gamma = np.exp(-r * np.maximum(t_, 0.0)) * _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1) / (np.where(ok, f_, 1.0) * sd)
    return np.asarray(np.where(ok, gamma, 0.0), dtype=np.float64)


def crossings(x: npt.ArrayLike, y: npt.ArrayLike) -> F64:
    """Where ``y`` over ascending ``x`` is zero or changes sign, linearly interpolated."""
    xs, ys = np.asarray(x, np.float64), np.asarray(y, np.float64)
    i = np.flatnonzero(ys[:-1] * ys[1:] < 0.0)
    inner = xs[i] - ys[i] * (xs[i + 1] - xs[i]) / (ys[i + 1] - ys[i])
    return np.sort(np.concatenate((xs[ys == 0.0], inner)))


@dataclass(frozen=True, slots=True)
class GexProfile:
    """GEX by strike (ascending) in rupees per 1 % move; ``missing``: contracts left out (no OI or gamma)."""

    strikes: F64
    call: F64
    put: F64
    net_by_strike: F64
    net: float
    underlying: float
    missing: int


class GexModel:
    """A chain's OI (from quotes) and gamma and IV (from greeks events); GEX computed on demand."""

    def __init__(self, specs: Sequence[OptionSpec], rate: float = 0.0) -> None:
        self.specs = tuple(specs)
        self.rate = rate
        self.index = {s.key: i for i, s in enumerate(self.specs)}
        n = len(self.specs)
        self.strike = np.array([s.strike for s in self.specs], dtype=np.float64)
        self.sign = np.array([1.0 if s.option_type == "CE" else -1.0 for s in self.specs], dtype=np.float64)
        self.oi = np.full(n, np.nan)
        self.gamma = np.full(n, np.nan)
        self.iv = np.full(n, np.nan)
        self.underlying: float | None = None
        self.version = 0

    def apply_quote(self, key: str, q: Mapping[str, Any]) -> bool:
        i = self.index.get(key)
        oi = values.quantity(q.get("oi"))
        if i is None or oi is None:
            return False
        self.oi[i] = oi
        self.version += 1
        return True

    def apply_greeks(self, key: str, g: Mapping[str, Any]) -> bool:
        """Gamma and IV of a contract (null when unsolved: it drops out), and the future price F."""
        i = self.index.get(key)
        if i is None:
            return False
        gamma, iv = values.within(g.get("gamma"), 0.0, 1e9), values.within(g.get("iv"), 0.0, 10.0)
        self.gamma[i] = np.nan if gamma is None else gamma
        self.iv[i] = np.nan if iv is None else iv
        underlying = values.price(g.get("underlying_price"))
        if underlying:
            self.underlying = underlying
        self.version += 1
        return True

    def set_underlying(self, price: float) -> None:
        self.underlying = price
        self.version += 1

    def profile(self) -> GexProfile | None:
        """GEX by strike at the latest F from the greeks' own gammas; None before F is known."""
        f = self.underlying
        if f is None:
            return None
        known = ~np.isnan(self.oi) & ~np.isnan(self.gamma)
        per_contract = np.where(known, self.sign * self.gamma * self.oi * f * f * 0.01, 0.0)
        strikes, where = np.unique(self.strike, return_inverse=True)
        is_call = self.sign > 0
        call: F64 = np.bincount(where, np.where(is_call, per_contract, 0.0), len(strikes)).astype(np.float64)
        put: F64 = np.bincount(where, np.where(is_call, 0.0, per_contract), len(strikes)).astype(np.float64)
        net = call + put
        return GexProfile(strikes, call, put, net, float(net.sum()), f, int((~known).sum()))

    def curve(self, grid: npt.ArrayLike, now_utc: float) -> F64:
        """Net GEX at each price of ``grid``, every gamma recomputed there (Black-76, IVs held)."""
        g = np.asarray(grid, dtype=np.float64)
        years = {e: years_to_expiry(e, now_utc) for e in {s.expiry for s in self.specs if s.expiry}}
        t = np.array([years.get(s.expiry, 0.0) for s in self.specs])
        known = ~np.isnan(self.oi) & ~np.isnan(self.iv)
        if not known.any() or len(g) == 0:
            return np.zeros(len(g))
        gammas = black76_gamma(g[:, None], self.strike[known], t[known], self.iv[known], self.rate)
        return np.asarray((gammas @ (self.sign[known] * self.oi[known])) * g * g * 0.01, dtype=np.float64)

    def zero_gamma(self, now_utc: float, span: float = 0.10, points: int = 201) -> float | None:
        """The zero-gamma level (module docstring) within ``span`` (a fraction) of F; None without one."""
        f = self.underlying
        if f is None or not (~np.isnan(self.oi) & ~np.isnan(self.iv)).any():
            return None  # an empty chain's curve is 0 everywhere: no level, not every price
        grid = np.linspace(f * (1.0 - span), f * (1.0 + span), max(points, 2))
        found = crossings(grid, self.curve(grid, now_utc))
        return float(found[np.argmin(np.abs(found - f))]) if len(found) else None
