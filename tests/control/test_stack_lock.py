"""One ``dhan up`` per prefix: the lock on the real Redis (refusal line, stale take-over, loss, release)."""

from __future__ import annotations

import asyncio
import os
import socket
import time

import orjson
import pytest
import redis.asyncio as aioredis

from control.stack.lock import StackAlreadyRunning, StackLock
from shared.keys import Keys
from shared.settings import Settings
from tests.conftest import eventually
from tests.proctree import dead_pid

HOST = socket.gethostname()


def _holder(pid: int, host: str = HOST, started_at: float | None = None) -> bytes:
    return orjson.dumps({"pid": pid, "host": host, "started_at": started_at or time.time()})


async def test_a_second_holder_is_refused_in_one_line_naming_the_first(settings: Settings,
                                                                       redis_client: aioredis.Redis) -> None:
    keys = Keys(settings.redis.key_prefix)
    started = time.mktime((2026, 12, 4, 10, 2, 0, 0, 0, -1))
    await redis_client.set(keys.up_lock, _holder(os.getpid(), "x", started), px=15_000)  # alive: this process
    second = StackLock(redis_client, keys, clock=lambda: started + 60)
    with pytest.raises(StackAlreadyRunning) as err:
        await second.acquire()
    assert str(err.value) == (f"another dhan up is running on prefix {settings.redis.key_prefix} (pid {os.getpid()} on "
                              "host x, since 10:02); stop it or use another DHAN_KEY_PREFIX")
    assert await redis_client.get(keys.up_lock) == _holder(os.getpid(), "x", started)  # left alone


async def test_the_lock_holds_pid_host_and_start_with_a_ttl_and_is_released(settings: Settings,
                                                                         redis_client: aioredis.Redis) -> None:
    keys = Keys(settings.redis.key_prefix)
    lock = StackLock(redis_client, keys, ttl_s=5.0)
    await lock.acquire()
    held = orjson.loads(await redis_client.get(keys.up_lock))
    assert held["pid"] == os.getpid() and held["host"] == HOST and abs(held["started_at"] - time.time()) < 60
    assert 0 < await redis_client.pttl(keys.up_lock) <= 5000
    with pytest.raises(StackAlreadyRunning):
        await StackLock(redis_client, keys).acquire()
    await lock.release()
    assert await redis_client.get(keys.up_lock) is None


async def test_a_lock_of_a_dead_process_on_this_host_is_taken_over(settings: Settings,
                                                                  redis_client: aioredis.Redis) -> None:
    keys = Keys(settings.redis.key_prefix)
    await redis_client.set(keys.up_lock, _holder(dead_pid()), px=15_000)   # a SIGKILLed dhan up
    lock = StackLock(redis_client, keys)
    await lock.acquire()
    assert await redis_client.get(keys.up_lock) == lock.value


async def test_a_lock_of_another_host_is_not_taken_over_before_it_expires(settings: Settings,
                                                                         redis_client: aioredis.Redis) -> None:
    keys = Keys(settings.redis.key_prefix)
    await redis_client.set(keys.up_lock, _holder(dead_pid(), "elsewhere"), px=300)  # its pid means nothing here
    with pytest.raises(StackAlreadyRunning):
        await StackLock(redis_client, keys).acquire()

    async def expired() -> bool:
        return await redis_client.get(keys.up_lock) is None

    await eventually(expired, timeout_s=5, message="the holder's TTL expired")
    await StackLock(redis_client, keys).acquire()


async def test_a_holder_that_lost_the_lock_stops(settings: Settings, redis_client: aioredis.Redis) -> None:
    keys = Keys(settings.redis.key_prefix)
    lock = StackLock(redis_client, keys, ttl_s=0.3)
    await lock.acquire()
    stop = asyncio.Event()
    keeper = asyncio.create_task(lock.keep(stop))
    other = _holder(os.getpid(), "other")
    try:
        await redis_client.set(keys.up_lock, other, px=15_000)  # taken over while this one was suspended
        await asyncio.wait_for(stop.wait(), 10)
        assert lock.lost.startswith(f"another dhan up took prefix {settings.redis.key_prefix} over (pid {os.getpid()} "
                                    "on host other")
        await lock.release()
        assert await redis_client.get(keys.up_lock) == other  # not ours to delete
    finally:
        keeper.cancel()


async def test_the_holder_keeps_the_lock_past_its_ttl(settings: Settings, redis_client: aioredis.Redis) -> None:
    keys = Keys(settings.redis.key_prefix)
    lock = StackLock(redis_client, keys, ttl_s=0.3)
    await lock.acquire()
    stop = asyncio.Event()
    keeper = asyncio.create_task(lock.keep(stop))
    try:
        first = time.monotonic()

        async def kept_long() -> bool:
            return time.monotonic() - first > 1.0 and await redis_client.get(keys.up_lock) == lock.value

        await eventually(kept_long, timeout_s=5, message="the lock kept over three TTLs")
        assert not stop.is_set() and not lock.lost
    finally:
        stop.set()
        await keeper
        await lock.release()
