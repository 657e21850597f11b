"""dhan_candles_1m written by the writer in the ticks' transaction: exactly-once through redelivery, feed
replays, partial overlaps, a connection killed mid-batch and two writers holding the same trades; always
equal to the recomputation from dhan_ticks (shared.candles_sql.candles_from_ticks)."""

from __future__ import annotations

import asyncio
import random
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
import redis.asyncio as aioredis

from shared.candles_sql import CANDLE_COLUMNS
from shared.db import connect
from shared.keys import Keys
from shared.settings import Settings
from tests.conftest import eventually
from writer import sql
from writer.batch import BatchBuilder, Entry
from writer.sink import MySQLSink

from .conftest import (
    BASE_TS,
    CANDLES_RECOMPUTED_SQL,
    CANDLES_SQL,
    count,
    drain,
    group_pending,
    query,
    running_writer,
    tick,
    xadd,
)

DAY = date(2026, 11, 25)


async def _candles(settings: Settings) -> list[tuple[Any, ...]]:
    rows = await query(settings, CANDLES_SQL)
    assert rows == await query(settings, CANDLES_RECOMPUTED_SQL)
    return rows


def _random_ticks(rng: random.Random, n: int) -> list[dict[str, Any]]:
    volume: dict[tuple[int, int], int] = {}
    out = []
    for i in range(n):
        sid, day = rng.randrange(1, 9), rng.choice([0, 0, 0, 1])
        qty = rng.randrange(1, 400)
        volume[(sid, day)] = volume.get((sid, day), 0) + qty
        out.append(tick(sid, volume[(sid, day)], qty=qty, ltp=round(rng.uniform(50, 150) / 0.05) * 0.05,
                        ts=BASE_TS + day * 86_400 + i // 4, side=rng.choice(["B", "S", ""]),
                        oi=rng.choice([None, rng.randrange(10**6)])))
    return out


async def test_a_minute_of_trades_is_one_row_worked_by_hand(wsettings: Settings, wredis: aioredis.Redis) -> None:
    ts = BASE_TS + 5 * 60  # 10:05:00 IST
    await xadd(wredis, wsettings, "ticks", [
        tick(1, 110, qty=10, ltp=100.0, ts=ts + 1, side="B", oi=500),
        tick(1, 130, qty=20, ltp=101.5, ts=ts + 30, side="S", oi=None),
        tick(1, 135, qty=5, ltp=99.25, ts=ts + 59, side="", oi=520),
        tick(1, 140, qty=5, ltp=100.5, ts=ts + 60, side="B", oi=530),  # 10:06:00: the next minute
    ])  # fmt: skip
    await drain(wsettings)
    first, second = await _candles(wsettings)
    assert first == (
        "NSE_FNO", 1, DAY, ts, datetime(2026, 11, 25, 10, 5),
        Decimal("100.0000"), Decimal("101.5000"), Decimal("99.2500"), Decimal("99.2500"),
        35, 10, 20, 3, 520,
        Decimal("3526.2500"), 35,  # 100 x 10 + 101.5 x 20 + 99.25 x 5 = 1000 + 2030 + 496.25
        100, 110, 135,  # base: 110 - 10
    )  # fmt: skip
    assert second[3:5] == (ts + 60, datetime(2026, 11, 25, 10, 6)) and second[9:14] == (5, 5, 0, 1, 530)


