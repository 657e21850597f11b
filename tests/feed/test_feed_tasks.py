"""The feed's publisher is owned: its death stops the feed loudly and loses nothing; a full disk under a Redis
outage neither reconnects the feed nor loses trades (simulator -> feed -> Redis, in process)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis
from structlog.testing import capture_logs

from feed.connection import DhanConnection, FrameSinkError
from feed.publisher import KIND_TICKS
from feed.service import FeedService
from feed.sim import SimServer
from feed.spool import parse_spool
from feed.subscriptions import ShardPlan
from shared.settings import Settings
from tests.conftest import PrivateRedis, eventually, make_settings
from tests.feed.diskfull import small_disk


def _feed_settings(**overrides: Any) -> Settings:
    s = make_settings(sim_rate=400.0, nifty_strikes=2, banknifty_strikes=1, **overrides)
    return s.replaced(instruments_url=f"http://127.0.0.1:{s.sim.port}/api-scrip-master.csv")


def _count_adds(svc: FeedService) -> Callable[[], int]:
    """How many events the feed handed its publisher (an observer around ``Publisher.add``), counting those
    it had already published or held when the observer was put in place."""
    pub = svc.publisher
    assert pub is not None
    added = [sum(pub.published) + pub.buffered]
    add = pub.add

    def counting_add(kind: int, payloads: list[bytes]) -> None:
        added[0] += len(payloads)
        add(kind, payloads)

    pub.add = counting_add  # type: ignore[method-assign]
    return lambda: added[0]


def _marker(n: int) -> bytes:
    return orjson.dumps({"v": 1, "seg": "NSE_FNO", "sid": 999_000 + n, "ltp": 1.0, "qty": 1, "marker": n})


async def _watch_health(port: int, seen: list[tuple[int, dict[str, Any]]]) -> None:
    """Every /health answer until the endpoint goes away."""
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(f"http://127.0.0.1:{port}/health") as r:
                    seen.append((r.status, await r.json()))
            except aiohttp.ClientError:
                return
            await asyncio.sleep(0.005)


async def test_a_dead_publisher_stops_the_feed_loudly_and_the_next_start_sends_what_it_held(
        tmp_path: Path, redis_client: aioredis.Redis) -> None:
    settings = _feed_settings(spool_dir=tmp_path / "spool")
    ticks_key = settings.redis.key_prefix + "ticks"
    async with SimServer(settings):
        svc = FeedService(settings)
        svc.health_port = 0
        with capture_logs() as logs:
            serving = asyncio.create_task(svc.serve())
            await eventually(lambda: svc.publisher is not None and svc.health is not None, timeout_s=20)
            added = _count_adds(svc)
            assert svc.publisher is not None and svc.health is not None
            await eventually(lambda: svc.publisher.published[KIND_TICKS] > 20, timeout_s=20)
            seen: list[tuple[int, dict[str, Any]]] = []
            watcher = asyncio.create_task(_watch_health(svc.health.port, seen))
            await eventually(lambda: seen and seen[-1][0] == 200, message="healthy while running")
            # an event of a kind no stream exists for, between trades in the same batch: the publisher dies on
            # it, as it did on a spool record's unknown kind byte (which the spool now refuses to read: see
            # tests/feed/test_spool.py), with the trades around it in hand
            svc.publisher.add(KIND_TICKS, [_marker(n) for n in range(5)])
            svc.publisher.add(7, [b'{"v":1,"seg":"NSE_FNO","sid":1,"poison":true}'])
            svc.publisher.add(KIND_TICKS, [_marker(n) for n in range(5, 10)])
            code = await asyncio.wait_for(serving, 30)
            await watcher
        pub = svc.publisher
        assert code == 1 and svc.failed_task == "feed.publisher" and "IndexError" in svc.failure
        failed = [e for e in logs if e["event"] == "task_failed"]
        assert [e["task"] for e in failed] == ["feed.publisher"]
        hb = await redis_client.hgetall(svc.keys.svc("feed"))
        assert hb[b"state"] == b"crashed" and hb[b"failed_task"] == b"feed.publisher"
        unhealthy = [body for status, body in seen if status != 200]
        assert unhealthy and all(b["failed_task"] == "feed.publisher" and "IndexError" in b["reason"]
                                 for b in unhealthy)
        # everything it held went to the spool: published + spilled = every event the feed produced
        (spool_file,) = (tmp_path / "spool").glob("spool-*.bin")
        held, problems = parse_spool(spool_file.read_bytes(), 4)
        assert pub.spilled == len(held) + 1 and [why for _, why in problems] == ["unknown kind 7"]
        assert sum(pub.published) + pub.spilled == added()
        held_ticks = {p for kind, p in held if kind == KIND_TICKS}
        assert {_marker(n) for n in range(10)} <= held_ticks

        # the next start quarantines the poisoned file and sends everything else in it first
        again = FeedService(settings)
        serving = asyncio.create_task(again.serve())
        await eventually(lambda: again.publisher is not None and again.publisher.spool.quarantined == 1
                         and again.publisher.spooled_files == 0, timeout_s=20)
        again.stop("test")
        assert await asyncio.wait_for(serving, 20) == 0
    in_redis = {f[b"d"] for _, f in await redis_client.xrange(ticks_key)}
    assert held_ticks <= in_redis
    assert [p.name for p in (tmp_path / "spool" / "quarantine").iterdir()] == [spool_file.name]


async def test_a_full_disk_under_a_redis_outage_keeps_the_feed_connected_and_its_trades(tmp_path: Path) -> None:
    red = PrivateRedis(tmp_path)
    red.start()
    client = aioredis.Redis.from_url(red.url, socket_connect_timeout=0.5)
    try:
        with small_disk(tmp_path / "disk") as disk:
            disk.fill()
            settings = _feed_settings(redis_url=red.url, spool_dir=disk.path / "spool",
                                      publish_buffer_max=1000, publish_memory_max=3000)
            async with SimServer(settings):
                svc = FeedService(settings)
                serving = asyncio.create_task(svc.serve())
                await eventually(lambda: svc.publisher is not None and svc.publisher.published[KIND_TICKS] > 10,
                                 timeout_s=20)
                pub = svc.publisher
                assert pub is not None
                added = _count_adds(svc)
                red.stop()
                await eventually(lambda: pub.buffered > 1000, timeout_s=30, message="past the spill bound")
                frames = svc.decoder.stats.frames
                await eventually(lambda: svc.decoder.stats.frames > frames + 100, message="still reading")
                # the failing spool is not a connection error: the socket stays up
                assert sum(c.reconnects for c in svc.connections) == 0
                await eventually(lambda: pub.dropped[0] > 0, timeout_s=30, message="memory cap reached")
                problem = svc.health_problem()
                assert problem is not None and "spool cannot be written (No space left on device)" in problem
                assert sum(c.reconnects for c in svc.connections) == 0
                assert pub.dropped[KIND_TICKS] == 0 and pub.spooled_files == 0
                red.start()
                await eventually(lambda: pub.buffered == 0 and pub.spool_error == "", timeout_s=30,
                                 message="held events published once Redis is back")
                svc.stop("test")
                assert await asyncio.wait_for(serving, 20) == 0
            assert sum(pub.published) + sum(pub.dropped) + pub.spilled >= added()
            events = [orjson.loads(f[b"d"]) for _, f in await client.xrange(settings.redis.key_prefix + "events")]
            dropped = list({e["id"]: e for e in events if e["type"] == "dropped"}.values())
            assert dropped and all(e["instruments"] for e in dropped)
            assert sum(n.get("quotes", 0) + n.get("depth", 0) for e in dropped
                       for n in e["instruments"].values()) == pub.dropped[0] + pub.dropped[2]
    finally:
        await client.aclose()
        red.stop()


async def test_a_dead_journal_thread_stops_the_feed_and_keeps_its_write_ahead_file(tmp_path: Path) -> None:
    settings = _feed_settings(spool_dir=tmp_path / "spool", journal_dir=tmp_path / "journal")
    async with SimServer(settings):
        svc = FeedService(settings)
        serving = asyncio.create_task(svc.serve())
        await eventually(lambda: svc.journal.counters.written_frames > 20, timeout_s=20)
        # a record its writer thread cannot write: the thread dies on it
        svc.journal.writer.queue.append((0.0, object()))
        svc.journal.writer.wake.set()
        assert await asyncio.wait_for(serving, 30) == 1
    assert svc.failed_task == "feed.journal" and "TypeError" in svc.failure
    assert (tmp_path / "journal" / "feed.wal").exists()  # recovered by the next start


async def test_an_error_while_processing_a_frame_is_not_a_connection_error() -> None:
    settings = _feed_settings(reconnect_base_s=0.01)
    plan = ShardPlan()
    plan.add({("IDX_I", 13): "quote", ("NSE_EQ", 2885): "quote"})
    seen = [0]

    def on_frame(frame: bytes, recv_ts: float) -> None:
        seen[0] += 1
        if seen[0] == 5:
            raise OSError(28, "No space left on device")  # e.g. a disk write downstream

    async with SimServer(settings):
        conn = DhanConnection(0, settings, plan, on_frame)
        with pytest.raises(FrameSinkError, match="No space left on device"):
            await asyncio.wait_for(conn.run(asyncio.Event()), 20)
    assert conn.reconnects == 0 and seen[0] == 5
