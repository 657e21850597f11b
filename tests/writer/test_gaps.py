"""Gap ledger (writer/gaps.py writes, shared/gaps.py reads): the feed's lifecycle events become dhan_gaps
intervals, once each."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from shared.db import create_pool, init_schema
from shared.gaps import Gap, all_gaps_between, gaps_between
from shared.keys import Keys
from shared.settings import Settings
from tests.conftest import PrivateRedis, eventually
from writer.gap_rows import CLOSE_UNIVERSE_OUT, rows_for_event
from writer.gaps import GAPS_GROUP, GapRecorder, apply_event, run_gap_recorder
from writer.service import WriterService

from .conftest import query, running_writer

T0 = 1_795_600_000.0


def _events() -> list[dict[str, Any]]:
    return [
        {"type": "connected", "conn": 0, "ts": T0, "subscribed": 10},
        {"type": "disconnected", "conn": 0, "ts": T0 + 10, "cause": "server_closed", "reason_code": 805,
         "reason": "too many connections", "connected_s": 10.0},
        {"type": "connected", "conn": 0, "ts": T0 + 12, "subscribed": 10},
        {"type": "disconnected", "conn": 0, "ts": T0 + 20, "cause": "stall", "reason_code": None, "reason": None,
         "connected_s": 8.0},
        {"type": "connected", "conn": 0, "ts": T0 + 25, "subscribed": 10},
        {"type": "universe_change", "ts": T0 + 30, "reason": "atm_shift", "atm": 100.0,
         "added": ["NSE_FNO:2"], "removed": ["NSE_FNO:1"]},
        {"type": "universe_change", "ts": T0 + 40, "reason": "atm_shift", "atm": 99.0,
         "added": ["NSE_FNO:1"], "removed": []},
    ]  # fmt: skip


@pytest.fixture
async def gsettings(db_settings: Settings) -> Settings:
    await init_schema(db_settings)
    return db_settings.replaced(shutdown_deadline_s=3.0)


@pytest.fixture
async def gredis(gsettings: Settings) -> AsyncIterator[aioredis.Redis]:
    client: aioredis.Redis = aioredis.Redis.from_url(gsettings.redis.url.get_secret_value())
    yield client
    keys = [k async for k in client.scan_iter(match=f"{gsettings.redis.key_prefix}*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def _publish(client: aioredis.Redis, settings: Settings, events: list[Any]) -> list[bytes]:
    name = Keys(settings.redis.key_prefix).events
    return [await client.xadd(name, {"d": e if isinstance(e, bytes) else orjson.dumps(e)}) for e in events]


async def _rows(settings: Settings) -> list[tuple[Any, ...]]:
    return await query(
        settings,
        "SELECT exchange_segment, security_id, conn, kind, start_ts, end_ts, reason FROM dhan_gaps "
        "ORDER BY start_ts, id",
    )


async def _group_done(client: aioredis.Redis, settings: Settings, last_id: bytes) -> bool:
    for g in await client.xinfo_groups(Keys(settings.redis.key_prefix).events):
        if g["name"] == GAPS_GROUP.encode():
            return g["last-delivered-id"] == last_id and int(g["pending"]) == 0
    return False


async def test_writer_records_gaps_and_query_shades_them(gsettings: Settings, gredis: aioredis.Redis) -> None:
    async with running_writer(gsettings):
        ids = await _publish(gredis, gsettings, _events())
        await eventually(lambda: _group_done(gredis, gsettings, ids[-1]), timeout_s=60, message="gaps group read all")
        rows = await _rows(gsettings)
    kinds = [(r[0], r[1], r[3], float(r[4]), None if r[5] is None else float(r[5])) for r in rows]
    assert kinds == [
        (None, None, "disconnect", T0 + 10, T0 + 12),
        (None, None, "stall", T0 + 20, T0 + 25),
        ("NSE_FNO", 1, "universe_out", T0 + 30, T0 + 40),
        ("NSE_FNO", 2, "universe_in", T0 + 30, T0 + 30),
    ]
    assert rows[0][6] == "server_closed; 805 too many connections"
    assert rows[1][6] == "stall"

    pool = await create_pool(gsettings, minsize=1, maxsize=1)
    try:
        one = await gaps_between(pool, "NSE_FNO", 1, T0, T0 + 100)
        assert [(g.kind, g.start_ts, g.end_ts) for g in one] == [
            ("disconnect", T0 + 10, T0 + 12), ("stall", T0 + 20, T0 + 25), ("universe_out", T0 + 30, T0 + 40),
        ]  # fmt: skip
        assert all(isinstance(g, Gap) for g in one)
        # a window touching only the stall; another instrument does not see NSE_FNO:1's band
        assert [g.kind for g in await gaps_between(pool, "NSE_FNO", 1, T0 + 21, T0 + 22)] == ["stall"]
        assert [g.kind for g in await gaps_between(pool, "NSE_FNO", 3, T0 + 26, T0 + 100)] == []
        # same id in another segment is another instrument
        assert [g.kind for g in await gaps_between(pool, "NSE_EQ", 1, T0 + 26, T0 + 100)] == []
    finally:
        pool.close()
        await pool.wait_closed()


async def test_redelivery_stores_nothing_twice_and_open_gap_stays_open(
    gsettings: Settings, gredis: aioredis.Redis
) -> None:
    pool = await create_pool(gsettings, minsize=1, maxsize=1)
    stopping = asyncio.Event()
    recorder = GapRecorder(gredis, pool, Keys(gsettings.redis.key_prefix), "t1")
    task = asyncio.create_task(recorder.run(stopping))
    try:
        events = [*_events(), {"type": "disconnected", "conn": 1, "ts": T0 + 50, "cause": "error: x"}]
        ids = await _publish(gredis, gsettings, events)
        await eventually(lambda: _group_done(gredis, gsettings, ids[-1]), timeout_s=60, message="read all")
        first = await _rows(gsettings)
        assert len(first) == 5
        assert first[-1][2] == 1 and first[-1][5] is None  # conn 1 still down: open gap
        # every entry delivered again (as after a lost ack): no row added, none changed
        await gredis.xgroup_setid(Keys(gsettings.redis.key_prefix).events, GAPS_GROUP, "0")
        await eventually(lambda: _group_done(gredis, gsettings, ids[-1]), timeout_s=60, message="read again")
        assert await _rows(gsettings) == first
        assert recorder.events_seen == 2 * len(events)
        open_now = await gaps_between(pool, "NSE_EQ", 7, T0 + 1000, T0 + 2000)
        assert [(g.kind, g.conn, g.end_ts) for g in open_now] == [("disconnect", 1, None)]
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)
        pool.close()
        await pool.wait_closed()


async def test_feed_killed_without_disconnect_is_a_gap_from_its_last_entry(
    gsettings: Settings, gredis: aioredis.Redis
) -> None:
    keys = Keys(gsettings.redis.key_prefix)
    await _publish(gredis, gsettings, [{"type": "connected", "conn": 0, "ts": time.time(), "subscribed": 3}])
    last = await gredis.xadd(keys.stream("quotes"), {"d": b"{}"})
    await eventually(lambda: time.time() * 1000 > int(last.split(b"-")[0]) + 5, message="clock past the entry")
    restarted = time.time()
    ids = await _publish(gredis, gsettings, [{"type": "connected", "conn": 0, "ts": restarted, "subscribed": 3}])
    pool = await create_pool(gsettings, minsize=1, maxsize=1)
    stopping = asyncio.Event()
    task = asyncio.create_task(GapRecorder(gredis, pool, keys, "t2").run(stopping))
    try:
        await eventually(lambda: _group_done(gredis, gsettings, ids[-1]), timeout_s=60, message="read all")
        rows = await _rows(gsettings)
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)
        pool.close()
        await pool.wait_closed()
    assert len(rows) == 1, rows
    seg, sid, conn, kind, start, end, reason = rows[0]
    assert (seg, sid, conn, kind) == (None, None, 0, "disconnect") and "killed" in reason
    assert float(start) == int(last.split(b"-")[0]) / 1000
    assert abs(float(end) - restarted) < 1e-5


def test_feed_start_universe_makes_no_markers_but_closes_bands() -> None:
    start = {"type": "universe_change", "ts": T0, "reason": "initial_centre", "added": ["NSE_FNO:1"], "removed": []}
    shift = {**start, "reason": "atm_shift"}
    (quiet,) = rows_for_event("1-0", start)
    (loud,) = rows_for_event("1-0", shift)
    assert quiet[0] is not CLOSE_UNIVERSE_OUT and quiet[0].strip() == CLOSE_UNIVERSE_OUT  # closes, no marker
    assert loud[0] is CLOSE_UNIVERSE_OUT


async def test_all_gaps_of_a_day_newest_first_across_instruments_and_the_feed(gsettings: Settings) -> None:
    """The Control Center's query (``all_gaps_between``) over rows made by the recorder's own statements."""
    day_start, day_end = T0, T0 + 86_400
    events = [
        ("1-0", {"type": "disconnected", "conn": 0, "ts": T0 - 3600, "cause": "server_closed"}),  # the day before
        ("2-0", {"type": "connected", "conn": 0, "ts": T0 - 3500}),
        ("3-0", {"type": "universe_change", "ts": T0 - 600, "reason": "atm_shift", "added": [],
                 "removed": ["NSE_FNO:9"]}),  # out since before the day, still out
        ("4-0", {"type": "disconnected", "conn": 1, "ts": T0 + 100, "cause": "stall"}),
        ("5-0", {"type": "connected", "conn": 1, "ts": T0 + 130}),
        ("6-0", {"type": "universe_change", "ts": T0 + 200, "reason": "atm_shift", "added": ["NSE_FNO:3"],
                 "removed": ["NSE_FNO:1", "NSE_FNO:2"]}),  # NSE_FNO:3 gets a universe_in marker
        ("7-0", {"type": "universe_change", "ts": T0 + 300, "reason": "atm_shift", "added": ["NSE_FNO:1"],
                 "removed": []}),
        ("8-0", {"type": "disconnected", "conn": 0, "ts": T0 + 400, "cause": "server_closed", "reason_code": 805,
                 "reason": "too many connections"}),  # still open
    ]  # fmt: skip
    pool = await create_pool(gsettings, minsize=1, maxsize=1)
    try:
        async with pool.acquire() as conn, conn.cursor() as cur:
            for eid, event in events:
                await apply_event(cur, eid, event)
            await conn.commit()
        found = await all_gaps_between(pool, day_start, day_end)
        # newest first; NSE_FNO:3's universe_in marker and the day before's closed disconnect are left out
        assert [(g.kind, g.seg, g.sid, g.conn, g.start_ts, g.end_ts) for g in found] == [
            ("disconnect", None, None, 0, T0 + 400, None),
            ("universe_out", "NSE_FNO", 2, None, T0 + 200, None),
            ("universe_out", "NSE_FNO", 1, None, T0 + 200, T0 + 300),
            ("stall", None, None, 1, T0 + 100, T0 + 130),
            ("universe_out", "NSE_FNO", 9, None, T0 - 600, None),
        ]  # fmt: skip
        assert found[0].reason == "server_closed; 805 too many connections"
        feed = await all_gaps_between(pool, day_start, day_end, feed_only=True)
        assert [(g.kind, g.start_ts) for g in feed] == [("disconnect", T0 + 400), ("stall", T0 + 100)]
        assert [g.start_ts for g in await all_gaps_between(pool, day_start, day_end, limit=2)] == [T0 + 400, T0 + 200]
        before = await all_gaps_between(pool, T0 - 86_400, T0 - 1)
        assert [(g.kind, g.start_ts) for g in before] == [("universe_out", T0 - 600), ("disconnect", T0 - 3600)]
    finally:
        pool.close()
        await pool.wait_closed()


async def test_dropped_events_are_one_closed_gap_per_instrument(gsettings: Settings, gredis: aioredis.Redis) -> None:
    """The feed's ``dropped`` event (memory cap reached with Redis and the spool failing, feed/shed.py)."""
    event = {"type": "dropped", "id": "a1b2", "ts": T0 + 60,
             "reason": "memory cap 3,000 events, spool failing (disk full)",
             "superseded": 5, "instruments": {
                 "NSE_FNO:1": {"from": T0 + 1, "to": T0 + 9, "quotes": 4, "depth": 1},
                 "IDX_I:13": {"from": T0 + 2, "to": T0 + 2, "quotes": 1},
                 "?": {"ticks": 2},  # an event the feed could not name: not a row
             }}  # fmt: skip
    async with running_writer(gsettings):
        ids = await _publish(gredis, gsettings, [event, event])  # the same event twice (a retried flush)
        await eventually(lambda: _group_done(gredis, gsettings, ids[-1]), timeout_s=60, message="read")
        rows = await _rows(gsettings)
    assert [(r[0], r[1], r[3], float(r[4]), float(r[5])) for r in rows] == [
        ("NSE_FNO", 1, "dropped", T0 + 1, T0 + 9), ("IDX_I", 13, "dropped", T0 + 2, T0 + 2),
    ]  # fmt: skip
    assert rows[0][6] == "dropped 4 quotes, 1 depth: memory cap 3,000 events, spool failing (disk full)"


