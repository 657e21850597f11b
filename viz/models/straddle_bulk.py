"""The straddle model's vectorised path: a day of events at once, with :meth:`StraddleModel.update`'s result.

Kept apart from :mod:`viz.models.straddle` so each reads on its own; the definitions are in that module's
docstring. Every step mirrors the one-event path in the same floating-point order (running sums are a
cumulative sum seeded with the carried-in total), so the two agree exactly, not merely closely.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["UNDERLYING", "BulkState", "extend_series"]

UNDERLYING = -1
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
_NAN4 = (math.nan, math.nan, math.nan, math.nan)


@dataclass(slots=True)
class BulkState:
    """What carries from one event to the next: per contract (index) the last LTP, IV and cumulative volume."""

    price: F64
    iv: F64
    volume: I64
    underlying: float = math.nan
    num: float = 0.0  # sum of premium x volume counted into the VWAP
    den: int = 0  # volume counted into the VWAP
    last: tuple[float, float, float, float] = _NAN4  # (atm, premium, iv, vwap) of the last recorded point


def _last_at(positions: npt.NDArray[np.intp], vals: F64, query: npt.NDArray[np.intp], initial: float) -> F64:
    """The value at the last of ``positions`` (ascending) at or before each ``query`` index, else ``initial``."""
    k = np.searchsorted(positions, query, side="right") - 1
    out = np.full(len(query), initial, dtype=np.float64)
    hit = k >= 0
    out[hit] = vals[k[hit]]
    return out


def _atm_index(strikes: F64, u: F64) -> I64:
    """Index of the nearest strike to each price (the lower on a tie); -1 where the price is unknown."""
    n = len(strikes)
    if n == 0:
        return np.full(len(u), -1, np.int64)
    with np.errstate(invalid="ignore"):
        j = np.clip(np.searchsorted(strikes, u, side="left"), 1, max(n - 1, 1))
        lower, upper = strikes[j - 1], strikes[np.minimum(j, n - 1)]
        idx = np.where(u - lower <= upper - u, j - 1, j)
    idx = np.where(u <= strikes[0], 0, np.where(u >= strikes[-1], n - 1, idx))
    return np.where(np.isnan(u), -1, idx).astype(np.int64)


def _columns(n_contracts: int, ts: npt.ArrayLike, contract: npt.ArrayLike, price: npt.ArrayLike,
             volume: npt.ArrayLike, iv: npt.ArrayLike | None) -> tuple[I64, I64, F64, I64, F64]:
    t = np.asarray(ts, dtype=np.int64)
    c = np.asarray(contract, dtype=np.int64)
    p = np.asarray(price, dtype=np.float64)
    v = np.asarray(volume, dtype=np.int64)
    s = np.full(len(t), math.nan) if iv is None else np.asarray(iv, dtype=np.float64)
    if not len(t) == len(c) == len(p) == len(v) == len(s):
        raise ValueError("event columns differ in length")
    if len(c) and (c.min() < UNDERLYING or c.max() >= n_contracts):
        raise ValueError("a contract index is outside the model's contracts")
    return t, c, p, v, s


def extend_series(state: BulkState, strikes: list[float], legs: dict[float, tuple[int, int]], n_contracts: int,
                  ts: npt.ArrayLike, contract: npt.ArrayLike, price: npt.ArrayLike, volume: npt.ArrayLike,
                  iv: npt.ArrayLike | None) -> dict[str, npt.NDArray[Any]]:
    """Run events through ``state``; returns the recorded points' columns (ts, atm, premium, iv, vwap, moved)."""
    t, c, p, v, s = _columns(n_contracts, ts, contract, price, volume, iv)
    m = len(t)
    if m == 0:
        return {name: np.zeros(0, dt) for name, dt in (("ts", np.int64), ("atm", np.float64), (
            "premium", np.float64), ("iv", np.float64), ("vwap", np.float64), ("moved", np.bool_))}
    is_u = (c == UNDERLYING) & ~np.isnan(p)
    u = _last_at(np.flatnonzero(is_u), p[is_u], np.arange(m), state.underlying)
    k_arr = np.asarray(strikes, dtype=np.float64)
    atm_idx = _atm_index(k_arr, u)
    order = np.argsort(c, kind="stable")  # each contract's events, in stream order
    bounds = np.searchsorted(c[order], np.arange(-1, n_contracts + 1))
    qty = np.zeros(m, np.int64)
    groups: dict[int, npt.NDArray[np.intp]] = {}
    for k in range(n_contracts):
        pos = order[bounds[k + 1] : bounds[k + 2]]
        if len(pos) == 0:
            continue
        groups[k] = pos
        running = np.maximum.accumulate(np.concatenate(([state.volume[k]], v[pos])))
        qty[pos] = np.maximum(0, v[pos] - running[:-1])
        state.volume[k] = running[-1]
    premium, iv_atm = _leg_values(state, strikes, legs, groups, atm_idx, p, s)
    calls = np.array([legs[k][0] for k in strikes] + [-2], dtype=np.int64)  # -2: no ATM matches no contract
    puts = np.array([legs[k][1] for k in strikes] + [-2], dtype=np.int64)
    counted = (qty > 0) & ((c == calls[atm_idx]) | (c == puts[atm_idx])) & ~np.isnan(premium)
    w = np.where(counted, qty, 0)
    num = np.cumsum(np.concatenate(([state.num], np.where(counted, premium * w, 0.0))))[1:]
    den = np.cumsum(np.concatenate(([state.den], w)))[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = np.where(den > 0, num / np.where(den > 0, den, 1), math.nan)
    atm_f = np.where(atm_idx >= 0, np.append(k_arr, math.nan)[atm_idx], math.nan)
    now = np.stack((atm_f, premium, iv_atm, vwap))
    before = np.concatenate((np.array(state.last, dtype=np.float64)[:, None], now[:, :-1]), axis=1)
    changed = ~np.all((now == before) | (np.isnan(now) & np.isnan(before)), axis=0)
    moved = ~np.isnan(before[0]) & (atm_f != before[0])
    _carry(state, groups, p, s, u[-1], float(num[-1]), int(den[-1]), now[:, -1])
    return {"ts": t[changed], "atm": atm_f[changed], "premium": premium[changed], "iv": iv_atm[changed],
            "vwap": vwap[changed], "moved": moved[changed]}


def _leg_values(state: BulkState, strikes: list[float], legs: dict[float, tuple[int, int]],
                groups: dict[int, npt.NDArray[np.intp]], atm_idx: I64, p: F64, s: F64) -> tuple[F64, F64]:
    """Straddle premium and ATM IV at each event, from the legs' last values (before ``state`` moves on)."""
    m = len(atm_idx)
    premium = np.full(m, math.nan)
    iv_sum, iv_n = np.zeros(m), np.zeros(m, np.int64)
    empty = np.zeros(0, np.intp)
    for a in np.unique(atm_idx[atm_idx >= 0]).tolist():
        query = np.flatnonzero(atm_idx == a)
        leg_prices = []
        for leg in legs[strikes[a]]:
            pos = groups.get(leg, empty)
            has_p, has_s = pos[~np.isnan(p[pos])], pos[~np.isnan(s[pos])]
            leg_prices.append(_last_at(has_p, p[has_p], query, float(state.price[leg])))
            leg_iv = _last_at(has_s, s[has_s], query, float(state.iv[leg]))
            known = ~np.isnan(leg_iv)
            iv_sum[query] += np.where(known, leg_iv, 0.0)
            iv_n[query] += known
        premium[query] = leg_prices[0] + leg_prices[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        iv_atm = np.where(iv_n > 0, iv_sum / np.maximum(iv_n, 1), math.nan)
    return premium, iv_atm


def _carry(state: BulkState, groups: dict[int, npt.NDArray[np.intp]], p: F64, s: F64, underlying: float,
           num: float, den: int, last: F64) -> None:
    """Leave ``state`` as the one-event path would: each contract's last known LTP and IV, the sums."""
    for k, pos in groups.items():
        has_p, has_s = pos[~np.isnan(p[pos])], pos[~np.isnan(s[pos])]
        if len(has_p):
            state.price[k] = p[has_p[-1]]
        if len(has_s):
            state.iv[k] = s[has_s[-1]]
    state.underlying, state.num, state.den = float(underlying), num, den
    state.last = (float(last[0]), float(last[1]), float(last[2]), float(last[3]))
