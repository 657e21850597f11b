"""SQL of the one-minute candles: the table, the writer's upsert, resampling and recomputation.

Every statement here computes what :mod:`shared.candles` computes, and the tests check each against it on
MariaDB (``tests/shared/test_candles_sql.py``). Parameters are pyformat (``%(name)s`` / ``%s``), as aiomysql
and PyMySQL take them.

:data:`CANDLE_TABLE_DDL` is ``dhan_candles_1m`` as its migration (``005_candles.sql``) creates it. One row
per instrument and minute; the key leads with the instrument and day like ``dhan_ticks``, and it is partitioned
by ``trade_date`` the same way (``ensure_partitions`` splits it monthly too).

Upsert semantics (:data:`CANDLE_UPSERT`). The writer inserts, in the transaction that inserts the ticks, one
row per (instrument, minute) of the ticks that were really new (``fold_candles``), never of a redelivered tick.
On a key that exists the row is *merged*, as :meth:`Candle.merge` does: open/base move only to a smaller
``first_cum_volume``, close/OI only to a larger ``last_cum_volume``, high/low are max/min and the sums add.
Those comparisons come before ``first_cum_volume``/``last_cum_volume`` are moved: MySQL and MariaDB assign
left to right and a later assignment sees the earlier ones (under MariaDB's ``SIMULTANEOUS_ASSIGNMENT`` all see
the old row, which gives the same result). Merging is associative and commutative, so the row equals the
aggregate of all the minute's ticks whatever the batches and their order: a replay that inserts nothing adds
nothing, and :data:`CANDLES_FROM_TICKS` (what ``dhan verify`` compares with) gives the same row.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from shared.candles import DAY_S, Candle, bucket_start
from shared.schema import load_migrations

__all__ = [
    "CANDLES_FROM_TICKS",
    "CANDLE_COLUMNS",
    "CANDLE_TABLE",
    "CANDLE_TABLE_DDL",
    "CANDLE_UPSERT",
    "CANDLE_UPSERT_UPDATE",
    "RESAMPLE_QUERY",
    "candle_params",
    "candles_from_ticks",
    "resample_params",
]

CANDLE_TABLE = "dhan_candles_1m"

# the table as its migration (shared/schema/005_candles.sql, the one definition) creates it
[CANDLE_TABLE_DDL] = next(m for m in load_migrations() if m.name == "candles").statements

CANDLE_COLUMNS = (
    "exchange_segment", "security_id", "trade_date", "minute_ts", "minute_ist", "open", "high", "low", "close",
    "volume", "buy_volume", "sell_volume", "trade_count", "oi", "vwap_num", "vwap_den", "base_cum_volume",
    "first_cum_volume", "last_cum_volume",
)  # fmt: skip

_FIRST = "VALUES(first_cum_volume) < first_cum_volume"
_LAST = "VALUES(last_cum_volume) > last_cum_volume"
CANDLE_UPSERT_UPDATE = (
    " ON DUPLICATE KEY UPDATE "
    f"open = IF({_FIRST}, VALUES(open), open), "
    f"base_cum_volume = IF({_FIRST}, VALUES(base_cum_volume), base_cum_volume), "
    "first_cum_volume = LEAST(first_cum_volume, VALUES(first_cum_volume)), "
    f"close = IF({_LAST}, VALUES(close), close), "
    f"oi = IF({_LAST}, VALUES(oi), oi), "
    "last_cum_volume = GREATEST(last_cum_volume, VALUES(last_cum_volume)), "
    "high = GREATEST(high, VALUES(high)), "
    "low = LEAST(low, VALUES(low)), "
    "volume = volume + VALUES(volume), "
    "buy_volume = buy_volume + VALUES(buy_volume), "
    "sell_volume = sell_volume + VALUES(sell_volume), "
    "trade_count = trade_count + VALUES(trade_count), "
    "vwap_num = vwap_num + VALUES(vwap_num), "
    "vwap_den = vwap_den + VALUES(vwap_den)"
)
"""The merge of an upsert, for the writer's own rendered ``INSERT ... VALUES`` head."""

