"""One-minute candle increments of a batch's ticks, rendered as ``dhan_candles_1m`` value tuples (pure).

The ticks are folded with :func:`shared.candles.fold_candles` (the one definition of a candle) and each
(instrument, minute) part becomes one row of ``writer.sql.candle_upsert``, whose ``ON DUPLICATE KEY UPDATE``
merges it into the stored row exactly as :meth:`shared.candles.Candle.merge` does. The sink folds only the
ticks its transaction really inserted (all of the batch, or the absent ones after a locking read), so a
redelivered tick never reaches a candle. Rows are in key order, the stable lock order of the writer's other
statements. Values come from the batch builder's validated ticks: the segment and date literals are its
cached, checked ones; the rest are integers rendered here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.candles import DAY_S, Trade, fold_candles

__all__ = ["CandleItem", "candle_rows"]

# The fields of writer.batch.TickItem a candle needs, by position: key, price x 10^4, qty, exchange_ts, oi, row,
# side. (TickKey: segment literal, security id, trade-date literal, cum volume.)
CandleItem = tuple[tuple[str, int, str, int], int, int, int, Any, str, str]


def candle_rows(items: Iterable[CandleItem]) -> list[str]:
    """Rendered candle increment rows of ``items`` (ticks of distinct natural keys), one per instrument-minute."""
    trades = ((key[:3], Trade(ets, key[3], px4, qty, side, oi)) for key, px4, qty, ets, oi, _, side in items)
    folded = fold_candles(trades)
    rows = []
    for (ikey, minute), c in sorted(folded.items()):
        seg, sid, day = ikey
        s = minute % DAY_S
        oi = "NULL" if c.oi is None else f"{c.oi:d}"
        rows.append(
            f"({seg},{sid:d},{day},{minute:d},{day[:-1]} {s // 3600:02d}:{s % 3600 // 60:02d}:00',"
            f"{fixed4(c.open4)},{fixed4(c.high4)},{fixed4(c.low4)},{fixed4(c.close4)},{c.volume:d},"
            f"{c.buy_volume:d},{c.sell_volume:d},{c.trade_count:d},{oi},{fixed4(c.turnover4)},{c.volume:d},"
            f"{c.base_cum_volume:d},{c.first_cum_volume:d},{c.last_cum_volume:d})"
        )
    return rows


def fixed4(value: int) -> str:
    """Integer ten-thousandths -> exact decimal text (any size, any sign)."""
    sign = "-" if value < 0 else ""
    q, r = divmod(abs(value), 10000)
    return f"{sign}{q}.{r:04d}"
