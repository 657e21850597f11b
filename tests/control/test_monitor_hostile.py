"""The monitor over hostile state in Redis (quotes channel, last-quote and universe hashes, its own active
alerts): nothing it reads may stop it, and what it keeps per instrument stays bounded."""

from __future__ import annotations

import asyncio

import orjson
import redis.asyncio as aioredis

from control.monitor.quotes_seen import QuoteWatcher
from control.monitor.service import MonitorService
from shared.keys import Keys
from tests.conftest import eventually
from tests.control.test_monitor_live import mon_settings, running

DEEP = b"[" * 1000 + b"]" * 1000  # orjson reads it; str() or repr() of it raises RecursionError


def test_quote_watcher_takes_only_feed_shaped_keys_and_stays_bounded(redis_client: aioredis.Redis) -> None:
    watcher = QuoteWatcher(redis_client, Keys("t:"), clock=lambda: 100.0, max_instruments=100)
    hostile = b'[{"seg":' + DEEP + b',"sid":1},{"seg":"NSE_FNO\\n","sid":1},{"seg":"NSE_FNO","sid":true},' \
        b'{"seg":"NSE_FNO","sid":-1},{"seg":"' + b"X" * 5000 + b'","sid":1},{"seg":"NSE_FNO","sid":7,"recv_ts":[1]}]'
    assert watcher.ingest(hostile) == 1 and watcher.bad_quotes == 5
    assert list(watcher.seen) == ["NSE_FNO:7"] and watcher.seen["NSE_FNO:7"].recv_ts is None
    for start in range(0, 1000, 50):
        watcher.ingest(orjson.dumps([{"seg": "NSE_EQ", "sid": i, "ltp": 1.0} for i in range(start, start + 50)]))
    assert len(watcher.seen) <= 100 and "NSE_EQ:999" in watcher.seen


async def test_the_monitor_keeps_evaluating_over_hostile_state(redis_client: aioredis.Redis) -> None:
    s = mon_settings(monitor_instrument_silent_s=0.2, monitor_no_ticks_s=3600)
    keys = Keys(s.redis.key_prefix)
    await redis_client.xadd(keys.ticks, {"d": b"{}"})
    await redis_client.hset(keys.universe, mapping={
        "NSE_FNO:1": orjson.dumps({"seg": "NSE_FNO", "sid": 1, "symbol": "A"}),
        "NSE_FNO:2": orjson.dumps({"seg": "NSE_FNO", "sid": 2, "symbol": "B"}),
        "NSE_FNO:3": b'{"seg":"NSE_FNO","sid":3,"symbol":' + DEEP + b"}",  # the silent rule names it
        "NSE_FNO:4": b"[1,2]",
    })  # fmt: skip
    await redis_client.hset(keys.last_quote, mapping={"NSE_FNO:1": b'{"seg":' + DEEP + b',"sid":1,"recv_ts":1.0}'})
    fine = {"id": "x@1", "key": "x", "rule": "r", "severity": "warning", "state": "firing", "ts": 1.0, "since": 1.0,
            "detail": "d", "service": ""}  # fmt: skip
    await redis_client.hset(keys.alerts_active, mapping={
        "a": b"[1]", "b": orjson.dumps({**fine, "ts": "soon", "since": "soon"}),
        "c": orjson.dumps(fine)[:-1] + b',"detail":' + DEEP + b"}",
    })  # fmt: skip
    stop = asyncio.Event()

    async def publish() -> None:
        while not stop.is_set():
            await redis_client.publish(keys.quotes, b'[{"seg":' + DEEP + b',"sid":2}]')
            await redis_client.publish(keys.quotes, orjson.dumps([{"seg": "NSE_FNO", "sid": 1, "ltp": 1.0}]))
            await asyncio.sleep(0.05)

    pub = asyncio.create_task(publish())
    try:
        async with running(MonitorService(s)) as mon:
            assert mon.watcher is not None
            await eventually(lambda: mon.evaluations >= 20 and mon.watcher.bad_quotes > 0,  # type: ignore[union-attr]
                             message="evaluating while hostile quotes arrive")  # fmt: skip
            assert set(mon.watcher.seen) == {"NSE_FNO:1"}
            assert mon.snapshot is not None and set(mon.snapshot.universe) == {"NSE_FNO:1", "NSE_FNO:2"}
            assert "instrument_silent:NSE_FNO:2" in {c.key for c in mon.conditions}
            assert "a" not in mon.book.active and "b" not in mon.book.active and "c" not in mon.book.active
    finally:
        stop.set()
        await pub
