"""The monitor's rules one by one, each condition produced for real (real Redis, MariaDB, processes)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis

from control.monitor.service import MonitorService
from shared.clock import IST
from shared.keys import Keys
from shared.settings import Settings
from tests.conftest import PrivateRedis, eventually, make_settings


def mon_settings(**kw: Any) -> Settings:
    base: dict[str, Any] = {
        "monitor_interval_s": 0.1,
        "monitor_stale_s": 1.0,
        "monitor_market_hours": "always",
    }
    return make_settings(**(base | kw))


@asynccontextmanager
async def running(svc: MonitorService) -> AsyncIterator[MonitorService]:
    task = asyncio.create_task(svc.serve())
    await eventually(lambda: svc.evaluations > 0 or task.done(), message="monitor evaluating")
    try:
        yield svc
    finally:
        svc.stop("test")
        assert await asyncio.wait_for(task, 15) == 0


async def alerts(r: aioredis.Redis, keys: Keys) -> list[dict[str, Any]]:
    return [orjson.loads(f[b"d"]) for _, f in await r.xrange(keys.alerts)]


async def wait_alert(
    r: aioredis.Redis, keys: Keys, key: str, state: str = "firing", timeout_s: float = 15.0
) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    async def seen() -> bool:
        found[:] = [a for a in await alerts(r, keys) if a["key"] == key and a["state"] == state]
        return bool(found)

    await eventually(seen, timeout_s=timeout_s, message=f"alert {key} {state}")
    return found[-1]


def _child_env(s: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "DHAN_KEY_PREFIX": s.redis.key_prefix,
        "DHAN_HEARTBEAT_INTERVAL_S": "0.2",
        "DHAN_HEALTH_PORT_BASE": "0",
        "DHAN_SCHEDULER_MODE": "control",
        "DHAN_SCHEDULER_SERVICES": "nothing",
        "DHAN_REDIS_URL": s.redis.url.get_secret_value(),
        "DHAN_LOG_FORMAT": "json",
    }


async def _spawn(cmd: list[str], s: Settings, cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *cmd, env=_child_env(s), cwd=cwd, stdout=asyncio.subprocess.DEVNULL
    )


async def test_killed_service_raises_service_down_then_recovers(
    tmp_path: Path, redis_client: aioredis.Redis
) -> None:
    s = mon_settings()
    keys = Keys(s.redis.key_prefix)
    cmd = [sys.executable, "-m", "shared.cli", "scheduler"]
    victim = await _spawn(cmd, s, tmp_path)
    try:
        async with running(MonitorService(s)) as mon:
            await eventually(
                lambda: mon.rules.last_state.get("scheduler", ("", "", 0))[1] == "running",
                timeout_s=20,
                message="monitor saw the scheduler running",
            )
            victim.send_signal(signal.SIGKILL)
            await victim.wait()
            fired = await wait_alert(redis_client, keys, "service_down:scheduler")
            assert fired["rule"] == "service_down" and "scheduler" in fired["detail"]
            assert fired["severity"] == "warning"  # not feed or writer
            assert await redis_client.hexists(keys.alerts_active, "service_down:scheduler")
            victim = await _spawn(cmd, s, tmp_path)
            resolved = await wait_alert(
                redis_client, keys, "service_down:scheduler", "resolved", timeout_s=20
            )
            assert resolved["id"] == fired["id"] and resolved["detail"].startswith("recovered")
            assert not await redis_client.hexists(keys.alerts_active, "service_down:scheduler")
            fired_events = [a for a in await alerts(redis_client, keys) if a["state"] == "firing"]
            assert len(fired_events) == 1  # de-duplicated while it lasted
    finally:
        if victim.returncode is None:
            victim.kill()
            await victim.wait()


async def test_feed_disconnected_when_the_exchange_goes_away(redis_client: aioredis.Redis) -> None:
    from feed.service import FeedService
    from feed.sim import SimServer

    s = mon_settings(
        sim_rate=100.0,
        nifty_strikes=1,
        banknifty_strikes=1,
        reconnect_base_s=0.05,
        reconnect_cap_s=0.5,
        monitor_feed_disconnected_s=1.0,
        include_nifty50=False,
    )
    s = s.replaced(instruments_url=f"http://127.0.0.1:{s.sim.port}/api-scrip-master.csv")
    keys = Keys(s.redis.key_prefix)
    feed = FeedService(s)
    async with SimServer(s):
        feed_task = asyncio.create_task(feed.serve())
        await eventually(
            lambda: any(c.connected.is_set() for c in feed.connections),
            timeout_s=30,
            message="feed connected",
        )
    try:
        async with running(MonitorService(s)):
            fired = await wait_alert(redis_client, keys, "feed_disconnected:feed")
            assert fired["severity"] == "critical" and "0 of 1" in fired["detail"]
            assert fired["ts"] - fired["since"] >= 1.0  # held for the threshold first
            async with SimServer(s):
                await wait_alert(redis_client, keys, "feed_disconnected:feed", "resolved", timeout_s=30)
    finally:
        feed.stop("test")
        await asyncio.wait_for(feed_task, 20)


async def test_redis_memory_over_the_bound(private_redis: PrivateRedis) -> None:
    s = mon_settings(redis_url=private_redis.url, monitor_redis_memory_pct=80.0)
    keys = Keys(s.redis.key_prefix)
    r: aioredis.Redis = aioredis.Redis.from_url(private_redis.url)
    try:
        base = int((await r.info("memory"))["used_memory"])
        await r.config_set("maxmemory", str(base + 4 * 2**20))
        await r.config_set("maxmemory-policy", "noeviction")
        async with running(MonitorService(s)) as mon:
            assert not [c for c in mon.conditions if c.rule == "redis_memory"]
            i = 0
            while int((await r.info("memory"))["used_memory"]) < base + 3.6 * 2**20:
                await r.set(f"{s.redis.key_prefix}fill:{i}", b"x" * 32_000)
                i += 1
            fired = await wait_alert(r, keys, "redis_memory")
            assert "of maxmemory" in fired["detail"]
            await r.delete(*[f"{s.redis.key_prefix}fill:{j}" for j in range(i)])
            await wait_alert(r, keys, "redis_memory", "resolved")
    finally:
        await r.aclose()


async def test_a_redis_restart_between_two_evaluations_fires_and_clears(private_redis: PrivateRedis) -> None:
    # `docker compose restart redis` is over in about a second: snapshots taken before and after it both
    # succeed. The subscription Redis cut on the way down still tells.
    s = mon_settings(redis_url=private_redis.url, monitor_interval_s=2.0)
    keys = Keys(s.redis.key_prefix)
    async with running(MonitorService(s)) as mon:
        await eventually(lambda: mon.watcher is not None and mon.watcher.subscribed.is_set(), message="subscribed")
        n = mon.evaluations
        await eventually(lambda: mon.evaluations > n, timeout_s=10, interval_s=0.005, message="an evaluation")
        private_redis.stop()   # blocking: the monitor cannot evaluate until Redis is back
        private_redis.start()
        assert mon.evaluations == n + 1 and not [c for c in mon.conditions if c.rule == "redis_unreachable"]
        r: aioredis.Redis = aioredis.Redis.from_url(private_redis.url)
        try:
            fired = await wait_alert(r, keys, "redis_unreachable")
            assert "unreachable for a moment" in fired["detail"] and fired["severity"] == "critical"
            await wait_alert(r, keys, "redis_unreachable", "resolved")
        finally:
            await r.aclose()


async def test_consumer_lag_above_the_bound(redis_client: aioredis.Redis) -> None:
    s = mon_settings(monitor_lag_max=100)
    keys = Keys(s.redis.key_prefix)
    await redis_client.xgroup_create(keys.quotes, "writer", id="$", mkstream=True)
    async with running(MonitorService(s)):
        pipe = redis_client.pipeline(transaction=False)
        for i in range(150):
            pipe.xadd(keys.quotes, {"d": orjson.dumps({"seg": "NSE_EQ", "sid": i})})
        await pipe.execute()
        fired = await wait_alert(redis_client, keys, "consumer_lag:quotes:writer")
        assert "150 entries behind" in fired["detail"]
        await redis_client.xreadgroup(
            "writer", "c1", {keys.quotes: ">"}, count=1000
        )  # the consumer catches up
        await wait_alert(redis_client, keys, "consumer_lag:quotes:writer", "resolved")


async def test_no_ticks_in_market_hours_only(redis_client: aioredis.Redis) -> None:
    s = mon_settings(monitor_no_ticks_s=1.0)
    keys = Keys(s.redis.key_prefix)
    await redis_client.xadd(keys.ticks, {"d": b"{}"})
    async with running(MonitorService(s)):
        fired = await wait_alert(redis_client, keys, "no_ticks")
        assert fired["severity"] == "critical"
        await redis_client.xadd(keys.ticks, {"d": b"{}"})
        await wait_alert(redis_client, keys, "no_ticks", "resolved")
    # a Saturday: the same silence is not an alert
    closed = mon_settings(monitor_no_ticks_s=0.2, monitor_market_hours="exchange")
    saturday = datetime(2026, 11, 28, 11, 0, tzinfo=IST).timestamp()
    ticks_before = len(await redis_client.xrange(Keys(closed.redis.key_prefix).alerts))
    async with running(MonitorService(closed, market_clock=lambda: saturday)) as mon:
        await eventually(lambda: mon.evaluations >= 10, message="ten evaluations")
        assert not mon.snapshot or not mon.snapshot.market_open
        assert [c.rule for c in mon.conditions] == []
    assert len(await redis_client.xrange(Keys(closed.redis.key_prefix).alerts)) == ticks_before


async def test_one_instrument_silent_while_its_peers_tick(redis_client: aioredis.Redis) -> None:
    s = mon_settings(monitor_instrument_silent_s=1.0, monitor_no_ticks_s=3600)
    keys = Keys(s.redis.key_prefix)
    await redis_client.xadd(keys.ticks, {"d": b"{}"})
    await redis_client.hset(
        keys.universe,
        mapping={
            f"NSE_FNO:{i}": orjson.dumps({"seg": "NSE_FNO", "sid": i, "symbol": f"NIFTY-OPT-{i}"})
            for i in range(4)
        },
    )
    quiet: set[int] = set()
    stop = asyncio.Event()

    async def publish() -> None:
        while not stop.is_set():
            batch = [
                {"seg": "NSE_FNO", "sid": i, "ltp": 100.0 + i, "recv_ts": 0}
                for i in range(4)
                if i not in quiet
            ]
            await redis_client.publish(keys.quotes, orjson.dumps(batch))
            await asyncio.sleep(0.05)

    pub = asyncio.create_task(publish())
    try:
        async with running(MonitorService(s)) as mon:
            assert mon.watcher is not None
            await eventually(lambda: len(mon.watcher.seen) == 4, message="all four quoted")  # type: ignore[union-attr]
            quiet.add(2)
            fired = await wait_alert(redis_client, keys, "instrument_silent:NSE_FNO:2")
            assert "NIFTY-OPT-2" in fired["detail"] and "peers tick" in fired["detail"]
            others = [a for a in await alerts(redis_client, keys) if a["rule"] == "instrument_silent"]
            assert {a["key"] for a in others} == {"instrument_silent:NSE_FNO:2"}
            quiet.clear()
            await wait_alert(redis_client, keys, "instrument_silent:NSE_FNO:2", "resolved")
    finally:
        stop.set()
        await pub


async def test_mysql_down_and_alerts_survive_a_monitor_restart(redis_client: aioredis.Redis) -> None:
    from tests.conftest import free_port

    s = mon_settings(mysql_url=f"mysql://root@127.0.0.1:{free_port()}/nothing")
    keys = Keys(s.redis.key_prefix)
    async with running(MonitorService(s)):
        fired = await wait_alert(redis_client, keys, "mysql_down")
        assert "not reachable" in fired["detail"]
    # a new monitor resumes the active alert without firing it again, and resolves it when MySQL answers
    async with running(MonitorService(s)) as mon:
        await eventually(lambda: mon.evaluations >= 5, message="evaluations")
        assert len([a for a in await alerts(redis_client, keys) if a["key"] == "mysql_down"]) == 1
    good = s.replaced(mysql_url=make_settings().mysql.url)
    async with running(MonitorService(good)):
        await wait_alert(redis_client, keys, "mysql_down", "resolved")
