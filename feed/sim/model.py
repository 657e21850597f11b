"""The simulated market's prices: pure functions and seeded processes, driven by an injected time.

* :func:`smile_iv` - the implied-volatility smile the option prices are made from (a test recovers it).
* :class:`Factors` - NIFTY 50 and NIFTY BANK (correlated geometric random walks) and the MCX commodities,
  advanced to a given time with one normal draw per process per step (exact for Brownian motion, so the
  path does not depend on how finely time is sliced, only on the seed and the times asked for).
* :func:`burst_factor` - trading intensity through the NSE day: busier after 09:15 and before 15:30 IST.

Volatilities are annual and scaled on trading time (252 days of 6 h 15 min), so NIFTY at 13 % moves about
1.4 points a second, as it does intraday.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from shared.clock import IST_OFFSET_S

__all__ = [
    "ANNUAL_VOL",
    "ATM_IV",
    "START_PRICES_MCX",
    "TRADING_SECONDS_PER_YEAR",
    "Factors",
    "burst_factor",
    "smile_iv",
]

TRADING_SECONDS_PER_YEAR = 252 * 6.25 * 3600
ANNUAL_VOL: dict[str, float] = {
    "NIFTY": 0.13, "BANKNIFTY": 0.15, "GOLD": 0.15, "SILVER": 0.25, "CRUDEOIL": 0.35, "NATURALGAS": 0.50,
}
ATM_IV: dict[str, float] = {"NIFTY": 0.13, "BANKNIFTY": 0.15}
_DEFAULT_ATM_IV = 0.18
# Rough Dec 2025 levels (rupees per MCX quotation unit); the simulator's own numbers, not market data.
START_PRICES_MCX: dict[str, float] = {
    "GOLD": 130_000.0, "SILVER": 190_000.0, "CRUDEOIL": 5_200.0, "NATURALGAS": 380.0,
}
NIFTY_BANK_CORRELATION = 0.75

# Smile in standardised moneyness z = ln(K/F) / (atm * sqrt(t)): iv = atm + SKEW*z + CURVE*z^2, so a put two
# standard deviations out trades ~4 vol points over ATM, a call two out ~1 point over, and both wings rise.
_SKEW = -0.0075
_CURVE = 0.00625
_Z_CAP = 4.0
_MIN_T_YEARS = 1.0 / 365.0  # below a day the smile stops steepening
_IV_FLOOR = 0.05
_IV_CAP = 1.5


def smile_iv(underlying: str, strike: float, forward: float, t_years: float) -> float:
    """The simulator's implied volatility (annual, e.g. 0.13) for an option on ``underlying``.

    ATM is ~13 % for NIFTY and ~15 % for BANKNIFTY (18 % otherwise); puts (low strikes) carry a skew and both
    wings turn up. Pure: the same inputs always give the same number.
    """
    atm = ATM_IV.get(underlying, _DEFAULT_ATM_IV)
    if strike <= 0.0 or forward <= 0.0:
        return atm
    z = math.log(strike / forward) / (atm * math.sqrt(max(t_years, _MIN_T_YEARS)))
    z = max(-_Z_CAP, min(_Z_CAP, z))
    return max(_IV_FLOOR, min(_IV_CAP, atm + _SKEW * z + _CURVE * z * z))


_NSE_OPEN_MIN = 9 * 60 + 15
_NSE_CLOSE_MIN = 15 * 60 + 30
_BURST_DECAY_MIN = 12.0


def burst_factor(utc_epoch: float, peak: float) -> float:
    """Multiplier of the trade rate at ``utc_epoch``: ``1 + peak`` right after 09:15 IST, ``1 + 0.7*peak``
    just before 15:30, decaying over ~12 minutes; 1 outside those windows and outside NSE hours."""
    if peak <= 0.0:
        return 1.0
    minute = ((utc_epoch + IST_OFFSET_S) % 86400.0) / 60.0
    if not _NSE_OPEN_MIN <= minute <= _NSE_CLOSE_MIN:
        return 1.0
    opening = math.exp(-(minute - _NSE_OPEN_MIN) / _BURST_DECAY_MIN)
    closing = math.exp(-(_NSE_CLOSE_MIN - minute) / _BURST_DECAY_MIN)
    return 1.0 + peak * (opening + 0.7 * closing)


@dataclass(slots=True)
class _Walk:
    log_level: float
    sigma_per_s: float


class Factors:
    """The common price processes, advanced together to the time asked for (never backwards).

    ``level(name)`` is the current level and ``log_level(name)`` its logarithm (stocks move on the change
    of their factor's log level times a beta). Only :meth:`advance` draws random numbers.
    """

    __slots__ = ("_rng", "_walks", "levels", "t")

    def __init__(self, rng: random.Random, start_levels: dict[str, float], t0: float) -> None:
        self._rng = rng
        self._walks = {
            name: _Walk(math.log(level), ANNUAL_VOL.get(name, 0.2) / math.sqrt(TRADING_SECONDS_PER_YEAR))
            for name, level in start_levels.items()
        }
        self.levels = dict(start_levels)
        self.t = t0

    def log_level(self, name: str) -> float:
        return self._walks[name].log_level

    def advance(self, t: float) -> None:
        dt = t - self.t
        if dt <= 0.0:
            return
        self.t = t
        gauss = self._rng.gauss
        sqrt_dt = math.sqrt(dt)
        z_market = gauss(0.0, 1.0)
        rho = NIFTY_BANK_CORRELATION
        for name, walk in self._walks.items():
            if name == "NIFTY":
                z = z_market
            elif name == "BANKNIFTY":
                z = rho * z_market + math.sqrt(1.0 - rho * rho) * gauss(0.0, 1.0)
            else:
                z = gauss(0.0, 1.0)
            s = walk.sigma_per_s
            walk.log_level += -0.5 * s * s * dt + s * sqrt_dt * z
            self.levels[name] = math.exp(walk.log_level)