async def test_redelivery_and_feed_replays_change_nothing(wsettings: Settings, wredis: aioredis.Redis) -> None:
    rng = random.Random(1411)
    settings = wsettings.replaced(writer_batch_max=rng.choice([7, 23, 101]))
    events = _random_ticks(rng, 1200)
    await xadd(wredis, settings, "ticks", events)
    await xadd(wredis, settings, "ticks", rng.sample(events, 250))  # a feed re-publishing, cut differently
    writer = await drain(settings)
    assert writer.stats.tick_replays == 250 and writer.stats.rows["candles"] > 0
    stored = await _candles(settings)
    assert sum(r[9] for r in stored) == sum(ev["qty"] for ev in events)
    assert sum(r[12] for r in stored) == 1200
    assert sum(r[10] for r in stored) == sum(ev["qty"] for ev in events if ev["side"] == "B")
    await xadd(wredis, settings, "ticks", events)  # a whole replay of the journal
    await wredis.xgroup_setid(Keys(settings.redis.key_prefix).ticks, Keys.WRITER_GROUP, "0")  # and every entry again
    again = await drain(settings)
    assert again.stats.rows["ticks"] == 0 and again.stats.rows["candles"] == 0
    assert await _candles(settings) == stored


async def test_a_partly_new_batch_adds_exactly_the_new_trades(wsettings: Settings, wredis: aioredis.Redis) -> None:
    def trades(n: int) -> list[dict[str, Any]]:
        return [tick(1, (i + 1) * 10, qty=10, ltp=100 + i, ts=BASE_TS + i * 20) for i in range(n)]

    await xadd(wredis, wsettings, "ticks", trades(4))  # 10:00:00, :20, :40, 10:01:00
    await drain(wsettings)
    await xadd(wredis, wsettings, "ticks", trades(6))  # 4 known + 10:01:20, 10:01:40
    writer = await drain(wsettings)
    assert writer.stats.summary_partials == 1 and writer.stats.rows["ticks"] == 2
    rows = await _candles(wsettings)
    # minute 10:00: 3 trades at 100, 101, 102; minute 10:01: 103, 104, 105 (two of them from the partial batch)
    assert [(r[5], r[8], r[9], r[12], r[18]) for r in rows] == [
        (Decimal("100.0000"), Decimal("102.0000"), 30, 3, 30),
        (Decimal("103.0000"), Decimal("105.0000"), 30, 3, 60),
    ]


async def test_recompute_restores_the_candles_of_its_keys_only(wsettings: Settings, wredis: aioredis.Redis) -> None:
    """The sink's last resort (and dhan verify --repair): absolute candles recomputed from dhan_ticks."""
    await xadd(wredis, wsettings, "ticks", _random_ticks(random.Random(7), 300))
    await drain(wsettings)
    truth = await _candles(wsettings)
    conn = await connect(wsettings)
    try:
        async with conn.cursor() as cur:
            await cur.execute("UPDATE dhan_candles_1m SET volume = 1, open = 1 WHERE security_id IN (2, 3)")
            cols = ", ".join(CANDLE_COLUMNS).replace("minute_ts", "minute_ts + 36000")
            await cur.execute(f"INSERT INTO dhan_candles_1m SELECT {cols} FROM dhan_candles_1m WHERE security_id = 2 "
                              "ORDER BY minute_ts LIMIT 1")  # a minute no tick has: the recompute drops it
            for text in sql.candle_recompute([("'NSE_FNO'", 2, f"'{DAY}'"), ("'NSE_FNO'", 2, "'2026-11-26'")]):
                await cur.execute(text)
        await conn.commit()
    finally:
        conn.close()
    after = await query(wsettings, CANDLES_SQL)
    assert [r for r in after if r[1] != 3] == [r for r in truth if r[1] != 3]
    assert {r[9] for r in after if r[1] == 3} == {1}  # not among the keys: left as it was


