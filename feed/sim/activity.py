"""How often each simulated instrument updates: the activity of a live NSE F&O session (the default).

A rate is updates per second of one instrument at mid-session. An update is a trade, or a change of the book
alone (a quarter of them, :mod:`feed.sim.book`), and becomes one packet in the subscribed mode (a ticker
subscriber sees trades only). The opening and closing bursts (:func:`feed.sim.model.burst_factor`) multiply
every rate. With ``DHAN_SIM_RATE`` set above 0 the rates are only weights, and the total is that rate.

Calibrated against what a Dhan client sees of a normal (non-expiry) session, which is snapshots rather than
every exchange trade:

=================== ============================================================================================
NIFTY 50, NIFTY     NSE disseminates index values about once a second: 1/s.
BANK (IDX_I)
index futures       the near-month NIFTY future trades on almost every broadcast: 4/s; next month 1/s, far
                    month 0.25/s. BANKNIFTY 3/s, 0.6/s, 0.15/s.
index options       NSE's option chain of a NIFTY weekly expiry holds its volume within a few strikes of the
                    money, on the out-of-the-money side; in-the-money strikes three or more away trade a few per
                    cent of the at-the-money volume, the far wings next to nothing. So: 5/s at the money of the
                    nearest NIFTY expiry (BANKNIFTY 3/s, monthly only), falling as a Gaussian of the distance in
                    strikes with a width of 6 strikes out of the money and 2.5 in the money, never below 0.02/s
                    (one update in 50 s). Later expiries: 0.3, 0.15 and 0.08 of the nearest.
NIFTY 50 stocks     from the day's turnover (volume x last price) in the packaged NSE market watch of
                    13 Dec 2025 (``feed/sim/data``): 0.4/s plus 2.6/s x sqrt(turnover / the largest), so from
                    0.9/s (COALINDIA, Rs 54 crore) through 2.1/s (TATASTEEL) to 3/s (INDIGO, Rs 1,643 crore).
MCX futures         near month: GOLD and CRUDEOIL 2/s, SILVER and NATURALGAS 1.5/s; the next month 0.3/s.
=================== ============================================================================================

What the default feed universe then receives (ATM +/- 20 NIFTY strikes, +/- 10 BANKNIFTY, two futures each,
the indices and the NIFTY 50: 176 instruments) is ~260 updates/s at mid-session, three times that right after
09:15; ``bench/sim_activity.py`` measures it per instrument class through ``dhan sim`` + ``dhan feed``. Pure
functions: no state, no I/O.
"""

from __future__ import annotations

import math

__all__ = [
    "EXPIRY_SHARE",
    "FUTURE_RATES",
    "INDEX_RATE",
    "OPTION_FLOOR",
    "OPTION_PEAK",
    "PRE_OPEN_SHARE",
    "equity_rate",
    "future_rate",
    "option_rate",
]

INDEX_RATE = 1.0
FUTURE_RATES: dict[str, tuple[float, ...]] = {
    "NIFTY": (4.0, 1.0, 0.25),
    "BANKNIFTY": (3.0, 0.6, 0.15),
    "GOLD": (2.0, 0.3),
    "CRUDEOIL": (2.0, 0.3),
    "SILVER": (1.5, 0.3),
    "NATURALGAS": (1.5, 0.3),
}
_DEFAULT_FUTURE_RATES = (1.0, 0.2)
OPTION_PEAK: dict[str, float] = {"NIFTY": 5.0, "BANKNIFTY": 3.0}
_DEFAULT_OPTION_PEAK = 1.0
EXPIRY_SHARE = (1.0, 0.3, 0.15, 0.08)
OTM_WIDTH_STRIKES = 6.0
ITM_WIDTH_STRIKES = 2.5
OPTION_FLOOR = 0.02
EQUITY_FLOOR = 0.4
EQUITY_SPAN = 2.6
# NSE's pre-open (09:00-09:15) takes orders for stocks and futures without trading them: their books change at
# this share of the live rate; options and index values stay quiet until 09:15.
PRE_OPEN_SHARE = 0.2


def future_rate(underlying: str, rank: int) -> float:
    """Updates/s of the ``rank``-th nearest future (0 = near month) of ``underlying``."""
    rates = FUTURE_RATES.get(underlying, _DEFAULT_FUTURE_RATES)
    return rates[min(rank, len(rates) - 1)]


def option_rate(underlying: str, strikes_out: float, expiry_rank: int) -> float:
    """Updates/s of an option ``strikes_out`` strikes out of the money (negative: in the money) of the
    ``expiry_rank``-th nearest expiry (0 = nearest)."""
    width = OTM_WIDTH_STRIKES if strikes_out >= 0.0 else ITM_WIDTH_STRIKES
    peak = OPTION_PEAK.get(underlying, _DEFAULT_OPTION_PEAK) * EXPIRY_SHARE[min(expiry_rank, len(EXPIRY_SHARE) - 1)]
    return max(OPTION_FLOOR, peak * math.exp(-0.5 * (strikes_out / width) ** 2))


def equity_rate(turnover: float, max_turnover: float) -> float:
    """Updates/s of a stock with the day's ``turnover`` when the most traded one turns over ``max_turnover``."""
    if max_turnover <= 0.0 or turnover <= 0.0:
        return EQUITY_FLOOR
    return EQUITY_FLOOR + EQUITY_SPAN * math.sqrt(min(1.0, turnover / max_turnover))
