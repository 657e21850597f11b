"""The scheduler on a moved clock: real child processes in supervise mode, dhan:control in control mode."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from control.scheduler.service import SchedulerService
from shared.clock import IST
from shared.keys import Keys
from shared.settings import Settings
from tests.conftest import eventually, make_settings


class Clock:
    def __init__(self, when: datetime) -> None:
        self.t = when.timestamp()

    def set(self, when: datetime) -> None:
        self.t = when.timestamp()

    def __call__(self) -> float:
        return self.t


def ist(d: int, h: int, m: int) -> datetime:
    return datetime(2026, 11, d, h, m, tzinfo=IST)


@asynccontextmanager
async def running(svc: SchedulerService) -> AsyncIterator[SchedulerService]:
    task = asyncio.create_task(svc.serve())
    await eventually(lambda: svc.plan is not None or task.done(), message="scheduler evaluating")
    try:
        yield svc
    finally:
        svc.stop("test")
        assert await asyncio.wait_for(task, 30) == 0


async def test_supervise_mode_starts_and_stops_real_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_client: aioredis.Redis
) -> None:
    s = make_settings(scheduler_services="monitor", scheduler_mode="supervise", scheduler_stop_after_s=300)
    for k, v in {
        "DHAN_KEY_PREFIX": s.redis.key_prefix,
        "DHAN_HEARTBEAT_INTERVAL_S": "0.2",
        "DHAN_HEALTH_PORT_BASE": "0",
        "DHAN_REDIS_URL": s.redis.url.get_secret_value(),
    }.items():
        monkeypatch.setenv(k, v)
    keys = Keys(s.redis.key_prefix)
    clock = Clock(ist(25, 8, 54))  # a Wednesday, one minute before 08:55

    async def child_state() -> str:
        return (await redis_client.hget(keys.svc("monitor"), "state") or b"").decode()

    def child_is(state: str) -> Any:
        async def check() -> bool:
            return await child_state() == state

        return check

    async with running(SchedulerService(s, clock=clock, tick_s=0.05, log_dir=tmp_path)) as sch:
        hb = sch.metrics()
        assert hb["plan_running"] is False and hb["next_start_ist"] == "2026-11-25 08:55 IST"
        assert hb["next_stop_ist"] == "2026-11-25 15:35 IST" and hb["child_monitor"] == "stopped"
        assert await child_state() == ""
        clock.set(ist(25, 8, 55))
        await eventually(lambda: sch.metrics()["plan_running"] is True, message="window open")
        await eventually(child_is("running"), timeout_s=30, message="monitor child running")
        clock.set(ist(25, 15, 35))
        await eventually(child_is("stopped"), timeout_s=30, message="monitor child stopped")
        assert sch.metrics()["next_start_ist"] == "2026-11-26 08:55 IST"
        assert sch.supervisor is not None
        child = sch.supervisor.children["monitor"]
        await eventually(lambda: child.state == "stopped" and child.pid is None, message="child reaped")
        assert sch.actions == 2


async def test_control_mode_publishes_commands_and_market_status(redis_client: aioredis.Redis) -> None:
    s = make_settings(scheduler_services="feed,writer", scheduler_mode="control")
    keys = Keys(s.redis.key_prefix)
    clock = Clock(ist(27, 15, 0))  # Friday, NSE open
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(keys.control, keys.market)
    got: list[tuple[str, dict[str, Any]]] = []

    async def drain() -> None:
        while (msg := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)) is not None:
            got.append((msg["channel"].decode(), orjson.loads(msg["data"])))

    async def has(channel: str, **match: Any) -> bool:
        await drain()
        return any(ch == channel and all(m.get(k) == v for k, v in match.items()) for ch, m in got)

    try:
        async with running(SchedulerService(s, clock=clock, tick_s=0.05)):
            await eventually(lambda: has(keys.control, target="feed", cmd="start"), message="start feed")
            await eventually(lambda: has(keys.control, target="writer", cmd="start"), message="start writer")
            await eventually(lambda: has(keys.market, exchange="NSE", status="open"), message="NSE open")
            clock.set(ist(27, 15, 30))
            await eventually(
                lambda: has(keys.market, exchange="NSE", status="closed", previous="open"),
                message="NSE closed published",
            )
            clock.set(ist(27, 15, 35))
            await eventually(lambda: has(keys.control, target="writer", cmd="stop"), message="stop writer")
            status = orjson.loads(await redis_client.hget(keys.market, "NSE"))
            assert status["status"] == "closed" and status["reason"] == "after close"
            assert status["next_change"].startswith("2026-11-30T09:00")  # Monday's pre-open
            starts = [m for ch, m in got if ch == keys.control and m["cmd"] == "start"]
            assert len(starts) == 2  # once per service, not every tick
    finally:
        await pubsub.aclose()


async def test_stuck_children_are_stopped_with_the_scheduler(tmp_path: Path) -> None:
    s: Settings = make_settings(scheduler_services="", scheduler_mode="supervise")
    from shared.errors import ConfigError

    with pytest.raises(ConfigError):
        await SchedulerService(s, log_dir=tmp_path).serve()


async def test_a_child_whose_supervision_dies_stops_the_scheduler_loudly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_client: aioredis.Redis
) -> None:
    s = make_settings(scheduler_services="monitor", scheduler_mode="supervise")
    # the child cannot reach Redis: it exits 4 at once and the supervisor restarts it after a backoff
    monkeypatch.setenv("DHAN_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("DHAN_HEALTH_PORT_BASE", "0")
    sch = SchedulerService(s, clock=Clock(ist(25, 10, 0)), tick_s=0.05, log_dir=tmp_path)
    task = asyncio.create_task(sch.serve())
    await eventually(lambda: sch.supervisor is not None and sch.supervisor.children["monitor"].state == "crashed",
                     timeout_s=30, message="the child crashed once")
    # the restart cannot open the child's log: the watcher task dies (before: silently, the child never back)
    log_file = tmp_path / "monitor.log"
    log_file.unlink()
    log_file.mkdir()
    assert await asyncio.wait_for(task, 30) == 1
    assert sch.failed_task == "scheduler.watch.monitor" and "IsADirectoryError" in sch.failure
    child = sch.supervisor.children["monitor"]
    assert child.state in ("crashed", "stopped") and "supervision failed" in child.last_error
    hb = await redis_client.hgetall(sch.keys.svc("scheduler"))
    assert hb[b"state"] == b"crashed" and hb[b"failed_task"] == b"scheduler.watch.monitor"


@pytest.mark.parametrize(("when", "warning"), [
    (datetime(2026, 12, 31, 23, 59, tzinfo=IST), ""),
    (datetime(2027, 1, 1, 0, 1, tzinfo=IST), "no holiday list for 2027"),  # still 2026 in UTC
], ids=["23:59 IST 31 Dec", "00:01 IST 1 Jan"])
async def test_the_missing_holiday_list_is_the_ist_years(when: datetime, warning: str) -> None:
    s = make_settings(scheduler_services="feed,writer", scheduler_mode="control")
    sch = SchedulerService(s, clock=Clock(when))
    await sch.setup()
    assert sch.metrics()["calendar_warning"] == warning