async def test_a_connection_killed_mid_batch_leaves_no_half_candle(wsettings: Settings, wredis: aioredis.Redis) -> None:
    settings = wsettings.replaced(writer_retry_cap_s=0.5)
    first = [tick(s, 10 * (i + 1), qty=10, ltp=100 + i, ts=BASE_TS + i) for i in range(10) for s in (1, 2)]
    more = [tick(s, 10 * (i + 1), qty=10, ltp=100 + i, ts=BASE_TS + i) for i in range(10, 20) for s in (1, 2)]
    admin = await connect(settings)
    try:
        async with running_writer(settings) as writer:
            await xadd(wredis, settings, "ticks", first)
            await eventually(lambda: writer.stats.rows["ticks"] == 20, message="first trades written")
            async with admin.cursor() as cur:
                # hold instrument 1's candle: the next batch's ticks and summaries are in, its candles wait
                await cur.execute("SELECT * FROM dhan_candles_1m WHERE security_id = 1 FOR UPDATE")
                await xadd(wredis, settings, "ticks", more)

                async def blocked() -> int | None:
                    await cur.execute(
                        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> CONNECTION_ID() "
                        "AND INFO LIKE 'INSERT INTO dhan_candles_1m%%'", (settings.mysql.target.database,))
                    row = await cur.fetchone()
                    return int(row[0]) if row else None

                await eventually(blocked, message="writer blocked on its candle upsert")
                await cur.execute(f"KILL {await blocked()}")  # its ticks and summaries roll back with it
            await admin.rollback()
            await eventually(lambda: writer.stats.rows["ticks"] == 40, timeout_s=20, message="all trades written")
            assert writer.stats.failures >= 1
        assert await count(settings, "dhan_ticks") == 40
        rows = await _candles(settings)
        assert [(r[1], r[9], r[12]) for r in rows] == [(1, 200, 20), (2, 200, 20)]
        assert await group_pending(wredis, settings) == 0
    finally:
        admin.close()


async def _waiting_on(admin_cur: Any, statement: str) -> bool:
    await admin_cur.execute("SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT' "
                            "AND trx_query LIKE %s", (statement + "%",))
    return bool((await admin_cur.fetchone())[0])


async def _two_writers_same_batch(settings: Settings, *, first_commits: bool) -> tuple[int, int]:
    """Writer A has inserted a batch's ticks and applied its increments, not committed yet, when writer B
    (a sink) writes the very same batch; A then commits or rolls back (it died). Returns both tick counts."""
    seed = [tick(1, 10, qty=10, ts=BASE_TS)]
    trades = [tick(s, 10 * i, qty=10, ltp=100 + i, ts=BASE_TS + i) for i in range(2, 8) for s in (1, 2)]
    batch = BatchBuilder().build([Entry("ticks", b"0-1", orjson.dumps(ev)) for ev in trades])
    sink = MySQLSink(settings)
    await sink.open()
    a = await connect(settings)
    try:
        await sink.write(BatchBuilder().build([Entry("ticks", b"0-0", orjson.dumps(ev)) for ev in seed]))
        async with a.cursor() as cur:  # writer A's fast path, statement by statement (sink.py)
            await cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            [text] = sql.render_statements(sql.tick_insert, batch.ticks)
            ticks_a = await cur.execute(text)
            assert ticks_a == len(batch.ticks)
            for stmt, rows in ((sql.summary_increment, batch.summary), (sql.candle_upsert, batch.candles)):
                for text in sql.render_statements(stmt, rows):
                    await cur.execute(text)
            b = asyncio.create_task(sink.write(batch))
            admin = await connect(settings)
            try:
                async with admin.cursor() as watch:
                    await eventually(lambda: _waiting_on(watch, "INSERT INTO dhan_ticks"), message="B waits on A")
            finally:
                admin.close()
        if first_commits:
            await a.commit()
        else:
            await a.rollback()
            ticks_a = 0
        return ticks_a, (await b).ticks
    finally:
        a.close()
        await sink.close()


async def test_two_writers_on_the_same_trades_count_each_once(wsettings: Settings) -> None:
    assert await _two_writers_same_batch(wsettings, first_commits=True) == (12, 0)
    rows = await _candles(wsettings)
    assert sum(r[9] for r in rows) == 130 and sum(r[12] for r in rows) == 13


async def test_when_the_first_writer_dies_the_second_counts_the_trades(wsettings: Settings) -> None:
    assert await _two_writers_same_batch(wsettings, first_commits=False) == (0, 12)
    rows = await _candles(wsettings)
    assert sum(r[9] for r in rows) == 130 and sum(r[12] for r in rows) == 13
