"""``dhan sim`` as a service: heartbeat with its metrics in Redis, clean stop, command-line overrides."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis

from feed.protocol.requests import build_requests
from feed.sim.cli import SimService, add_arguments, apply_overrides
from shared.errors import ConfigError
from shared.keys import Keys
from shared.settings import Settings
from tests.conftest import eventually, make_settings, track_prefix

ROOT = Path(__file__).resolve().parents[2]


async def test_service_heartbeats_metrics_and_stops_cleanly(
    settings: Settings, redis_client: aioredis.Redis
) -> None:
    service = SimService(settings.replaced(sim_rate=500.0))
    task = asyncio.create_task(service.serve())
    key = Keys(settings.redis.key_prefix).svc("sim")

    async def heartbeat() -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in (await redis_client.hgetall(key)).items()}

    async def beating() -> bool:
        return (await heartbeat()).get("url") == f"ws://127.0.0.1:{settings.sim.port}/"

    await eventually(beating, message="no heartbeat")
    async with aiohttp.ClientSession() as http, http.ws_connect(
        f"{service.server.url}?version=2&token=t&clientId=1&authType=2"
    ) as ws:
        await ws.send_str(build_requests([("IDX_I", 13), ("NSE_EQ", 2885)], "quote")[0])

        async def busy() -> bool:
            hb = await heartbeat()
            return hb.get("connections") == "1" and hb.get("subscribed") == "2" and float(
                hb.get("packets_per_s") or 0) > 0

        await eventually(busy, message="heartbeat shows no traffic")
        service.stop("test")
        msg = await ws.receive(timeout=10)
        while msg.type == aiohttp.WSMsgType.BINARY:
            msg = await ws.receive(timeout=10)
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1001, "told: server going away"
    assert await asyncio.wait_for(task, 15) == 0
    assert (await heartbeat())["state"] == "stopped"


async def test_the_update_loop_ending_stops_the_simulator_loudly(settings: Settings,
                                                                 redis_client: aioredis.Redis) -> None:
    service = SimService(settings)
    task = asyncio.create_task(service.serve())
    await eventually(lambda: service.state == "running" and service.server.emitter is not None)
    assert service.server.emitter is not None
    service.server.emitter.cancel()  # nothing sends any more: the simulator must not stay up looking healthy
    assert await asyncio.wait_for(task, 15) == 1
    assert service.failed_task == "sim.emitter"
    hb = await redis_client.hgetall(Keys(settings.redis.key_prefix).svc("sim"))
    assert hb[b"state"] == b"crashed" and hb[b"failed_task"] == b"sim.emitter"


def test_overrides_from_the_command_line() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--port", "0", "--seed", "9", "--rate", "25000", "--host", "127.0.0.2"])
    s = apply_overrides(args, make_settings())
    assert (s.sim.port, s.sim.seed, s.sim.rate, s.sim.host) == (0, 9, 25000.0, "127.0.0.2")
    with pytest.raises(ConfigError, match="--rate"):
        apply_overrides(parser.parse_args(["--rate", "-1"]), make_settings())
    unchanged = apply_overrides(parser.parse_args([]), make_settings(sim_seed=3))
    assert unchanged.sim.seed == 3 and unchanged.sim.faults is False
    assert apply_overrides(parser.parse_args(["--faults"]), make_settings()).sim.faults is True


def test_market_hours_and_live_rate_on_the_command_line() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    default = apply_overrides(parser.parse_args([]), make_settings())
    assert default.sim.market_hours is False and default.sim.rate == 0.0, "always open, live-session activity"
    s = apply_overrides(parser.parse_args(["--market-hours", "--rate", "0"]), make_settings())
    assert s.sim.market_hours is True and s.sim.rate == 0.0
    text = " ".join(parser.format_help().split())
    assert "--market-hours" in text and "always open, for demos" in text and "live F&O session" in text


def test_dhan_sim_runs_for_its_duration(tmp_path: Path) -> None:
    prefix = track_prefix(f"tsim{os.getpid()}:")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAN_")}
    env.update({"DHAN_KEY_PREFIX": prefix, "PYTHONPATH": str(ROOT), "DHAN_LOG_FORMAT": "json"})
    proc = subprocess.run(
        [sys.executable, "-m", "shared.cli", "sim", "--port", "0", "--duration", "0.5"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    events = [orjson.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    listening = next(e for e in events if e["event"] == "sim_listening")
    assert listening["url"].startswith("ws://127.0.0.1:") and listening["instruments"] > 2000
    assert events[-1]["event"] == "stopped" and events[-1]["error"] is None
    import redis

    r = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        for k in r.scan_iter(match=f"{prefix}*"):
            r.delete(k)
    finally:
        r.close()


def test_a_port_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("DHAN_")}
        env.update({"DHAN_KEY_PREFIX": track_prefix(f"tsim{os.getpid()}b:"), "PYTHONPATH": str(ROOT),
                    "DHAN_LOG_FORMAT": "json"})
        proc = subprocess.run(
            [sys.executable, "-m", "shared.cli", "sim", "--port", str(port), "--duration", "5"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "cannot listen" in proc.stderr
