"""The writer service on the real Redis and MariaDB: batching, idempotency, crash recovery, several writers,
dead letters, summaries, forward-only latest state."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from shared.db import connect
from shared.keys import Keys
from shared.settings import Settings
from tests.conftest import eventually
from writer import sql
from writer.batch import BatchBuilder, Entry
from writer.intake import READ_BLOCK_MS, Intake
from writer.reader import StreamReader
from writer.sink import MySQLSink

from .conftest import (
    BASE_TS,
    RECOMPUTED_SQL,
    SUMMARY_SQL,
    count,
    depth,
    drain,
    greeks,
    group_pending,
    query,
    quote,
    running_writer,
    snapshot,
    tick,
    xadd,
)


def _ticks(sids: range, per_sid: int, *, ts: int = BASE_TS, start_volume: int = 0) -> list[dict]:
    out = []
    for n in range(per_sid):
        for sid in sids:
            vol = start_volume + (n + 1) * 10
            out.append(tick(sid, vol, qty=10, ltp=100 + (sid % 7) + n * 0.05, ts=ts + n))
    return out


async def test_batches_close_by_size(wsettings: Settings, wredis: aioredis.Redis) -> None:
    """A read that fills a batch closes it at once (a backlog is written in full batches back to back)."""
    settings = wsettings.replaced(writer_batch_max=10, writer_batch_ms=600_000, writer_batch_spacing_ms=1000)
    await xadd(wredis, settings, "ticks", _ticks(range(1, 4), 10))
    async with running_writer(settings) as writer:
        await eventually(lambda: writer.stats.rows["ticks"] == 30, message="30 ticks written")
        assert list(writer.stats.recent_batch_sizes) == [10, 10, 10]  # neither the timer nor the spacing held them


async def test_a_lone_entry_is_written_by_the_batch_timer(wsettings: Settings, wredis: aioredis.Redis) -> None:
    settings = wsettings.replaced(writer_batch_max=1000, writer_batch_ms=50)
    async with running_writer(settings) as writer:
        await xadd(wredis, settings, "quotes", [quote(7)])
        await eventually(lambda: writer.stats.rows["quotes"] == 1, message="lone quote written")
        assert await count(settings, "dhan_quotes") == 1
        assert list(writer.stats.recent_batch_sizes) == [1]
        assert await group_pending(wredis, settings) == 0


async def test_a_trickle_is_written_one_batch_per_spacing(
    wsettings: Settings, wredis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first entry after a pause is written by its batch timer; the next one opens a batch that closes
    only the spacing after the previous one, and what comes meanwhile joins it."""
    waits: list[float] = []  # how long each batch was given when it opened (its deadline - its first entry)
    original = Intake._add

    def recorded(self: Intake, entries: list[Entry], now: float) -> None:
        opening = not self._batch
        original(self, entries, now)
        if opening:
            waits.append(self._deadline - now)

    monkeypatch.setattr(Intake, "_add", recorded)
    settings = wsettings.replaced(writer_batch_max=1000, writer_batch_ms=20, writer_batch_spacing_ms=2000)
    async with running_writer(settings) as writer:
        await xadd(wredis, settings, "quotes", [quote(1)])
        await eventually(lambda: writer.stats.rows["quotes"] == 1, message="first quote written by its timer")
        assert waits == [pytest.approx(0.02)]
        await xadd(wredis, settings, "quotes", [quote(2)])
        await eventually(lambda: len(waits) == 2, message="second batch open")
        assert waits[1] > 1.0  # held to the spacing after the first batch, not closed by its 20 ms timer
        await xadd(wredis, settings, "quotes", [quote(3), quote(4)])
        await eventually(lambda: writer.stats.rows["quotes"] == 4, message="the trickle written at the spacing")
        assert list(writer.stats.recent_batch_sizes) == [1, 3]
    assert await group_pending(wredis, settings) == 0