async def _run_recorder(settings: Settings, client: aioredis.Redis, events: list[Any]) -> GapRecorder:
    """A recorder until it has read and acknowledged ``events`` (published now)."""
    pool = await create_pool(settings, minsize=1, maxsize=1)
    stopping = asyncio.Event()
    recorder = GapRecorder(client, pool, Keys(settings.redis.key_prefix), "t3", payload_max=1000)
    task = asyncio.create_task(recorder.run(stopping))
    try:
        ids = await _publish(client, settings, events)
        await eventually(lambda: _group_done(client, settings, ids[-1]), timeout_s=60, message="read all")
        return recorder
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)
        pool.close()
        await pool.wait_closed()


async def _dead_letters(client: aioredis.Redis, settings: Settings) -> list[dict[str, Any]]:
    return [orjson.loads(f[b"d"]) for _, f in await client.xrange(Keys(settings.redis.key_prefix).deadletter)]


async def test_events_it_cannot_use_are_dead_lettered_and_the_ledger_goes_on(
    gsettings: Settings, gredis: aioredis.Redis
) -> None:
    deep = b'{"type":"disconnected","conn":0,"ts":%d,"cause":' % (T0 + 2) + b"[" * 1000 + b"]" * 1000 + b"}"
    hostile: list[Any] = [
        b"not json",
        {"type": "disconnected", "conn": 70_000, "ts": T0 + 1, "cause": "x"},  # SMALLINT UNSIGNED
        deep,  # str() of it raised RecursionError
        {"type": "universe_change", "ts": T0 + 3, "reason": "atm_shift", "removed": [123]},
        {"type": "universe_change", "ts": T0 + 4, "reason": "atm_shift", "removed": ["NSE_FNO:99999999999"]},
        {"type": "universe_change", "ts": T0 + 5, "reason": ["atm_shift"], "added": ["NSE_FNO:1"]},
        {"type": "connected", "conn": 0, "ts": 1e300},  # not a stream id, not a DECIMAL(16,6)
        {"type": "disconnected", "conn": 0, "ts": "soon"},
    ]
    first = {"type": "disconnected", "conn": 0, "ts": T0, "cause": "server_closed"}
    long_cause = {"type": "disconnected", "conn": 0, "ts": T0 + 6, "cause": "x" * 5000}  # fine: cut to the column
    last = {"type": "connected", "conn": 0, "ts": T0 + 10}
    recorder = await _run_recorder(gsettings, gredis, [first, *hostile, long_cause, last])
    rows = await _rows(gsettings)
    assert [(r[2], r[3], float(r[4]), float(r[5])) for r in rows] == [
        (0, "disconnect", T0, T0 + 10), (0, "disconnect", T0 + 6, T0 + 10),
    ]
    assert len(rows[1][6]) == 255
    metas = await _dead_letters(gredis, gsettings)
    assert recorder.dead_letters == len(metas) == len(hostile)
    reasons = [m["reason"] for m in metas]
    assert all(len(r) < 120 and "\n" not in r for r in reasons), reasons
    assert reasons[1:] == [
        "ValueError: bad conn 70000", "ValueError: bad text [[[...]]]", "ValueError: bad instrument key 123",
        "ValueError: bad instrument key 'NSE_FNO:99999999999'", "ValueError: bad text ['atm_shift']",
        "ValueError: bad ts 1e+300", "ValueError: bad ts 'soon'",
    ]
    assert reasons[0].startswith("JSONDecodeError") and {m["group"] for m in metas} == {GAPS_GROUP}


