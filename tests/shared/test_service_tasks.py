"""Owned tasks (shared.service): a task that dies shows in the log, /health and the heartbeat, the service
still tears down, and the exit code is non-zero."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from structlog.testing import capture_logs

from shared.service import Service
from shared.settings import Settings
from tests.conftest import eventually


class _Probe(Service):
    """A service with one background routine the test can break, and a teardown it can hold."""

    name = "monitor"  # a name with a /health port offset

    def __init__(self, settings: Settings, **kw: Any) -> None:
        super().__init__(settings, **kw)
        self.break_routine = asyncio.Event()
        self.hold_teardown = asyncio.Event()
        self.in_teardown = asyncio.Event()
        self.teardown_error: Exception | None = None
        self.routine: asyncio.Task[None] | None = None
        self.torn_down = False

    async def _routine(self) -> None:
        await self.break_routine.wait()
        raise IndexError("bad kind byte 7")

    async def run(self) -> None:
        self.routine = self.spawn(self._routine(), "worker")
        await self.stopping.wait()

    async def teardown(self) -> None:
        self.in_teardown.set()
        await self.hold_teardown.wait()
        self.torn_down = True
        if self.teardown_error is not None:
            raise self.teardown_error


async def _health(port: int) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/health") as r:
        return r.status, await r.json()


async def test_a_dead_task_fails_the_service_loudly(settings: Settings, redis_client: aioredis.Redis) -> None:
    svc = _Probe(settings)
    svc.health_port = 0
    with capture_logs() as logs:
        serving = asyncio.create_task(svc.serve())
        await eventually(lambda: svc.state == "running" and svc.health is not None and svc.heartbeat_ok_at > 0)
        assert svc.health is not None
        port = svc.health.port
        assert (await _health(port))[0] == 200
        svc.break_routine.set()
        await svc.in_teardown.wait()
        # while it is still tearing down: /health names the dead task, the heartbeat already says crashed
        status, body = await _health(port)
        assert status == 503 and not body["healthy"]
        assert body["failed_task"] == "monitor.worker"
        assert "monitor.worker" in body["reason"] and "IndexError: bad kind byte 7" in body["reason"]
        hb = await redis_client.hgetall(svc.keys.svc("monitor"))
        assert hb[b"state"] == b"crashed" and hb[b"failed_task"] == b"monitor.worker"
        assert b"monitor.worker" in hb[b"error"] and b"bad kind byte 7" in hb[b"error"]
        svc.hold_teardown.set()
        code = await asyncio.wait_for(serving, 10)
    assert code == 1 and svc.torn_down
    failed = [e for e in logs if e["event"] == "task_failed"]
    assert failed and failed[0]["task"] == "monitor.worker" and failed[0]["log_level"] == "error"
    hb = await redis_client.hgetall(svc.keys.svc("monitor"))
    assert hb[b"state"] == b"crashed" and hb[b"failed_task"] == b"monitor.worker"


async def test_a_task_cancelled_while_running_fails_the_service(settings: Settings) -> None:
    svc = _Probe(settings)
    svc.hold_teardown.set()
    serving = asyncio.create_task(svc.serve())
    await eventually(lambda: svc.routine is not None and svc.state == "running")
    assert svc.routine is not None
    svc.routine.cancel()  # nothing does its work any more: that is a death, not a quiet end
    assert await asyncio.wait_for(serving, 10) == 1
    assert svc.failed_task == "monitor.worker" and "was cancelled" in svc.failure


async def test_a_clean_stop_cancels_tasks_quietly(settings: Settings) -> None:
    svc = _Probe(settings)
    svc.hold_teardown.set()
    with capture_logs() as logs:
        serving = asyncio.create_task(svc.serve())
        await eventually(lambda: svc.routine is not None and svc.state == "running")
        svc.stop("test")
        assert await asyncio.wait_for(serving, 10) == 0
    assert svc.failure == "" and svc.state == "stopped"
    assert not [e for e in logs if e["log_level"] in ("warning", "error")]


async def test_a_failing_teardown_still_leaves_the_last_heartbeat(settings: Settings,
                                                                  redis_client: aioredis.Redis) -> None:
    svc = _Probe(settings)
    svc.hold_teardown.set()
    svc.teardown_error = OSError(28, "No space left on device")
    serving = asyncio.create_task(svc.serve())
    await eventually(lambda: svc.state == "running")
    svc.stop("test")
    assert await asyncio.wait_for(serving, 10) == 1
    hb = await redis_client.hgetall(svc.keys.svc("monitor"))
    assert hb[b"state"] == b"crashed" and b"No space left on device" in hb[b"error"]


class _Drainer(Service):
    """A task spawned with ``cancel_at_stop=False`` outlives the other tasks until ``teardown`` ends it."""

    name = "drainer"

    def __init__(self, settings: Settings, *, end_in_teardown: bool) -> None:
        super().__init__(settings)
        self.end_in_teardown = end_in_teardown
        self.done_draining = asyncio.Event()
        self.alive_in_teardown: bool | None = None
        self.drainer: asyncio.Task[None] | None = None

    async def _drain(self) -> None:
        await self.done_draining.wait()

    async def run(self) -> None:
        self.drainer = self.spawn(self._drain(), "drain", cancel_at_stop=False)
        await self.stopping.wait()

    async def teardown(self) -> None:
        assert self.drainer is not None
        self.alive_in_teardown = not self.drainer.done()
        if self.end_in_teardown:
            self.done_draining.set()
            await self.drainer


async def test_a_draining_task_lives_until_teardown(settings: Settings) -> None:
    for end_in_teardown in (True, False):
        svc = _Drainer(settings, end_in_teardown=end_in_teardown)
        serving = asyncio.create_task(svc.serve())
        await eventually(lambda s=svc: s.drainer is not None)  # type: ignore[misc]
        svc.stop("test")
        assert await asyncio.wait_for(serving, 10) == 0
        assert svc.alive_in_teardown is True
        assert svc.drainer is not None and svc.drainer.done()  # cancelled after teardown when it did not end


async def test_an_adopted_task_is_owned(settings: Settings) -> None:
    svc = Service(settings)

    async def emitter() -> None:
        raise ValueError("emitter broke")

    async def adopt_later() -> None:
        await eventually(lambda: svc.state == "running")
        svc.adopt(asyncio.create_task(emitter(), name="sim.emitter"))

    helper = asyncio.create_task(adopt_later())
    assert await asyncio.wait_for(svc.serve(), 10) == 1
    await helper
    assert svc.failed_task == "sim.emitter" and "emitter broke" in svc.failure


class _Listening(Service):
    """Records, when its main loop starts (the moment it says ``running``), how many listen to dhan:control."""

    name = "monitor"
    listeners_at_run: int | None = None

    async def run(self) -> None:
        assert self.redis is not None
        ((_, count),) = await self.redis.pubsub_numsub(self.keys.control)
        self.listeners_at_run = int(count)
        await self.stopping.wait()


async def test_a_running_service_already_listens_to_control(settings: Settings,
                                                            redis_client: aioredis.Redis) -> None:
    """A stop published the moment a service is seen running is heard (a supervisor or the scheduler may
    send it at once): the control subscription is in place before ``running``."""
    svc = _Listening(settings)
    task = asyncio.create_task(svc.serve())
    await eventually(lambda: svc.listeners_at_run is not None, message="main loop started")
    assert svc.listeners_at_run == 1
    await redis_client.publish(svc.keys.control, b'{"target": "monitor", "cmd": "stop"}')
    assert await asyncio.wait_for(task, 10) == 0
