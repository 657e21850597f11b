"""Black-76: European options on a future. Pure functions, no I/O; ``math.erf`` keeps it dependency-free.

F future price, K strike, t years to expiry, r continuously compounded rate, sigma volatility (annual).
Greeks are per the usual trader's units: vega per 1.00 of volatility (divide by 100 for per vol point),
theta per year (divide by 365 for per calendar day), rho per 1.00 of rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shared.calendar import EXPIRY_TIME_IST, year_fraction  # time to expiry: one formula, the viz's GEX's too

__all__ = ["EXPIRY_TIME_IST", "Greeks", "greeks", "norm_cdf", "norm_pdf", "price", "year_fraction"]

_SQRT2 = math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


def norm_cdf(x: float) -> float:
    # erfc, not 1 + erf: keeps full relative precision in the lower tail (1 + erf(-7) cancels to 0 near
    # x = -8.3), which deep out-of-the-money prices and their implied volatilities depend on.
    return 0.5 * math.erfc(-x / _SQRT2)


def norm_pdf(x: float) -> float:
    return _INV_SQRT2PI * math.exp(-0.5 * x * x)


def _d1d2(f: float, k: float, t: float, sigma: float) -> tuple[float, float]:
    sd = sigma * math.sqrt(t)
    d1 = (math.log(f / k) + 0.5 * sd * sd) / sd
    return d1, d1 - sd


def price(f: float, k: float, t: float, r: float, sigma: float, is_call: bool) -> float:
    """Black-76 premium. At ``t <= 0`` or ``sigma <= 0`` it is the discounted intrinsic value."""
    df = math.exp(-r * max(t, 0.0))
    if t <= 0.0 or sigma <= 0.0 or f <= 0.0 or k <= 0.0:
        return df * max(0.0, (f - k) if is_call else (k - f))
    d1, d2 = _d1d2(f, k, t, sigma)
    if is_call:
        return df * (f * norm_cdf(d1) - k * norm_cdf(d2))
    return df * (k * norm_cdf(-d2) - f * norm_cdf(-d1))


@dataclass(frozen=True, slots=True)
class Greeks:
    delta: float
    gamma: float
    vega: float
    theta: float
    rho: float


def greeks(f: float, k: float, t: float, r: float, sigma: float, is_call: bool) -> Greeks:
    """Black-76 sensitivities; degenerate inputs (no time, no vol) give intrinsic-style limits, never NaN."""
    df = math.exp(-r * max(t, 0.0))
    if t <= 0.0 or sigma <= 0.0 or f <= 0.0 or k <= 0.0:
        itm = (f > k) if is_call else (f < k)
        delta = (df if is_call else -df) if itm else 0.0
        return Greeks(delta, 0.0, 0.0, 0.0, 0.0)
    sqrt_t = math.sqrt(t)
    d1, _ = _d1d2(f, k, t, sigma)
    pdf = norm_pdf(d1)
    gamma = df * pdf / (f * sigma * sqrt_t)
    vega = df * f * pdf * sqrt_t
    p = price(f, k, t, r, sigma, is_call)
    if is_call:
        delta = df * norm_cdf(d1)
        theta = -df * f * pdf * sigma / (2.0 * sqrt_t) + r * p
    else:
        delta = -df * norm_cdf(-d1)
        theta = -df * f * pdf * sigma / (2.0 * sqrt_t) + r * p
    rho = -t * p
    return Greeks(delta, gamma, vega, theta, rho)
