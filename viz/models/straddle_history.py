"""A day of stored trades as :class:`viz.models.straddle.StraddleModel` event columns, with the ATM IV solved.

The straddle needs the day's premium, volume and IV of whichever strike was ATM at each moment. The stored
trades (``dhan_ticks``) hold the prices and cumulative volumes; read one row per instrument per exchange
second (its last trade in that second: the model only needs each second's last price and the volume risen
by then), first for the future, whose path gives the strikes that were ATM at some moment
(:func:`visited_strikes`), then for those strikes' calls and puts only.

IV over the day is not stored (``dhan_options_greeks`` keeps the latest only). It is solved here from the
same trades with the greeks service's own Black-76 solver and rules (``feed.greeks``): the premium is the
mid of the trade's stored best bid and ask (the service's default price source), else the trade price; F
is the future's last price at or before the trade; time to expiry from the trade's true epoch to 15:30 IST
on expiry; the configured risk-free rate. Two solves per leg per minute (its first and last trade in the
minute) are enough for a line over the day and cost a few hundred solves rather than one per trade. Live, the greeks
service's events take over.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from shared.calendar import year_fraction
from shared.clock import dhan_epoch_to_utc_epoch
from shared.iv import implied_vol
from viz.models.contracts import OptionSpec
from viz.models.straddle_bulk import UNDERLYING

__all__ = ["SecondRow", "StraddleColumns", "history_columns", "visited_strikes"]

SecondRow = tuple[str, int, int, float, float | None, float | None]  # key, exchange_ts, cum volume, ltp, bid, ask
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def visited_strikes(strikes: Sequence[float], future_prices: Sequence[float]) -> list[float]:
    """The listed strikes (ascending) nearest some price of the future's path (the lower on a tie)."""
    k = np.asarray(sorted(strikes), np.float64)
    u = np.asarray(future_prices, np.float64)
    if not len(k) or not len(u):
        return []
    j = np.clip(np.searchsorted(k, u, side="left"), 1, max(len(k) - 1, 1))
    lower, upper = k[j - 1], k[np.minimum(j, len(k) - 1)]
    idx = np.where(u - lower <= upper - u, j - 1, j)
    idx = np.where(u <= k[0], 0, np.where(u >= k[-1], len(k) - 1, idx))
    return [float(x) for x in np.unique(k[idx])]


@dataclass(frozen=True, slots=True)
class StraddleColumns:
    ts: I64
    contract: I64
    price: F64
    volume: I64
    iv: F64

    def __len__(self) -> int:
        return len(self.ts)


def _premium(ltp: float, bid: float | None, ask: float | None) -> float:
    if bid and ask and 0 < bid <= ask:
        return (bid + ask) / 2.0
    return ltp


def history_columns(
    specs: Sequence[OptionSpec], future_key: str, rows: Sequence[SecondRow], rate: float
) -> StraddleColumns:
    """Event columns in time order (the future first within a second) for ``StraddleModel.extend``; keys
    not in ``specs`` nor the future are skipped. IV solved at each leg's first and last row of each minute."""
    index = {s.key: i for i, s in enumerate(specs)}
    kept = [r for r in rows if r[0] == future_key or r[0] in index]
    kept.sort(key=lambda r: (r[1], r[0] != future_key))
    n = len(kept)
    ts = np.fromiter((r[1] for r in kept), np.int64, n)
    contract = np.fromiter((UNDERLYING if r[0] == future_key else index[r[0]] for r in kept), np.int64, n)
    price = np.fromiter((r[3] for r in kept), np.float64, n)
    volume = np.fromiter((-1 if r[0] == future_key else r[2] for r in kept), np.int64, n)
    iv = np.full(n, math.nan)
    solve_at: set[int] = set()
    first: dict[tuple[int, int], int] = {}
    last: dict[tuple[int, int], int] = {}
    for i in range(n):
        if contract[i] != UNDERLYING:
            minute = (int(contract[i]), int(ts[i]) // 60)
            first.setdefault(minute, i)
            last[minute] = i
    solve_at.update(first.values(), last.values())
    future_at = np.maximum.accumulate(np.where(contract == UNDERLYING, np.arange(n), -1)) if n else ts
    for i in sorted(solve_at):
        f_pos = int(future_at[i])
        spec = specs[int(contract[i])]
        if f_pos < 0 or not spec.expiry:
            continue
        t = year_fraction(date.fromisoformat(spec.expiry), dhan_epoch_to_utc_epoch(int(ts[i])))
        premium = _premium(*kept[i][3:6])
        solved = implied_vol(premium, float(price[f_pos]), spec.strike, t, rate, spec.option_type == "CE")
        if solved is not None:
            iv[i] = solved
    return StraddleColumns(ts, contract, price, volume, iv)
