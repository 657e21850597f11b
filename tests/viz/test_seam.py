"""History -> live seam on the real Redis and MariaDB: no gap, no double count, in every interleaving."""

from __future__ import annotations

from datetime import date, timedelta

import orjson
import pytest
import redis.asyncio as aioredis

from shared.db import create_pool
from shared.events import EVENT_FIELD
from shared.keys import Keys
from shared.settings import Settings
from tests.viz.helpers import DAY, OPEN, StepWriter, tick, ticks_run, xadd
from viz.data.live import follow_streams
from viz.data.seam import StreamPosition, TickSeam, catch_up_latest, load_ticks, resume_id, writer_position
from viz.models.ticks import TickSeries

SEG, SID, OTHER = "NSE_FNO", 35001, 35002
TODAY = date(1970, 1, 1) + timedelta(days=DAY // 86_400)
Env = tuple[Settings, aioredis.Redis]


def prices(n: int, base: float = 26000.0) -> list[float]:
    return [round(base + ((i * 7) % 11 - 5) * 0.05, 2) for i in range(n)]


async def live_ticks(redis: aioredis.Redis, stream: str, resume: bytes, seam: TickSeam, until: int) -> list[int]:
    """Follow the stream from ``resume`` and return the cum volumes added, until ``until`` is reached."""
    added: list[int] = []
    async for _, entries in follow_streams(redis, {stream: resume}, block_ms=200):
        for _, payload in entries:
            assert payload is not None
            ev = orjson.loads(payload)
            if seam.matches(ev) and seam.offer_live(ev) != "drop":
                added.append(ev["volume"])
        if seam.max_cum >= until:
            return added
    raise AssertionError("stream ended")


async def test_writer_position_states(viz_db: Env) -> None:
    settings, redis = viz_db
    keys = Keys(settings.redis.key_prefix)
    assert await writer_position(redis, keys.ticks) is None  # no stream, no group
    ids = await xadd(redis, keys.ticks, ticks_run(SEG, SID, prices(6)))
    assert await writer_position(redis, keys.ticks) is None  # stream without the group
    async with StepWriter(settings, redis) as w:
        assert await writer_position(redis, keys.ticks) == StreamPosition(b"0-0", False)
        first = await w.deliver(2)
        assert await writer_position(redis, keys.ticks) == StreamPosition(ids[0], True)  # oldest pending
        await w.commit(first)
        assert await writer_position(redis, keys.ticks) == StreamPosition(ids[1], False)  # last delivered
        await w.deliver(2, consumer="w2")
        await w.commit(await w.deliver(2, consumer="w3"))  # a later batch committed first
        assert await writer_position(redis, keys.ticks) == StreamPosition(ids[2], True)
    assert resume_id(StreamPosition(b"5-3", True), None) == b"5-2"
    assert resume_id(StreamPosition(b"5-0", True), None) == b"4-18446744073709551615"
    assert resume_id(StreamPosition(b"5-0", False), None) == b"5-0"
    assert resume_id(None, None) == b"0-0" and resume_id(None, b"7-1") == b"7-1"


async def test_seam_single_writer_behind(viz_db: Env) -> None:
    """Writer committed part, holds a batch pending, has not read the rest: every trade exactly once."""
    settings, redis = viz_db
    keys = Keys(settings.redis.key_prefix)
    mine = ticks_run(SEG, SID, prices(30))
    other = ticks_run(SEG, OTHER, prices(30, 100.0))
    events = [e for pair in zip(mine, other, strict=True) for e in pair]
    await xadd(redis, keys.ticks, events[:40])
    pool = await create_pool(settings, maxsize=2)
    try:
        async with StepWriter(settings, redis) as w:
            await w.commit(await w.deliver(16))  # 8 of mine in MySQL, acked
            await w.deliver(10)  # 5 of mine pending (not committed)
            await xadd(redis, keys.ticks, events[40:50])  # 5 of mine not delivered yet
            load = await load_ticks(redis, pool, keys, SEG, SID, TODAY)
            assert load.history_rows == 8 and load.caught_up == 17
            assert load.ticks.cum_volume.tolist() == [e["volume"] for e in mine[:25]]
            assert load.ticks.price.tolist() == [e["ltp"] for e in mine[:25]]
            # live: the rest, with a publisher resend of a batch in the middle
            await xadd(redis, keys.ticks, events[50:54] + events[46:54] + events[54:])
            added = await live_ticks(redis, keys.ticks, load.resume_id, load.seam, mine[-1]["volume"])
            assert added == [e["volume"] for e in mine[25:]]
            assert load.seam.dropped == 4
    finally:
        pool.close()
        await pool.wait_closed()


async def test_seam_commit_between_position_and_history(viz_db: Env) -> None:
    """The writer commits what was pending after the position was noted: read again, counted once."""
    settings, redis = viz_db
    keys = Keys(settings.redis.key_prefix)
    mine = ticks_run(SEG, SID, prices(20))
    await xadd(redis, keys.ticks, mine)
    pool = await create_pool(settings, maxsize=2)
    try:
        async with StepWriter(settings, redis) as w:
            await w.commit(await w.deliver(5))
            pending = await w.deliver(5)
            pos = await writer_position(redis, keys.ticks)
            assert pos is not None and pos.inclusive
            await w.commit(pending)  # committed and acked after the position was taken

            load = await load_ticks(redis, pool, keys, SEG, SID, TODAY, position=pos)
            assert load.history_rows == 10
            assert load.ticks.cum_volume.tolist() == [e["volume"] for e in mine]
            assert load.seam.dropped == 5  # the five committed after the position, seen again in the stream
    finally:
        pool.close()
        await pool.wait_closed()


async def test_seam_two_writers_out_of_order(viz_db: Env) -> None:
    """A later batch committed while an earlier one is pending: the pending trades are kept and merged."""
    settings, redis = viz_db
    keys = Keys(settings.redis.key_prefix)
    mine = ticks_run(SEG, SID, prices(24))
    await xadd(redis, keys.ticks, mine)
    pool = await create_pool(settings, maxsize=2)
    try:
        async with StepWriter(settings, redis) as w:
            await w.commit(await w.deliver(4, "w1"))  # 0-3 committed
            await w.deliver(6, "w1")  # 4-9 pending
            await w.commit(await w.deliver(6, "w2"))  # 10-15 committed first
            load = await load_ticks(redis, pool, keys, SEG, SID, TODAY)
            assert load.history_rows == 10
            assert load.ticks.cum_volume.tolist() == [e["volume"] for e in mine]  # merged in volume order
            assert load.ticks.exchange_ts.tolist() == [e["exchange_ts"] for e in mine]
    finally:
        pool.close()
        await pool.wait_closed()


async def test_seam_without_writer_group_reads_the_stream(viz_db: Env) -> None:
    settings, redis = viz_db
    keys = Keys(settings.redis.key_prefix)
    mine = ticks_run(SEG, SID, prices(12))
    await xadd(redis, keys.ticks, mine + mine[3:6])  # with a resent stretch
    pool = await create_pool(settings, maxsize=2)
    try:
        load = await load_ticks(redis, pool, keys, SEG, SID, TODAY)
        assert load.position is None and load.history_rows == 0
        assert load.ticks.cum_volume.tolist() == [e["volume"] for e in mine]
    finally:
        pool.close()
        await pool.wait_closed()


async def test_seam_last_session_then_new_day(viz_db: Env) -> None:
    """Nothing today in MySQL: yesterday's session is shown; today's first live trade starts a new one."""
    settings, redis = viz_db
    keys = Keys(settings.redis.key_prefix)
    yesterday = ticks_run(SEG, SID, prices(6), ets=OPEN - 86_400)
    await xadd(redis, keys.ticks, yesterday)
    pool = await create_pool(settings, maxsize=2)
    try:
        async with StepWriter(settings, redis) as w:
            await w.write_all()
        load = await load_ticks(redis, pool, keys, SEG, SID, TODAY)
        assert load.seam.day == DAY // 86_400 - 1 and len(load.ticks) == 6
        today = ticks_run(SEG, SID, prices(3))  # cum volume restarts low
        assert load.seam.offer_live(today[0]) == "new_day" and load.seam.day == DAY // 86_400
        assert load.seam.offer_live(today[1]) == "add"
        assert load.seam.offer_live(yesterday[-1]) == "drop"  # an old day's trade
        assert load.seam.offer_live(today[1]) == "drop"
    finally:
        pool.close()
        await pool.wait_closed()


async def test_catch_up_latest(viz_db: Env) -> None:
    settings, redis = viz_db
    keys = Keys(settings.redis.key_prefix)
    seen: list[bytes] = []

    def apply(entries: list[tuple[bytes, bytes | None]]) -> None:
        seen.extend(eid for eid, _ in entries)

    assert await catch_up_latest(redis, keys.quotes, None, apply) == b"0-0"
    ids = await xadd(redis, keys.quotes, [tick(SEG, SID, i, 1.0, 1, OPEN) for i in range(1, 6)])
    assert await catch_up_latest(redis, keys.quotes, None, apply, fallback_entries=3) == ids[-1]
    assert seen == ids[2:]
    seen.clear()
    assert await catch_up_latest(redis, keys.quotes, StreamPosition(ids[1], False), apply) == ids[-1]
    assert seen == ids[2:]
    seen.clear()
    assert await catch_up_latest(redis, keys.quotes, StreamPosition(ids[1], True), apply) == ids[-1]
    assert seen == ids[1:]
    raw = await redis.xrange(keys.quotes, "-", "+")
    assert raw[0][1][EVENT_FIELD]


def test_tick_seam_pure_rules() -> None:
    hist = TickSeries()
    for cum in (10, 20, 30):
        hist.append(cum, 1.0, 10, 1, OPEN)
    seam = TickSeam(SEG, SID, DAY // 86_400, hist)
    assert not seam.offer_catch_up(tick(SEG, SID, 20, 1.0, 10, OPEN))  # in history
    assert seam.offer_catch_up(tick(SEG, SID, 25, 2.0, 5, OPEN + 1))  # below the max, not in history
    assert not seam.offer_catch_up(tick(SEG, SID, 25, 2.0, 5, OPEN + 1))  # taken already
    assert seam.offer_catch_up(tick(SEG, SID, 40, 3.0, 10, OPEN + 2))
    ticks = seam.finish_catch_up()
    assert ticks.cum_volume.tolist() == [10, 20, 25, 30, 40] and ticks.price.tolist() == [1, 1, 2, 1, 3]
    assert seam.offer_live(tick(SEG, SID, 40, 3.0, 10, OPEN + 2)) == "drop"
    assert seam.offer_live(tick(SEG, SID, 41, 3.0, 1, OPEN + 3)) == "add"


@pytest.mark.parametrize("n", [0, 1])
def test_tick_seam_empty_history(n: int) -> None:
    seam = TickSeam(SEG, SID, DAY // 86_400, TickSeries())
    for i in range(n):
        assert seam.offer_catch_up(tick(SEG, SID, 5 + i, 1.0, 5, OPEN))
    assert len(seam.finish_catch_up()) == n