CANDLE_UPSERT = (
    f"INSERT INTO {CANDLE_TABLE} ({', '.join(CANDLE_COLUMNS)}) VALUES ({', '.join(['%s'] * len(CANDLE_COLUMNS))})"
    + CANDLE_UPSERT_UPDATE
)
"""Upsert of :func:`candle_params` rows (``executemany``)."""


def _price(value4: int) -> Decimal:
    return Decimal(value4).scaleb(-4)


def candle_params(segment: str, security_id: int, candle: Candle) -> tuple[Any, ...]:
    """The :data:`CANDLE_COLUMNS` values of a 1-minute candle, exact (prices as ``Decimal``)."""
    c = candle
    return (
        segment, security_id, c.trade_date, c.start_ts, c.trade_date.isoformat() + " " + _hms(c.start_ts),
        _price(c.open4), _price(c.high4), _price(c.low4), _price(c.close4), c.volume, c.buy_volume,
        c.sell_volume, c.trade_count, c.oi, _price(c.turnover4), c.volume, c.base_cum_volume,
        c.first_cum_volume, c.last_cum_volume,
    )


def _hms(ts: int) -> str:
    s = ts % DAY_S
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


# The bar of a minute: GREATEST(day start, the grid point at or before it), the grid being offset + k * period
# (shared.candles.bucket_start; resample_params gives offset 0 for the day). Unsigned arithmetic never goes
# below 0: minute_ts is far above offset_s.
_BUCKET = (
    "GREATEST(minute_ts - minute_ts MOD 86400, "
    "minute_ts - (minute_ts - %(offset_s)s) MOD %(period_s)s)"
)

RESAMPLE_QUERY = (
    "SELECT bucket_ts, MIN(b_open) AS open, MAX(high) AS high, MIN(low) AS low, MIN(b_close) AS close, "
    "SUM(volume) AS volume, SUM(buy_volume) AS buy_volume, SUM(sell_volume) AS sell_volume, "
    "SUM(trade_count) AS trade_count, MIN(b_oi) AS oi, SUM(vwap_num) AS vwap_num, SUM(vwap_den) AS vwap_den, "
    "MIN(b_base) AS base_cum_volume, MIN(first_cum_volume) AS first_cum_volume, "
    "MAX(last_cum_volume) AS last_cum_volume FROM ("
    "SELECT m.*, "
    "FIRST_VALUE(open) OVER (PARTITION BY bucket_ts ORDER BY first_cum_volume) AS b_open, "
    "FIRST_VALUE(base_cum_volume) OVER (PARTITION BY bucket_ts ORDER BY first_cum_volume) AS b_base, "
    "FIRST_VALUE(close) OVER (PARTITION BY bucket_ts ORDER BY last_cum_volume DESC) AS b_close, "
    "FIRST_VALUE(oi) OVER (PARTITION BY bucket_ts ORDER BY last_cum_volume DESC) AS b_oi FROM ("
    f"SELECT c.*, {_BUCKET} AS bucket_ts FROM {CANDLE_TABLE} AS c "
    "WHERE exchange_segment = %(segment)s AND security_id = %(security_id)s "
    "AND trade_date >= %(from_date)s AND trade_date <= %(to_date)s"
    ") AS m) AS w GROUP BY bucket_ts ORDER BY bucket_ts"
)
"""Bars of one instrument over trading days ``from_date..to_date`` (inclusive): the rows of
:func:`shared.candles.resample` in the columns of ``dhan_candles_1m`` (``bucket_ts`` for ``minute_ts``).
Parameters: :func:`resample_params`. Open/close follow the cumulative volume, as in :meth:`Candle.merge`
(every value in a window's ``MIN`` is the same; ``MIN`` only satisfies ``ONLY_FULL_GROUP_BY``)."""


