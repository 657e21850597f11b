"""One-minute candle increments of a batch's ticks, rendered as ``dhan_candles_1m`` value tuples (pure).

The ticks are folded as :func:`shared.candles.fold_candles` (the one definition of a candle) folds them, and
each (instrument, minute) part becomes one row of ``writer.sql.candle_upsert``, whose ``ON DUPLICATE KEY UPDATE``
merges it into the stored row exactly as :meth:`shared.candles.Candle.merge` does. The sink folds only the
ticks its transaction really inserted (all of the batch, or the absent ones after a locking read), so a
redelivered tick never reaches a candle. Rows are in key order, the stable lock order of the writer's other
statements. Values come from the batch builder's validated ticks: the segment and date literals are its
cached, checked ones; the rest are integers rendered here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.candles import DAY_S, MINUTE_S

__all__ = ["CandleItem", "candle_rows"]

# The fields of writer.batch.TickItem a candle needs, by position: key, price x 10^4, qty, exchange_ts, oi, row,
# side. (TickKey: segment literal, security id, trade-date literal, cum volume.)
CandleItem = tuple[tuple[str, int, str, int], int, int, int, Any, str, str]


def candle_rows(items: Sequence[CandleItem]) -> list[str]:
    """Rendered candle increment rows of ``items``, one per instrument-minute, in key order.

    ``items`` are a batch's ticks of distinct natural keys in key order (``Batch.tick_items``), so within an
    (instrument, day) cumulative volume rises along them: a minute's first item is its open (and base), its
    last its close and OI, as :func:`shared.candles.fold_candles` decides by cumulative volume (the tests
    check the rows equal its candles). Accumulated in lists, not :class:`~shared.candles.Candle` objects:
    this runs for every tick on the writer's hot path (bench/writer_build.py).
    """
    # acc: [open4, high4, low4, close4, volume, buy, sell, n, oi, turnover4, base, first_cv, last_cv]
    acc: dict[tuple[str, int, str, int], list[Any]] = {}
    for (seg, sid, day, cum), px4, qty, ets, oi, _, side in items:
        key = (seg, sid, day, ets - ets % MINUTE_S)
        a = acc.get(key)
        if a is None:
            acc[key] = [px4, px4, px4, px4, qty, qty if side == "B" else 0, qty if side == "S" else 0, 1, oi,
                        px4 * qty, max(cum - qty, 0), cum, cum]
            continue
        a[3], a[8], a[12] = px4, oi, cum
        if px4 > a[1]:
            a[1] = px4
        elif px4 < a[2]:
            a[2] = px4
        a[4] += qty
        if side == "B":
            a[5] += qty
        elif side == "S":
            a[6] += qty
        a[7] += 1
        a[9] += px4 * qty
    rows = []
    for (seg, sid, day, minute), a in sorted(acc.items()):
        s = minute % DAY_S
        rows.append(
            f"({seg},{sid:d},{day},{minute:d},{day[:-1]} {s // 3600:02d}:{s % 3600 // 60:02d}:00',"
            f"{fixed4(a[0])},{fixed4(a[1])},{fixed4(a[2])},{fixed4(a[3])},{a[4]:d},{a[5]:d},{a[6]:d},{a[7]:d},"
            f"{'NULL' if a[8] is None else f'{a[8]:d}'},{fixed4(a[9])},{a[4]:d},{a[10]:d},{a[11]:d},{a[12]:d})"
        )
    return rows


def fixed4(value: int) -> str:
    """Integer ten-thousandths -> exact decimal text (any size, any sign)."""
    sign = "-" if value < 0 else ""
    q, r = divmod(abs(value), 10000)
    return f"{sign}{q}.{r:04d}"