async def test_a_row_mysql_refuses_is_dead_lettered_and_the_rest_of_the_batch_kept(
    gsettings: Settings, gredis: aioredis.Redis
) -> None:
    # A constraint the event cannot know about: its statement fails (MySQL 4025) inside its own savepoint.
    await query(gsettings, "ALTER TABLE dhan_gaps ADD CONSTRAINT chk_end CHECK (end_ts IS NULL OR end_ts < %s)",
                (T0 + 100,))  # fmt: skip
    events = [
        {"type": "disconnected", "conn": 0, "ts": T0, "cause": "server_closed"},
        {"type": "connected", "conn": 0, "ts": T0 + 200},  # closing at T0 + 200 breaks the constraint
        {"type": "disconnected", "conn": 1, "ts": T0 + 1, "cause": "server_closed"},
        {"type": "connected", "conn": 1, "ts": T0 + 50},
    ]
    recorder = await _run_recorder(gsettings, gredis, events)
    rows = await _rows(gsettings)
    assert [(r[2], float(r[4]), None if r[5] is None else float(r[5])) for r in rows] == [
        (0, T0, None), (1, T0 + 1, T0 + 50),
    ]
    [meta] = await _dead_letters(gredis, gsettings)
    assert meta["reason"].startswith("rejected by MySQL: 4025") and recorder.dead_letters == 1