def resample_params(segment: str, security_id: int, from_date: Any, to_date: Any, period_s: int,
                    anchor_s: int) -> dict[str, Any]:
    """Parameters of :data:`RESAMPLE_QUERY` for bars of ``period_s`` on the grid through ``anchor_s``."""
    bucket_start(0, period_s, anchor_s)  # the same period check as the pure function
    offset = 0 if period_s == DAY_S else anchor_s % period_s
    return {"segment": segment, "security_id": security_id, "from_date": from_date, "to_date": to_date,
            "period_s": period_s, "offset_s": offset}


def candles_from_ticks(where: str) -> str:
    """SELECT of the 1-minute candles recomputed from the ``dhan_ticks`` rows matching ``where`` (SQL over the
    ticks' columns, any instruments and days), in :data:`CANDLE_COLUMNS` order, ordered by key.

    The rows :meth:`Candle.merge` of all the minute's ticks gives: open/base of the smallest cumulative volume,
    close/OI of the largest (every value in a window's ``MIN`` is the same; ``MIN`` only satisfies
    ``ONLY_FULL_GROUP_BY``). The writer's last-resort recompute inserts it (``writer.sql.candle_recompute``);
    :data:`CANDLES_FROM_TICKS` is its one-instrument-day form.
    """
    part = "PARTITION BY exchange_segment, security_id, trade_date, minute_ts"
    return (
        "SELECT exchange_segment, security_id, trade_date, minute_ts, MIN(minute_ist) AS minute_ist, "
        "MIN(t_open) AS open, MAX(ltp) AS high, MIN(ltp) AS low, MIN(t_close) AS close, SUM(qty) AS volume, "
        "SUM(IF(side = 'B', qty, 0)) AS buy_volume, SUM(IF(side = 'S', qty, 0)) AS sell_volume, "
        "COUNT(*) AS trade_count, MIN(t_oi) AS oi, SUM(ltp * qty) AS vwap_num, SUM(qty) AS vwap_den, "
        "MIN(t_base) AS base_cum_volume, MIN(cum_volume) AS first_cum_volume, "
        "MAX(cum_volume) AS last_cum_volume FROM ("
        "SELECT k.*, "
        f"FIRST_VALUE(ltp) OVER ({part} ORDER BY cum_volume) AS t_open, "
        f"FIRST_VALUE(GREATEST(cum_volume, qty) - qty) OVER ({part} ORDER BY cum_volume) AS t_base, "
        f"FIRST_VALUE(ltp) OVER ({part} ORDER BY cum_volume DESC) AS t_close, "
        f"FIRST_VALUE(oi) OVER ({part} ORDER BY cum_volume DESC) AS t_oi FROM ("
        "SELECT t.*, exchange_ts - exchange_ts MOD 60 AS minute_ts, "
        "CAST(trade_date AS DATETIME) + INTERVAL (exchange_ts MOD 86400 - exchange_ts MOD 60) SECOND AS minute_ist "
        f"FROM dhan_ticks AS t WHERE {where}"
        ") AS k) AS w GROUP BY exchange_segment, security_id, trade_date, minute_ts "
        "ORDER BY exchange_segment, security_id, trade_date, minute_ts"
    )


CANDLES_FROM_TICKS = (
    f"SELECT {', '.join(CANDLE_COLUMNS[3:4] + CANDLE_COLUMNS[5:])} FROM ("
    + candles_from_ticks(
        "exchange_segment = %(segment)s AND security_id = %(security_id)s AND trade_date = %(trade_date)s"
    )
    + ") AS r ORDER BY minute_ts"
)
"""The 1-minute candles of one instrument and trading day recomputed from ``dhan_ticks``: what the rows of
``dhan_candles_1m`` must equal (``dhan verify``), in its columns from ``minute_ts`` on, without
``minute_ist``. Parameters ``segment``, ``security_id``, ``trade_date``."""
