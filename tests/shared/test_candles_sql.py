"""The candle SQL (shared.candles_sql) on the real MariaDB equals the pure functions (shared.candles).

Each test has a private database with the real schema (``dhan_ticks``) and the proposed ``dhan_candles_1m``
created from :data:`CANDLE_TABLE_DDL`. Cases and their hand arithmetic are those of tests/shared/test_candles.py.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pymysql
import pytest

from shared.candles import DAY_S, TIMEFRAMES_S, Candle, Trade, fold_candles, resample, session_open_s
from shared.candles_sql import (
    CANDLE_COLUMNS,
    CANDLE_TABLE_DDL,
    CANDLE_UPSERT,
    CANDLES_FROM_TICKS,
    RESAMPLE_QUERY,
    candle_params,
    resample_params,
)
from shared.db import init_schema
from shared.settings import Settings
from tests.shared.test_candles import MINUTE_915, T1, T2, T3, T4, _random_trades, at, p4

SEG, SID = "NSE_FNO", 35001


@pytest.fixture
def db(db_settings: Settings) -> Iterator[Any]:
    asyncio.run(init_schema(db_settings))
    target = db_settings.mysql.target
    conn = pymysql.connect(**target.connect_kwargs(with_db=False), database=target.database)
    with conn.cursor() as cur:
        cur.execute(CANDLE_TABLE_DDL)
    yield conn
    conn.close()


def _row_candle(row: dict[str, Any], start_key: str = "minute_ts") -> Candle:
    """A ``dhan_candles_1m``-shaped row as a Candle (DECIMAL prices back to ten-thousandths)."""
    def p(x: Decimal) -> int:
        return int(x.scaleb(4))

    assert row["vwap_den"] == row["volume"]
    return Candle(int(row[start_key]), p(row["open"]), p(row["high"]), p(row["low"]), p(row["close"]),
                  int(row["volume"]), int(row["buy_volume"]), int(row["sell_volume"]), int(row["trade_count"]),
                  None if row["oi"] is None else int(row["oi"]), p(row["vwap_num"]), int(row["base_cum_volume"]),
                  int(row["first_cum_volume"]), int(row["last_cum_volume"]))


def _stored(conn: Any) -> list[Candle]:
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute(f"SELECT {', '.join(CANDLE_COLUMNS)} FROM dhan_candles_1m ORDER BY minute_ts")
        return [_row_candle(r) for r in cur.fetchall()]


def _upsert(conn: Any, trades: list[Trade]) -> None:
    """What the writer does per batch: fold the new ticks, upsert, commit."""
    rows = [candle_params(SEG, SID, c) for c in fold_candles([("X", t) for t in trades]).values()]
    with conn.cursor() as cur:
        cur.executemany(CANDLE_UPSERT, rows)
    conn.commit()


def test_upserted_increments_equal_the_whole_minute(db: Any) -> None:
    # batches out of order: {T3}, {T1, T4}, {T2} -> the row of tests/shared/test_candles.py's MINUTE_915
    # (open 100.00 from cum 1010, close 100.25 and oi 5000 from cum 1036, volume 36, vwap_num 3597.75)
    for batch in ([T3], [T1, T4], [T2]):
        _upsert(db, batch)
    assert _stored(db) == [MINUTE_915]
    with db.cursor() as cur:
        cur.execute("SELECT minute_ts, minute_ist, trade_date, vwap_num, vwap_den FROM dhan_candles_1m")
        assert cur.fetchone() == (at(9, 15), datetime(2026, 3, 2, 9, 15), date(2026, 3, 2), Decimal("3597.7500"), 36)
    _upsert(db, [])  # a redelivered batch: none of its ticks is new, so nothing is folded or added
    assert _stored(db) == [MINUTE_915]


def test_every_batch_order_gives_the_same_rows(db: Any) -> None:
    trades = [t for _, t in _random_trades(11, 300)]
    expected = sorted(fold_candles([("X", t) for t in trades]).values(), key=lambda c: c.start_ts)
    shuffled = trades[:]
    random.Random(3).shuffle(shuffled)
    for start in range(0, len(shuffled), 37):
        _upsert(db, shuffled[start : start + 37])
    assert _stored(db) == expected


def _insert_ticks(conn: Any, trades: list[Trade]) -> None:
    rows = [
        (SEG, SID, _day(t.exchange_ts), t.cum_volume, Decimal(t.price4).scaleb(-4), t.qty, t.exchange_ts,
         "2026-03-02 00:00:00", 1.0, t.oi, t.side)
        for t in trades
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO dhan_ticks (exchange_segment, security_id, trade_date, cum_volume, ltp, qty, exchange_ts, "
            "exchange_time_ist, recv_ts, oi, side) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
    conn.commit()


def _day(ts: int) -> date:
    return date.fromordinal(date(1970, 1, 1).toordinal() + ts // DAY_S)


def test_candles_from_ticks_of_the_hand_case(db: Any) -> None:
    _insert_ticks(db, [T4, T2, T1, T3])
    with db.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute(CANDLES_FROM_TICKS, {"segment": SEG, "security_id": SID, "trade_date": date(2026, 3, 2)})
        assert [_row_candle(r) for r in cur.fetchall()] == [MINUTE_915]


def test_a_bad_tick_never_breaks_the_statements(db: Any) -> None:
    # qty 50 at cum 30 (impossible from the feed, not refused by the writer): upsert and recompute still work
    # and agree, base 0 (see tests/shared/test_candles.py)
    bad = Trade(at(9, 15), 30, p4(10), 50)
    _upsert(db, [bad])
    _insert_ticks(db, [bad])
    with db.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute(CANDLES_FROM_TICKS, {"segment": SEG, "security_id": SID, "trade_date": date(2026, 3, 2)})
        recomputed = [_row_candle(r) for r in cur.fetchall()]
    assert recomputed == _stored(db) == [fold_candles([("X", bad)])[("X", at(9, 15))]]
    assert recomputed[0].base_cum_volume == 0


def test_candles_from_ticks_equal_the_fold(db: Any) -> None:
    trades = [t for _, t in _random_trades(5, 500)]
    _insert_ticks(db, trades)
    for day in sorted({_day(t.exchange_ts) for t in trades}):
        mine = [t for t in trades if _day(t.exchange_ts) == day]
        expected = sorted(fold_candles([("X", t) for t in mine]).values(), key=lambda c: c.start_ts)
        with db.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute(CANDLES_FROM_TICKS, {"segment": SEG, "security_id": SID, "trade_date": day})
            got = [_row_candle(r) for r in cur.fetchall()]
        assert got == expected


def test_resample_query_equals_the_pure_resample(db: Any) -> None:
    trades = [t for _, t in _random_trades(7, 600)]
    # plus a tick at 15:30:00 and an MCX-evening-like one, so those bars are in the comparison, and a trade
    # stamped late (09:16:10 but the day's largest cum volume): its minute closes the 09:15 bars although
    # minutes 09:17-09:19 come after it in time (open/close follow the cumulative volume)
    trades += [Trade(at(15, 30, 0), 10**6, p4(101), 3, "B", 9), Trade(at(23, 29, 30), 10**6 + 5, p4(99), 5),
               Trade(at(9, 16, 10), 10**6 + 9, p4(123.45), 1)]
    _upsert(db, trades)
    minutes = _stored(db)
    for anchor in (session_open_s("NSE_FNO"), session_open_s("MCX_COMM")):
        for period in TIMEFRAMES_S:
            params = resample_params(SEG, SID, date(2026, 3, 2), date(2026, 3, 3), period, anchor)
            with db.cursor(pymysql.cursors.DictCursor) as cur:
                cur.execute(RESAMPLE_QUERY, params)
                got = [_row_candle(r, "bucket_ts") for r in cur.fetchall()]
            assert got == resample(minutes, period, anchor), (period, anchor)
            if period in (300, 900):  # the bar 09:15 on both grids
                assert next(b for b in got if b.start_ts == at(9, 15)).close4 == p4(123.45)
            assert got  # every timeframe has bars