class _BuggyRecorder(GapRecorder):
    """A recorder with a bug of ours where a ``connected`` event goes (the crash-gap lookup)."""

    async def _crash_gap(self, cur: Any, eid: bytes, event: dict[str, Any]) -> None:
        raise KeyError("a bug of ours")


async def test_a_bug_of_ours_ends_the_recorder_with_its_error(gsettings: Settings, gredis: aioredis.Redis) -> None:
    """Not retried for ever, not blamed on the event: the task ends and its owner (the writer) fails loudly."""
    pool = await create_pool(gsettings, minsize=1, maxsize=1)
    recorder = _BuggyRecorder(gredis, pool, Keys(gsettings.redis.key_prefix), "t4")
    task = asyncio.create_task(recorder.run(asyncio.Event()))
    try:
        await _publish(gredis, gsettings, [{"type": "connected", "conn": 0, "ts": T0}])
        await eventually(task.done, message="recorder ended")
        assert isinstance(task.exception(), KeyError)
        assert (recorder.failures, recorder.dead_letters) == (0, 0)
        pending = await gredis.xpending(Keys(gsettings.redis.key_prefix).events, GAPS_GROUP)
        assert pending["pending"] == 1  # kept for a fixed writer
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        pool.close()
        await pool.wait_closed()


