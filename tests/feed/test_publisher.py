"""Publisher: pipelined XADD + batched PUBLISH; Redis outage buffers, spills to disk, flushes in order."""

from __future__ import annotations

import asyncio

import orjson
import redis.asyncio as aioredis

from feed.publisher import KIND_DEPTH, KIND_QUOTES, KIND_TICKS, Publisher
from shared.keys import Keys
from tests.conftest import PrivateRedis, eventually, make_settings


async def test_streams_are_named_by_the_keys_it_is_given(settings, redis_client) -> None:
    """The composition root builds Keys once and passes them: the publisher names no stream itself."""
    keys = Keys(settings.redis.key_prefix + "given:")  # under the test's prefix: removed with it
    pub = Publisher(settings, redis_client, keys)
    stop = asyncio.Event()
    task = asyncio.create_task(pub.run(stop))
    pub.add(KIND_TICKS, [orjson.dumps({"t": 1})])

    async def written() -> bool:
        return (await redis_client.xlen(keys.stream("ticks"))) == 1
    await eventually(written, message="tick written under the given keys")
    stop.set()
    await task
    await pub.close()
    assert await redis_client.xlen(Keys(settings.redis.key_prefix).stream("ticks")) == 0


async def test_events_reach_streams_and_channels(settings, redis_client) -> None:
    pub = Publisher(settings, redis_client, Keys(settings.redis.key_prefix))
    ps = redis_client.pubsub()
    await ps.subscribe(settings.redis.key_prefix + "ticks")
    stop = asyncio.Event()
    task = asyncio.create_task(pub.run(stop))
    pub.add(KIND_QUOTES, [orjson.dumps({"i": i}) for i in range(5)])
    pub.add(KIND_TICKS, [orjson.dumps({"t": i}) for i in range(3)])
    pub.add(KIND_DEPTH, [orjson.dumps({"d": 1})])
    await eventually(lambda: redis_client.xlen(settings.redis.key_prefix + "ticks"), message="ticks written")

    async def all_written() -> bool:
        return (await redis_client.xlen(settings.redis.key_prefix + "quotes")) == 5
    await eventually(all_written)
    entries = await redis_client.xrange(settings.redis.key_prefix + "ticks")
    assert [orjson.loads(e[1][b"d"])["t"] for e in entries] == [0, 1, 2]
    got = []

    async def got_batch() -> bool:
        msg = await ps.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if msg:
            got.extend(orjson.loads(msg["data"]))
        return len(got) >= 3
    await eventually(got_batch)
    assert got == [{"t": 0}, {"t": 1}, {"t": 2}]
    stop.set()
    await task
    await ps.aclose()
    await pub.close()


async def test_redis_outage_loses_nothing_and_keeps_order(private_redis: PrivateRedis, tmp_path) -> None:
    settings = make_settings(redis_url=private_redis.url, publish_buffer_max=1000, publish_batch_max=200,
                             spool_dir=tmp_path / "spool")
    client = aioredis.Redis.from_url(private_redis.url, socket_connect_timeout=0.5)
    pub = Publisher(settings, client, Keys(settings.redis.key_prefix), publish=False)
    stop = asyncio.Event()
    task = asyncio.create_task(pub.run(stop))
    key = settings.redis.key_prefix + "ticks"
    pub.add(KIND_TICKS, [orjson.dumps({"n": n}) for n in range(100)])

    async def written(n: int) -> bool:
        try:
            return (await client.xlen(key)) == n
        except Exception:
            return False
    await eventually(lambda: written(100))
    private_redis.stop()
    # While Redis is down the producer keeps adding; past the bound the oldest spill to disk.
    for start in range(100, 5100, 500):
        pub.add(KIND_TICKS, [orjson.dumps({"n": n}) for n in range(start, start + 500)])
    await eventually(lambda: pub.errors > 0, message="publisher noticed the outage")
    assert pub.spilled > 0 and pub.spooled_files > 0
    private_redis.start()  # fresh, empty server on the same port
    await eventually(lambda: written(5000), timeout_s=30, message="buffered events flushed after recovery")
    entries = await client.xrange(key)
    assert [orjson.loads(e[1][b"d"])["n"] for e in entries] == list(range(100, 5100))
    assert pub.spooled_files == 0 and not list((tmp_path / "spool").glob("*.bin"))
    stop.set()
    await task
    await pub.close()
    await client.aclose()
