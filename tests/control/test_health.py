"""shared.health on a real service: /health and /metrics over HTTP, the heartbeat's step and crashed state."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from shared.health import PORT_OFFSETS, health_port
from shared.service import Service
from shared.settings import Settings
from tests.conftest import eventually


class _Probe(Service):
    name = "monitor"  # a name with a port offset

    def __init__(self, settings: Settings, **kw: Any) -> None:
        super().__init__(settings, **kw)
        self.release_setup = asyncio.Event()
        self.fail_in_run = False
        self.count = 0

    async def setup(self) -> None:
        self.step = "waiting for the test"
        await self.release_setup.wait()

    async def run(self) -> None:
        while not self.stopping.is_set():
            self.count += 1
            if self.fail_in_run:
                raise RuntimeError("boom in run")
            await asyncio.sleep(0.01)

    def metrics(self) -> dict[str, Any]:
        return {"count": self.count, "rate_per_s": 12.5, "label": "text", "flag": True}


def test_health_port_offsets() -> None:
    assert health_port("feed", 9300) == 9300 + PORT_OFFSETS["feed"]
    assert health_port("feed", 0) is None
    assert health_port("not-a-service", 9300) is None
    assert len(set(PORT_OFFSETS.values())) == len(PORT_OFFSETS)


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return r.status, await r.text()


async def test_health_and_metrics_follow_the_service(settings: Settings,
                                                     redis_client: aioredis.Redis) -> None:
    svc = _Probe(settings)
    svc.health_port = 0  # a free port
    task = asyncio.create_task(svc.serve())
    await eventually(lambda: svc.health is not None and svc.heartbeat_ok_at > 0, message="health up")
    assert svc.health is not None
    base = f"http://127.0.0.1:{svc.health.port}"
    # stuck in setup: heartbeat says starting + the step; /health is 503 with the reason
    async def stuck_visible() -> bool:
        hb = await redis_client.hgetall(svc.keys.svc("monitor"))
        return hb.get(b"step") == b"waiting for the test"

    await eventually(stuck_visible, message="step in heartbeat")
    hb = await redis_client.hgetall(svc.keys.svc("monitor"))
    assert hb[b"state"] == b"starting"
    assert b"count" not in hb  # metrics join after setup
    status, body = await _get(f"{base}/health")
    assert status == 503 and "waiting for the test" in body
    svc.release_setup.set()

    async def healthy() -> bool:
        return (await _get(f"{base}/health"))[0] == 200

    await eventually(healthy, message="healthy after setup")
    await eventually(lambda: "count" in svc.last_heartbeat, message="metrics in heartbeat")
    status, text = await _get(f"{base}/metrics")
    assert status == 200
    assert 'dhan_up{instance="monitor",service="monitor"} 1.0' in text
    assert 'dhan_rate_per_s{instance="monitor",service="monitor"} 12.5' in text
    assert "dhan_count{" in text and "dhan_label" not in text
    assert 'state="running"' in text
    svc.stop("test")
    assert await task == 0
    hb = await redis_client.hgetall(svc.keys.svc("monitor"))
    assert hb[b"state"] == b"stopped"
    with pytest.raises(aiohttp.ClientConnectionError):
        await _get(f"{base}/health")


async def test_failure_leaves_a_crashed_heartbeat(settings: Settings, redis_client: aioredis.Redis) -> None:
    svc = _Probe(settings)
    svc.release_setup.set()
    svc.fail_in_run = True
    assert await svc.serve() == 1
    hb = await redis_client.hgetall(svc.keys.svc("monitor"))
    assert hb[b"state"] == b"crashed" and b"boom in run" in hb[b"error"]


async def test_setup_failure_is_crashed_too(settings: Settings, redis_client: aioredis.Redis) -> None:
    class _Bad(_Probe):
        async def setup(self) -> None:
            self.step = "loading"
            raise OSError("disk gone")

    with pytest.raises(OSError):
        await _Bad(settings).serve()
    hb = await redis_client.hgetall(Service(settings).keys.svc("monitor"))
    assert hb[b"state"] == b"crashed" and hb[b"step"] == b"loading" and b"disk gone" in hb[b"error"]


async def test_port_in_use_is_not_fatal(settings: Settings, redis_client: aioredis.Redis) -> None:
    first = _Probe(settings)
    first.health_port = 0
    first.release_setup.set()
    t1 = asyncio.create_task(first.serve())
    await eventually(lambda: first.health is not None, message="first bound")
    assert first.health is not None
    second = _Probe(settings, instance="monitor-2")
    second.health_port = first.health.port
    second.release_setup.set()
    t2 = asyncio.create_task(second.serve())
    await eventually(lambda: second.state == "running", message="second runs without endpoints")
    assert second.health is None
    first.stop()
    second.stop()
    assert await t1 == 0 and await t2 == 0