class _WriterWithABrokenLedger(WriterService):
    def _gaps_started(self, recorder: GapRecorder) -> None:
        raise KeyError("a bug of ours")


async def test_a_gap_ledger_that_dies_fails_the_writer(gsettings: Settings) -> None:
    """The ledger is the writer's owned task ``gaps``: its death stops the writer, named, with a failing exit."""
    writer = _WriterWithABrokenLedger(gsettings)
    code = await asyncio.wait_for(writer.serve(), 60)
    assert code == 1 and writer.failed_task == "writer.gaps" and isinstance(writer.exit_error, KeyError)


async def test_mysql_refusing_the_table_is_retried_and_loses_nothing(
    gsettings: Settings, gredis: aioredis.Redis
) -> None:
    """A statement failing for the database's reasons (here: the table gone) is not the event's fault."""
    await query(gsettings, "RENAME TABLE dhan_gaps TO dhan_gaps_away")
    pool = await create_pool(gsettings, minsize=1, maxsize=1)
    stopping = asyncio.Event()
    recorder = GapRecorder(gredis, pool, Keys(gsettings.redis.key_prefix), "t5")
    task = asyncio.create_task(recorder.run(stopping))
    try:
        ids = await _publish(gredis, gsettings, _events()[:3])
        await eventually(lambda: recorder.failures >= 2, message="retried")
        await query(gsettings, "RENAME TABLE dhan_gaps_away TO dhan_gaps")
        await eventually(lambda: _group_done(gredis, gsettings, ids[-1]), timeout_s=30, message="written")
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)
        pool.close()
        await pool.wait_closed()
    assert [(r[3], float(r[4]), float(r[5])) for r in await _rows(gsettings)] == [("disconnect", T0 + 10, T0 + 12)]
    assert recorder.dead_letters == 0 and not await _dead_letters(gredis, gsettings)