async def test_an_open_batch_sleeps_until_its_deadline_not_a_poll(
    wsettings: Settings, wredis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One entry in a 400 ms batch: the blocking read that brought it and one read at the deadline (a 2 ms
    poll made ~200 meanwhile). What comes after the deadline is the next batch; nothing is left pending."""
    reads: list[int | None] = []
    original = StreamReader.read

    async def counted(self: StreamReader, count: int, block_ms: int | None, **kw: Any) -> list[Entry]:
        reads.append(block_ms)
        return await original(self, count, block_ms, **kw)

    monkeypatch.setattr(StreamReader, "read", counted)
    settings = wsettings.replaced(writer_batch_max=1000, writer_batch_ms=400)
    async with running_writer(settings) as writer:
        await eventually(lambda: READ_BLOCK_MS in reads, message="first blocking read")
        before = len(reads)
        await xadd(wredis, settings, "quotes", [quote(7)])
        await eventually(lambda: writer.stats.rows["quotes"] == 1, message="lone quote written")
        assert len(reads) - before <= 3, reads[before:]
        assert reads[before:].count(None) == 1  # the deadline's read; the others block until data comes
        await xadd(wredis, settings, "quotes", [quote(8)])
        await eventually(lambda: writer.stats.rows["quotes"] == 2, message="second quote written")
        assert list(writer.stats.recent_batch_sizes) == [1, 1]
    assert await group_pending(wredis, settings) == 0


async def test_entries_arriving_while_a_batch_is_open_join_it(wsettings: Settings, wredis: aioredis.Redis) -> None:
    """Entries added one by one while a batch waits for its deadline join that batch; a stop cuts the wait
    short and the batch is written whole: nothing lost, nothing left pending."""
    settings = wsettings.replaced(writer_batch_max=1000, writer_batch_ms=60_000)
    async with running_writer(settings) as writer:
        await xadd(wredis, settings, "quotes", [quote(1)])
        await eventually(lambda: writer.metrics()["held_entries"] == 1, message="batch open")
        for sid in range(2, 6):
            await xadd(wredis, settings, "quotes", [quote(sid)])
        assert writer.stats.rows["quotes"] == 0  # the batch waits for its deadline, a minute away
    assert await count(settings, "dhan_quotes") == 5
    assert list(writer.stats.recent_batch_sizes) == [5]
    assert await group_pending(wredis, settings) == 0


async def test_same_entries_twice_give_the_same_rows(wsettings: Settings, wredis: aioredis.Redis) -> None:
    settings = wsettings.replaced(writer_batch_max=37)
    events = {
        "ticks": _ticks(range(1, 6), 20),
        "quotes": [quote(s, volume=200, ts=BASE_TS + 19) for s in range(1, 6)],
        "depth": [depth(s) for s in range(1, 4)],
        "greeks": [greeks(s) for s in range(100, 103)],
    }
    for kind, evs in events.items():
        await xadd(wredis, settings, kind, evs)
    await drain(settings)
    first = await snapshot(settings)
    assert len(first["ticks"]) == 100 and len(first["summary"]) == 5
    # The same events again as new entries (a feed replay) ...
    for kind, evs in events.items():
        await xadd(wredis, settings, kind, evs)
    replay = await drain(settings)
    assert replay.stats.tick_replays == 100 and replay.stats.rows["ticks"] == 0
    assert await snapshot(settings) == first
    # ... and the very same entries redelivered (group rewound to 0).
    keys = Keys(settings.redis.key_prefix)
    for kind in events:
        await wredis.xgroup_setid(keys.stream(kind), Keys.WRITER_GROUP, "0")
    await drain(settings)
    assert await snapshot(settings) == first


async def test_crash_between_commit_and_ack_is_harmless(wsettings: Settings, wredis: aioredis.Redis) -> None:
    events = _ticks(range(1, 9), 25)
    await xadd(wredis, wsettings, "ticks", events)
    await xadd(wredis, wsettings, "quotes", [quote(s, volume=250, ts=BASE_TS + 24) for s in range(1, 9)])
    # A writer that read everything and committed it, then died before XACK.
    client = aioredis.Redis.from_url(wsettings.redis.url.get_secret_value())
    dead = StreamReader(client, Keys(wsettings.redis.key_prefix), "dead-writer")
    await dead.ensure_groups()
    entries = await dead.read(10_000, None)
    assert len(entries) == 208
    sink = MySQLSink(wsettings)
    await sink.open()
    try:
        await sink.write(BatchBuilder().build(entries))
    finally:
        await sink.close()
        await client.aclose()
    committed = await snapshot(wsettings)
    assert await group_pending(wredis, wsettings) == 208
    # A new writer reclaims the idle entries (XAUTOCLAIM), finds every tick already stored, acks all.
    fresh = await drain(wsettings, consumer="fresh-writer")
    assert fresh.stats.tick_replays == 200 and fresh.stats.rows["ticks"] == 0
    assert await group_pending(wredis, wsettings) == 0
    after = await snapshot(wsettings)
    assert {k: v for k, v in after.items() if k != "summary"} == {k: v for k, v in committed.items() if k != "summary"}
    assert await query(wsettings, SUMMARY_SQL) == await query(wsettings, RECOMPUTED_SQL)
    assert [r[7] for r in after["summary"]] == [250] * 8  # volume not doubled


async def test_restarted_writer_finishes_its_own_pending_first(wsettings: Settings, wredis: aioredis.Redis) -> None:
    await xadd(wredis, wsettings, "ticks", _ticks(range(1, 3), 5))
    client = aioredis.Redis.from_url(wsettings.redis.url.get_secret_value())
    reader = StreamReader(client, Keys(wsettings.redis.key_prefix), "same-name")
    await reader.ensure_groups()
    assert len(await reader.read(100, None)) == 10  # delivered, never written: the process "crashed"
    await client.aclose()
    writer = await drain(wsettings, consumer="same-name")
    assert writer.stats.rows["ticks"] == 10
    assert await group_pending(wredis, wsettings) == 0


async def test_two_writers_share_the_group_without_duplicates(wsettings: Settings, wredis: aioredis.Redis) -> None:
    settings = wsettings.replaced(writer_batch_max=50, writer_inflight=2)
    ticks = _ticks(range(1, 31), 60)
    await xadd(wredis, settings, "ticks", ticks)
    await xadd(
        wredis,
        settings,
        "quotes",
        [quote(s, volume=10 * n, ts=BASE_TS + n) for n in range(20) for s in range(1, 31)],
    )
    one, two = await asyncio.gather(drain(settings, consumer="w1"), drain(settings, consumer="w2"))
    assert one.stats.entries + two.stats.entries >= 2400
    assert await count(settings, "dhan_ticks") == 1800
    assert await query(
        settings,
        "SELECT COUNT(*) FROM (SELECT DISTINCT exchange_segment, security_id, trade_date, "
        "cum_volume FROM dhan_ticks) AS d",
    ) == [(1800,)]
    assert await query(settings, SUMMARY_SQL) == await query(settings, RECOMPUTED_SQL)
    assert [r[0] for r in await query(settings, "SELECT volume FROM dhan_quotes ORDER BY security_id")] == [190] * 30
    assert await group_pending(wredis, settings) == 0


async def test_poison_entries_go_to_dead_letters_and_the_batch_is_written(
    wsettings: Settings, wredis: aioredis.Redis
) -> None:
    settings = wsettings.replaced(writer_batch_max=500)
    good = _ticks(range(1, 11), 10)
    too_big = tick(2**33, 10)  # security_id beyond INT UNSIGNED (MySQL's refusal: tests/writer/test_hostile.py)
    events: list[dict | bytes] = [*good[:40], b"{not json", *good[40:70], too_big, *good[70:]]
    ids = await xadd(wredis, settings, "ticks", events)
    writer = await drain(settings)
    assert await count(settings, "dhan_ticks") == 100
    assert writer.stats.dead_letters == 2
    dead = await wredis.xrange(Keys(settings.redis.key_prefix).deadletter)
    metas = [orjson.loads(fields[b"d"]) for _, fields in dead]
    assert [m["id"] for m in metas] == [ids[40].decode(), ids[71].decode()]
    assert {m["stream"] for m in metas} == {Keys(settings.redis.key_prefix).ticks}
    assert "JSONDecodeError" in metas[0]["reason"]
    assert metas[1]["reason"] == "ValueError: bad sid 8589934592"
    assert [fields[b"payload"] for _, fields in dead] == [b"{not json", orjson.dumps(too_big)]
    assert await group_pending(wredis, settings) == 0
    assert await query(settings, SUMMARY_SQL) == await query(settings, RECOMPUTED_SQL)


async def test_summaries_equal_a_recomputation_after_a_random_stream(
    wsettings: Settings, wredis: aioredis.Redis
) -> None:
    rng = random.Random(20261125)
    settings = wsettings.replaced(writer_batch_max=rng.choice([7, 23, 101]))
    volume: dict[tuple[int, int], int] = {}
    events = []
    for n in range(1500):
        sid, day = rng.randrange(1, 16), rng.choice([0, 0, 0, 1])  # a second trading day too
        key = (sid, day)
        qty = rng.randrange(1, 400)
        volume[key] = volume.get(key, 0) + qty
        price = round(rng.uniform(50, 150) / 0.05) * 0.05
        events.append(
            tick(
                sid,
                volume[key],
                qty=qty,
                ltp=price,
                ts=BASE_TS + day * 86_400 + n // 10,
                oi=rng.choice([None, rng.randrange(10**6)]),
            )
        )
    await xadd(wredis, settings, "ticks", events)
    replayed = rng.sample(events, 300)  # redelivered trades, cut into batches differently
    await xadd(wredis, settings, "ticks", replayed)
    writer = await drain(settings)
    assert await count(settings, "dhan_ticks") == 1500
    assert writer.stats.tick_replays == 300
    assert await query(settings, SUMMARY_SQL) == await query(settings, RECOMPUTED_SQL)
    total = await query(settings, "SELECT SUM(volume), SUM(tick_count) FROM dhan_trade_summary")
    assert total == [(sum(volume.values()), 1500)]


async def test_partly_new_batch_increments_by_exactly_the_new_trades(
    wsettings: Settings, wredis: aioredis.Redis
) -> None:
    await xadd(wredis, wsettings, "ticks", _ticks(range(1, 3), 10))
    await drain(wsettings)
    await xadd(wredis, wsettings, "ticks", _ticks(range(1, 3), 15))  # 20 known + 10 new trades
    writer = await drain(wsettings)
    assert writer.stats.summary_partials >= 1 and writer.stats.rows["ticks"] == 10
    assert writer.stats.tick_replays == 20
    assert await query(wsettings, SUMMARY_SQL) == await query(wsettings, RECOMPUTED_SQL)
    assert [r[7] for r in await query(wsettings, SUMMARY_SQL)] == [150, 150]


async def test_latest_state_never_moves_back_in_time(wsettings: Settings, wredis: aioredis.Redis) -> None:
    async def ltp() -> float:
        return float((await query(wsettings, "SELECT ltp FROM dhan_quotes WHERE security_id = 1"))[0][0])

    await xadd(wredis, wsettings, "quotes", [quote(1, ltp=105.0, volume=50, ts=BASE_TS + 10)])
    await drain(wsettings)
    late_old = [
        quote(1, ltp=100.0, volume=40, ts=BASE_TS + 5, recv_ts=9_999_999_999.0),  # older trade, received later
        quote(1, ltp=101.0, volume=45, ts=BASE_TS + 10),  # same second, less volume
        quote(1, ltp=106.0, volume=50, ts=BASE_TS + 10, recv_ts=1.0),  # same second and volume, older receipt
    ]
    await xadd(wredis, wsettings, "quotes", late_old)
    await drain(wsettings)
    assert await ltp() == 105.0
    await xadd(wredis, wsettings, "quotes", [quote(1, ltp=107.0, volume=55, ts=BASE_TS + 10)])
    await drain(wsettings)
    assert await ltp() == 107.0
    # the next trading day: later exchange time with the day volume reset -> the whole row moves forward
    await xadd(wredis, wsettings, "quotes", [quote(1, ltp=90.0, volume=5, ts=BASE_TS + 86_400, recv_ts=2e9)])
    await drain(wsettings)
    row = await query(wsettings, "SELECT ltp, volume, exchange_ts, recv_ts FROM dhan_quotes WHERE security_id = 1")
    assert [tuple(float(v) for v in r) for r in row] == [(90.0, 5.0, BASE_TS + 86_400, 2e9)]
    # same for depth and greeks: newest exchange time wins, whatever arrives later
    await xadd(wredis, wsettings, "depth", [depth(1, mid=200.0, ts=BASE_TS + 10)])
    await xadd(wredis, wsettings, "greeks", [greeks(1, iv=0.2, ts=BASE_TS + 10)])
    await drain(wsettings)
    await xadd(wredis, wsettings, "depth", [depth(1, mid=150.0, ts=BASE_TS + 9, recv_ts=9e9)])
    await xadd(wredis, wsettings, "greeks", [greeks(1, iv=0.1, ts=BASE_TS + 9, recv_ts=9e9)])
    await drain(wsettings)
    assert float((await query(wsettings, "SELECT bid_price_1 FROM dhan_depth"))[0][0]) == 199.95
    assert (await query(wsettings, "SELECT iv FROM dhan_options_greeks"))[0][0] == 0.2


async def test_summary_recompute_restores_the_truth(wsettings: Settings, wredis: aioredis.Redis) -> None:
    """The last-resort path of sink.py: recompute touched summaries from dhan_ticks as absolute values."""
    await xadd(wredis, wsettings, "ticks", _ticks(range(1, 4), 12))
    await drain(wsettings)
    truth = await query(wsettings, SUMMARY_SQL)
    conn = await connect(wsettings)
    try:
        async with conn.cursor() as cur:
            await cur.execute("UPDATE dhan_trade_summary SET volume = 1, tick_count = 1, open = 1, close = 1")
            keys = [("'NSE_FNO'", sid, "'2026-11-25'") for sid in (1, 3)]
            await cur.execute(sql.summary_recompute(keys))
        await conn.commit()
    finally:
        conn.close()
    after = await query(wsettings, SUMMARY_SQL)
    assert [after[0], after[2]] == [truth[0], truth[2]]
    assert after[1][7] == 1  # untouched key stays as it was


async def test_entries_delivered_too_often_are_written_alone(wsettings: Settings, wredis: aioredis.Redis) -> None:
    settings = wsettings.replaced(writer_max_attempts=3)
    events: list[dict | bytes] = [tick(1, v, qty=1) for v in range(1, 6)]
    events.insert(2, tick(2**33, 1))  # a row MySQL rejects
    await xadd(wredis, settings, "ticks", events)
    client = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
    crashed = StreamReader(client, Keys(settings.redis.key_prefix), "crash-looping")
    await crashed.ensure_groups()
    assert len(await crashed.read(100, None)) == 6  # delivery 1
    assert len(await crashed.read(100, None, pending={"ticks": b"0"})) == 6  # delivery 2: a restart
    await client.aclose()
    writer = await drain(settings)  # reclaim is delivery 3: suspects, one transaction each
    assert writer.stats.batches == 5 and writer.stats.dead_letters == 1
    assert list(writer.stats.recent_batch_sizes) == [1] * 5
    assert await count(settings, "dhan_ticks") == 5
    assert await group_pending(wredis, settings) == 0


async def test_the_side_rule_is_stored_and_an_old_event_without_it_stores_empty(
    wsettings: Settings, wredis: aioredis.Redis
) -> None:
    events = [{**tick(1, 10), "rule": "q"}, {**tick(1, 20, side="S"), "rule": "t"},
              {**tick(1, 30, side=""), "rule": ""}, tick(1, 40)]  # the last: from before schema 006
    await xadd(wredis, wsettings, "ticks", events)
    await drain(wsettings)
    rows = await query(wsettings, "SELECT cum_volume, side, side_rule FROM dhan_ticks ORDER BY cum_volume")
    assert rows == [(10, "B", "q"), (20, "S", "t"), (30, "", ""), (40, "B", "")]
