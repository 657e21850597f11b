"""docker/healthcheck.py (dhan-healthcheck in the images) against a real service's /health: 503, 200, gone."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import redis.asyncio as aioredis

from shared.service import Service
from shared.settings import Settings
from tests.conftest import eventually
from tests.deploy.deployfiles import ROOT

SCRIPT = ROOT / "docker" / "healthcheck.py"


class _Gated(Service):
    name = "feed"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.release = asyncio.Event()

    async def setup(self) -> None:
        self.step = "loading instruments"
        await self.release.wait()

    def metrics(self) -> dict[str, Any]:
        return {}


async def _check(url: str) -> tuple[int, str]:
    # -I: the image runs it with no site-packages of ours; the standard library must do.
    proc = await asyncio.create_subprocess_exec(sys.executable, "-I", str(SCRIPT), url,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert not err, err
    return proc.returncode or 0, out.decode().strip()


async def test_exit_code_and_line_follow_the_service(settings: Settings, redis_client: aioredis.Redis) -> None:
    svc = _Gated(settings)
    svc.health_port = 0  # a free port
    task = asyncio.create_task(svc.serve())
    await eventually(lambda: svc.health is not None and svc.heartbeat_ok_at > 0, message="endpoint up")
    assert svc.health is not None
    url = f"http://127.0.0.1:{svc.health.port}/health"

    code, line = await _check(url)
    assert code == 1 and line == "503 starting: state starting (loading instruments)", line

    svc.release.set()
    await eventually(lambda: svc.state == "running", message="running")

    async def healthy() -> bool:
        return (await _check(url))[0] == 0

    await eventually(healthy, message="healthcheck passes")
    assert (await _check(url))[1] == "200 running"

    svc.stop("test")
    assert await task == 0
    code, line = await _check(url)
    assert code == 1 and line.startswith("unreachable:"), line


async def test_usage_error() -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-I", str(SCRIPT),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    assert proc.returncode == 2 and b"usage: dhan-healthcheck" in err
