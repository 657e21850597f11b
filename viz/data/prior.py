"""Reads of previous sessions for the price charts' "last N days" (read-only, Qt-free).

Which days: the instrument's last N trading days before the shown one, from ``dhan_candles_1m`` (a DISTINCT
over its primary key's prefix: cheap however many trades the days had). What each chart needs:

* the volume-profile chart: each day's volume at every price, grouped in MySQL (``dhan_ticks`` GROUP BY
  price and side: a few hundred rows a day, where the day's trades are tens of thousands), and the one-minute
  ranges of ``dhan_candles_1m`` (where price traded each minute: enough to know when a POC was reached, to
  the minute) -> :class:`~viz.models.prior_sessions.PriorDay`;
* the tick chart: each day's N-trade bars, made in MySQL from the day's trades in cumulative-volume order
  (one-minute candles cannot be cut into bars of N trades; a day's hundred thousand trades stay on the server
  and a few hundred bars come over, so the window's event loop is not held up converting rows):
  :func:`fetch_trade_bars`, the bars :class:`viz.models.bars.TickBars` makes of the same trades.

Every read ends its transaction, as in :mod:`viz.data.history`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import aiomysql
import numpy as np
import numpy.typing as npt

from viz.data.history import fetch_all
from viz.models.bars import Bars
from viz.models.prior_sessions import PriorDay
from viz.models.profile import PriceLadder
from viz.models.ticks import SIDE_CODES

__all__ = ["PRIOR_DAYS_CHOICES", "TRADE_BARS_SQL", "fetch_prior_days", "fetch_trade_bars", "prior_trading_days"]

PRIOR_DAYS_CHOICES = (0, 1, 2, 3, 5, 10, 20)


async def prior_trading_days(pool: aiomysql.Pool, seg: str, sid: int, before: date, n: int) -> list[date]:
    """The instrument's last ``n`` days with candles before ``before``, oldest first."""
    if n <= 0:
        return []
    rows = await fetch_all(
        pool,
        "SELECT DISTINCT trade_date FROM dhan_candles_1m WHERE exchange_segment = %s AND security_id = %s "
        "AND trade_date < %s ORDER BY trade_date DESC LIMIT %s",
        (seg, sid, before, n),
    )
    return sorted(r[0] for r in rows)


async def fetch_prior_days(pool: aiomysql.Pool, seg: str, sid: int, days: Sequence[date],
                           tick_size: float) -> list[PriorDay]:
    """Ladders and one-minute ranges of ``days`` (oldest first)."""
    if not days:
        return []
    out = []
    marks = ",".join(["%s"] * len(days))
    minutes = await fetch_all(
        pool,
        "SELECT trade_date, minute_ts, CAST(low AS DOUBLE), CAST(high AS DOUBLE) FROM dhan_candles_1m "
        f"WHERE exchange_segment = %s AND security_id = %s AND trade_date IN ({marks}) ORDER BY minute_ts",
        (seg, sid, *days),
    )
    by_day: dict[date, list[tuple[Any, ...]]] = {}
    for row in minutes:
        by_day.setdefault(row[0], []).append(row)
    for day in days:
        ladder = PriceLadder(tick_size)
        levels = await fetch_all(
            pool,
            "SELECT CAST(ltp AS DOUBLE), side, SUM(qty) FROM dhan_ticks WHERE exchange_segment = %s "
            "AND security_id = %s AND trade_date = %s GROUP BY ltp, side",
            (seg, sid, day),
        )
        if levels:
            price, side, qty = zip(*levels, strict=True)
            ladder.add_many(np.asarray(price, np.float64), np.asarray(qty, np.int64),
                            np.asarray([SIDE_CODES.get(s, 0) for s in side], np.int8))
        rows = by_day.get(day, [])
        out.append(PriorDay(day, ladder, np.asarray([r[1] for r in rows], np.int64),
                            np.asarray([r[2] for r in rows], np.float64),
                            np.asarray([r[3] for r in rows], np.float64)))
    return out


_GROUP = "PARTITION BY g ORDER BY cum_volume"
TRADE_BARS_SQL = (
    "SELECT MIN(b_open), MAX(ltp), MIN(ltp), MIN(b_close), SUM(qty), SUM(IF(side = 'B', qty, 0)), "
    "SUM(IF(side = 'S', qty, 0)), COUNT(*), MIN(b_start), MIN(b_end) FROM ("
    f"SELECT k.*, FIRST_VALUE(ltp) OVER ({_GROUP}) AS b_open, FIRST_VALUE(ltp) OVER ({_GROUP} DESC) AS b_close, "
    f"FIRST_VALUE(exchange_ts) OVER ({_GROUP}) AS b_start, "
    f"FIRST_VALUE(exchange_ts) OVER ({_GROUP} DESC) AS b_end FROM ("
    "SELECT CAST(ltp AS DOUBLE) AS ltp, qty, side, exchange_ts, cum_volume, "
    "(ROW_NUMBER() OVER (ORDER BY cum_volume) - 1) DIV %s AS g FROM dhan_ticks "
    "WHERE exchange_segment = %s AND security_id = %s AND trade_date = %s"
    ") AS k) AS w GROUP BY g ORDER BY g"
)
"""Bars of N trades of one instrument's day (parameters N, segment, id, day), in :class:`Bars` column order:
trades in cumulative-volume order, cut every N (the last bar may hold fewer), open/close and start/end of each
bar's first and last trade (every value in a window's ``MIN`` is the same)."""


async def fetch_trade_bars(pool: aiomysql.Pool, seg: str, sid: int, day: date, trades_per_bar: int) -> Bars:
    """One day's N-trade bars (:data:`TRADE_BARS_SQL`)."""
    rows = await fetch_all(pool, TRADE_BARS_SQL, (trades_per_bar, seg, sid, day))
    cols: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [()] * 10

    def f(k: int) -> npt.NDArray[np.float64]:
        return np.asarray(cols[k], dtype=np.float64)

    def i(k: int) -> npt.NDArray[np.int64]:
        return np.asarray(cols[k], dtype=np.int64)

    return Bars(f(0), f(1), f(2), f(3), i(4), i(5), i(6), i(7), i(8), i(9))
