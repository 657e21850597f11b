"""One-minute candles of many trades at once (numpy): history loads, ``dhan verify``, the bench.

Same definitions as :mod:`shared.candles` (the module docstring there), same results as folding the trades
one by one with :meth:`Candle.add`, which the tests check. Columns are one instrument's trades, any order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from shared.candles import (
    DAY_S,
    MINUTE_S,
    OI_NONE,
    SIDE_BUY,
    SIDE_CODES,
    SIDE_SELL,
    Candle,
    DuplicateTrade,
)

__all__ = ["candles_from_arrays", "side_codes"]

I64 = npt.NDArray[np.int64]
_I64_MAX = (1 << 63) - 1


def side_codes(sides: Any) -> npt.NDArray[np.int8]:
    """``"B"``/``"S"``/``""`` strings (a DB column, events) -> :data:`SIDE_CODES` as int8."""
    text = np.asarray(sides, dtype="U1")
    out = np.zeros(len(text), np.int8)
    out[text == "B"] = SIDE_CODES["B"]
    out[text == "S"] = SIDE_CODES["S"]
    return out


def _sorted(ts: I64, cum: I64) -> npt.NDArray[np.intp] | None:
    """The permutation putting trades in (minute, cum_volume) order, or None when they already are."""
    minute = ts - ts % MINUTE_S
    if len(ts) < 2:
        return None
    dm, dc = np.diff(minute), np.diff(cum)
    if np.all((dm > 0) | ((dm == 0) & (dc > 0))):
        return None
    return np.lexsort((cum, minute))


def _check_unique(day: I64, cum: I64) -> None:
    """:class:`DuplicateTrade` when two trades share a natural key (day, cum_volume). Trades in (minute,
    cum_volume) order whose volume rises through each day are unique without a second sort."""
    dd, dc = np.diff(day), np.diff(cum)
    if np.all((dd > 0) | (dc > 0)):
        return
    order = np.lexsort((cum, day))
    same = (np.diff(day[order]) == 0) & (np.diff(cum[order]) == 0)
    if same.any():
        i = order[int(np.flatnonzero(same)[0])]
        raise DuplicateTrade(f"trade at cumulative volume {int(cum[i])} given twice")


def _turnover(px: I64, qty: I64, starts: npt.NDArray[np.intp]) -> list[int]:
    """Exact ``sum(px * qty)`` per group: int64 when no sum can overflow (checked with Python ints), else
    Python integers."""
    if len(px) == 0:
        return []
    bound = int(np.abs(px).max()) * int(np.abs(qty).max()) * len(px)
    if bound <= _I64_MAX:
        return [int(x) for x in np.add.reduceat(px * qty, starts)]
    products = px.astype(object) * qty.astype(object)
    return [int(x) for x in np.add.reduceat(products, starts)]


def candles_from_arrays(
    exchange_ts: Any, cum_volume: Any, price4: Any, qty: Any, side: Any, oi: Any = None
) -> list[Candle]:
    """One-minute candles of one instrument's trades given as columns, oldest minute first.

    ``price4``: prices in ten-thousandths; ``side``: :data:`SIDE_CODES` codes (:func:`side_codes`); ``oi``:
    OI per trade with :data:`OI_NONE` for none, or None for no OI at all. Trades may come in any order; the
    same trade twice (equal day and cumulative volume) raises :class:`DuplicateTrade`.
    """
    ts = np.asarray(exchange_ts, dtype=np.int64)
    cum = np.asarray(cum_volume, dtype=np.int64)
    px = np.asarray(price4, dtype=np.int64)
    q = np.asarray(qty, dtype=np.int64)
    sd = np.asarray(side, dtype=np.int8)
    o = np.full(len(ts), OI_NONE, np.int64) if oi is None else np.asarray(oi, dtype=np.int64)
    if len(ts) == 0:
        return []
    order = _sorted(ts, cum)
    if order is not None:
        ts, cum, px, q, sd, o = ts[order], cum[order], px[order], q[order], sd[order], o[order]
    _check_unique(ts // DAY_S, cum)
    minute = ts - ts % MINUTE_S
    starts = np.concatenate(([0], np.flatnonzero(np.diff(minute)) + 1)).astype(np.intp)
    ends = np.append(starts[1:], len(ts)) - 1
    cols = (
        minute[starts], px[starts], np.maximum.reduceat(px, starts), np.minimum.reduceat(px, starts), px[ends],
        np.add.reduceat(q, starts), np.add.reduceat(np.where(sd == SIDE_BUY, q, 0), starts),
        np.add.reduceat(np.where(sd == SIDE_SELL, q, 0), starts), ends - starts + 1, o[ends],
    )
    turnover = _turnover(px, q, starts)
    base, first, last = np.maximum(cum[starts] - q[starts], 0), cum[starts], cum[ends]
    rows = zip(*(c.tolist() for c in cols), turnover, base.tolist(), first.tolist(), last.tolist(), strict=True)
    return [Candle(m, op, hi, lo, cl, v, b, s, n, None if oi_ < 0 else oi_, t, ba, f, la)
            for m, op, hi, lo, cl, v, b, s, n, oi_, t, ba, f, la in rows]
