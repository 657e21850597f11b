"""Entries trimmed by the feed's MAXLEN before the writer stored them raise stream_trimmed_unwritten."""

from __future__ import annotations

import orjson
import redis.asyncio as aioredis

from control.center.alerts_feed import AlertFeed
from shared.keys import Keys
from shared.settings import Settings
from tests.conftest import eventually
from writer.reader import StreamReader

from .conftest import count, drain, group_pending, tick, xadd


async def _alerts(client: aioredis.Redis, settings: Settings) -> list[dict]:
    return [orjson.loads(f[b"d"]) for _, f in await client.xrange(Keys(settings.redis.key_prefix).alerts)]


async def test_entries_trimmed_before_delivery_raise_one_alert(wsettings: Settings, wredis: aioredis.Redis) -> None:
    keys = Keys(wsettings.redis.key_prefix)
    reader = StreamReader(wredis, keys, "setup")
    await reader.ensure_groups()  # the group exists (the writer ran before), then the writer is down
    await xadd(wredis, wsettings, "ticks", [tick(1, v, qty=1) for v in range(1, 101)])
    await wredis.xtrim(keys.ticks, maxlen=10, approximate=False)  # the feed's cap bites
    pubsub = wredis.pubsub()
    await pubsub.subscribe(keys.alerts)
    try:
        await drain(wsettings)
        assert await count(wsettings, "dhan_ticks") == 10
        alerts = await _alerts(wredis, wsettings)
        assert len(alerts) == 1
        assert alerts[0]["rule"] == "stream_trimmed_unwritten"
        assert alerts[0]["stream"] == keys.ticks and alerts[0]["entries"] == 90
        assert (alerts[0]["state"], alerts[0]["severity"], alerts[0]["key"]) == (
            "firing", "critical", f"stream_trimmed_unwritten:{keys.ticks}",
        )  # the format of shared.alerts, as the monitor's
        published: list[bytes] = []

        async def got_message() -> bool:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if msg is not None:
                published.append(msg["data"])
            return bool(published)

        await eventually(got_message, message="alert published on the channel")
        assert [a["entries"] for a in orjson.loads(published[0])] == [90]  # one array per publish, as the monitor's
        feed = AlertFeed(wredis, keys)  # the Control Center's reader takes both the channel's and the stream's
        feed.ingest(published[0])
        await feed.load_backlog()
        [row] = feed.rows()
        assert (row.rule, row.state, row.severity) == ("stream_trimmed_unwritten", "firing", "critical")
        assert len(row.history) == 2  # the same id from the channel and from the stream
        assert "90 entries" in row.detail and row.service
    finally:
        await pubsub.aclose()
    await drain(wsettings)  # reported once: a later check finds nothing new
    assert len(await _alerts(wredis, wsettings)) == 1


async def test_pending_entries_trimmed_before_writing_raise_an_alert(
    wsettings: Settings, wredis: aioredis.Redis
) -> None:
    keys = Keys(wsettings.redis.key_prefix)
    await xadd(wredis, wsettings, "ticks", [tick(1, v, qty=1) for v in range(1, 21)])
    dead = StreamReader(wredis, keys, "dead-writer")
    await dead.ensure_groups()
    assert len(await dead.read(100, None)) == 20  # delivered to a writer that died before writing
    await xadd(wredis, wsettings, "ticks", [tick(1, v, qty=1) for v in range(21, 26)])
    await wredis.xtrim(keys.ticks, maxlen=5, approximate=False)  # the 20 pending ones are gone
    await drain(wsettings)
    assert await count(wsettings, "dhan_ticks") == 5
    alerts = await _alerts(wredis, wsettings)
    assert [(a["rule"], a["entries"], len(a["ids"])) for a in alerts] == [("stream_trimmed_unwritten", 20, 20)]
    assert await group_pending(wredis, wsettings) == 0


async def test_trim_after_the_writer_had_been_reading_is_detected(wsettings: Settings, wredis: aioredis.Redis) -> None:
    keys = Keys(wsettings.redis.key_prefix)
    await xadd(wredis, wsettings, "quotes", [{"v": 1} for _ in range(3)])  # (poison, but read and acked)
    await xadd(wredis, wsettings, "ticks", [tick(1, v, qty=1) for v in range(1, 11)])
    await drain(wsettings)  # the group's read counter is now exact
    await xadd(wredis, wsettings, "ticks", [tick(1, v, qty=1) for v in range(11, 211)])
    await wredis.xtrim(keys.ticks, maxlen=50, approximate=False)
    await drain(wsettings)
    assert await count(wsettings, "dhan_ticks") == 60
    assert [(a["stream"], a["entries"]) for a in await _alerts(wredis, wsettings)] == [(keys.ticks, 150)]