async def test_a_redis_restart_is_retried_and_loses_nothing(db_settings: Settings, tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path, persist=True)  # the stream, group and pending entries survive a restart
    server.start()
    settings = db_settings.replaced(redis_url=SecretStr(server.url))
    await init_schema(settings)
    pool = await create_pool(settings, minsize=1, maxsize=1)
    own = aioredis.Redis.from_url(server.url)  # the recorder's
    client = aioredis.Redis.from_url(server.url)
    stopping = asyncio.Event()
    recorder = GapRecorder(own, pool, Keys(settings.redis.key_prefix), "t6")
    task = asyncio.create_task(recorder.run(stopping))
    try:
        first = await _publish(client, settings, _events()[:2])
        await eventually(lambda: _group_done(client, settings, first[-1]), timeout_s=30, message="first written")
        server.stop()
        await client.aclose()
        server.start()
        client = aioredis.Redis.from_url(server.url)
        later = await _publish(client, settings, _events()[2:4])
        await eventually(lambda: _group_done(client, settings, later[-1]), timeout_s=30, message="later written")
        assert recorder.failures >= 1
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)
        await client.aclose()
        await own.aclose()
        pool.close()
        await pool.wait_closed()
        server.stop()
    assert [r[3] for r in await _rows(settings)] == ["disconnect", "stall"]


async def test_a_recorder_cancelled_twice_leaves_no_connection_open(gsettings: Settings) -> None:
    """The writer cancels its tasks at stop, and again at the shutdown deadline. A connection still acquired
    when the gaps task is cancelled is closed by the task itself, not left for the garbage collector (which
    found it tests later, in CI, as an unraisable ResourceWarning)."""
    stopping = asyncio.Event()
    started: list[GapRecorder] = []
    task = asyncio.create_task(run_gap_recorder(gsettings, Keys(gsettings.redis.key_prefix), "c1", stopping,
                                                started=started.append))  # fmt: skip
    await eventually(lambda: bool(started), message="recorder started")
    held = await started[0].pool.acquire()  # as if the recorder were between its MySQL and Redis calls
    task.cancel()
    await eventually(lambda: held.closed or task.done(), message="task in its clean-up")
    if not task.done():
        task.cancel()  # the shutdown deadline's second cancellation
    with pytest.raises(asyncio.CancelledError):
        await task
    assert held.closed
