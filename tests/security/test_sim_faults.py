"""The simulator's fault injection cannot be used by a web page or a stray request: off unless enabled, the sim
token when on, foreign ``Origin`` refused on every path (the WebSocket included). In-process checks of each
rule, then the real ``dhan sim`` + ``dhan feed`` processes: a page's ``expire`` no longer ends the feed."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from feed.sim.server import SimServer
from shared.errors import ConfigError
from tests.conftest import eventually, free_port, make_settings, track_prefix

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "sim-fault-token-" + "7f3a9c" * 4
EVIL = "http://evil.example"
WS_QUERY = "?version=2&token={token}&clientId=1100000001&authType=2"


@asynccontextmanager
async def running(**overrides: Any) -> AsyncIterator[tuple[SimServer, aiohttp.ClientSession]]:
    sim = SimServer(make_settings(sim_rate=200.0, **overrides))
    async with sim, aiohttp.ClientSession() as http:
        yield sim, http


async def _post_fault(http: aiohttp.ClientSession, sim: SimServer, headers: dict[str, str] | None = None,
                      **query: str) -> tuple[int, dict[str, Any]]:
    async with http.post(sim.http_url + "/fault", params=query, headers=headers or {}) as resp:
        return resp.status, await resp.json()


async def _ws(http: aiohttp.ClientSession, sim: SimServer, token: str) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(sim.url + WS_QUERY.format(token=token))
    await eventually(lambda: sim.stats()["connections"] >= 1, message="client connected")
    return ws


async def test_fault_injection_is_off_by_default_even_with_the_token() -> None:
    for overrides in ({}, {"sim_token": TOKEN}):
        async with running(**overrides) as (sim, http):
            ws = await _ws(http, sim, TOKEN)
            status, body = await _post_fault(http, sim, kind="expire", token=TOKEN)
            assert status == 403 and "--faults" in body["error"], body
            stats = sim.stats()
            assert stats["tokens_expired"] is False and stats["connections"] == 1 and stats["faults_refused"] == 1
            assert not ws.closed
            await ws.close()


async def test_faults_on_need_the_sim_token() -> None:
    async with running(sim_token=TOKEN, sim_faults=True) as (sim, http):
        ws = await _ws(http, sim, TOKEN)
        for query in ({}, {"token": "wrong"}, {"token": TOKEN[:-1]}):
            status, body = await _post_fault(http, sim, kind="expire", **query)
            assert status == 403 and "token required" in body["error"], (query, body)
        assert sim.stats()["tokens_expired"] is False and sim.stats()["faults_refused"] == 3
        status, body = await _post_fault(http, sim, kind="expire", token=TOKEN)
        assert status == 200 and body == {"kind": "expire", "connections": 1}
        msg = await ws.receive(timeout=10)
        assert msg.type == aiohttp.WSMsgType.BINARY and msg.data[0] == 50  # the disconnect packet (807)
        assert sim.stats()["tokens_expired"] is True
        await ws.close()


def test_faults_without_a_token_refuse_to_start() -> None:
    with pytest.raises(ConfigError, match="DHAN_SIM_TOKEN"):
        SimServer(make_settings(sim_faults=True))


async def test_a_foreign_origin_is_refused_on_every_path() -> None:
    async with running(sim_token=TOKEN, sim_faults=True) as (sim, http):
        ws = await _ws(http, sim, TOKEN)
        for origin in (EVIL, "null", f"http://127.0.0.1:{sim.port + 1}", f"https://127.0.0.1:{sim.port}"):
            status, body = await _post_fault(http, sim, {"Origin": origin}, kind="expire", token=TOKEN)
            assert status == 403 and "origin" in body["error"], (origin, body)
        assert sim.stats()["tokens_expired"] is False
        async with http.get(sim.http_url + "/health", headers={"Origin": EVIL}) as resp:
            assert resp.status == 403
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:  # a page cannot take the feed's slots
            await http.ws_connect(sim.url + WS_QUERY.format(token=TOKEN), headers={"Origin": EVIL})
        assert refused.value.status == 403
        assert sim.stats()["connections"] == 1 and sim.stats()["foreign_origin_refused"] == 6
        # the simulator's own origin (and no Origin, as programs send) are accepted
        for headers in ({"Origin": f"http://127.0.0.1:{sim.port}"}, {"Origin": f"http://localhost:{sim.port}"}):
            status, body = await _post_fault(http, sim, headers, kind="malformed", token=TOKEN)
            assert status == 200, body
        await ws.close()


# --- the real processes ---
def _env(port: int, tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAN_")}
    env.update({"DHAN_SIM_PORT": str(port), "DHAN_KEY_PREFIX": track_prefix(f"tfault{port}:"),
                "DHAN_LOG_FORMAT": "json", "PYTHONPATH": str(ROOT), "DHAN_NIFTY_STRIKES": "1",
                "DHAN_BANKNIFTY_STRIKES": "1", "DHAN_INCLUDE_NIFTY50": "false", "DHAN_SPOOL_DIR": str(tmp / "spool"),
                "DHAN_JOURNAL_DIR": str(tmp / "journal"),
                # the main feed's one socket is what these tests count: no 20-level depth socket beside it
                "DHAN_DEPTH20_ENABLED": "false", **extra})
    return env


async def _health(http: aiohttp.ClientSession, port: int) -> dict[str, Any]:
    try:
        async with http.get(f"http://127.0.0.1:{port}/health") as resp:
            return dict(await resp.json())
    except aiohttp.ClientError:
        return {}


async def _spawn(*args: str, env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "shared.cli", *args, env=env, cwd=cwd,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


async def _stop(*procs: asyncio.subprocess.Process) -> None:
    for p in procs:
        if p.returncode is None:
            p.terminate()
    for p in procs:
        try:
            await asyncio.wait_for(p.wait(), 15)
        except TimeoutError:
            p.kill()
            await p.wait()


async def test_a_page_cannot_end_the_feed_of_a_real_stack(tmp_path: Path) -> None:
    """``dhan sim`` as started by ``dhan up`` (no flags) and ``dhan feed``: ``POST /fault?kind=expire`` from a
    page (foreign Origin) and from a program without the flag are refused; the feed keeps its connection."""
    port = free_port()
    env = _env(port, tmp_path)
    sim = await _spawn("sim", env=env, cwd=tmp_path)
    feed: asyncio.subprocess.Process | None = None
    try:
        async with aiohttp.ClientSession() as http:
            await eventually(lambda: _health_up(http, port), timeout_s=60, message="sim up")
            feed = await _spawn("feed", env=env, cwd=tmp_path)
            await eventually(lambda: _connections(http, port, 1), timeout_s=60, message="feed connected")
            url = f"http://127.0.0.1:{port}/fault"
            for headers in ({"Origin": EVIL}, {}):
                async with http.post(url, params={"kind": "expire"}, headers=headers) as resp:
                    assert resp.status == 403, await resp.text()
            sent = (await _health(http, port))["sent"]

            async def more_sent() -> bool:
                return (await _health(http, port)).get("sent", 0) > sent + 20

            await eventually(more_sent, timeout_s=30, message="the feed still served")
            health = await _health(http, port)
            assert health["tokens_expired"] is False and health["connections"] == 1
            assert health["faults_refused"] == 1 and health["foreign_origin_refused"] == 1
            assert feed.returncode is None
    finally:
        await _stop(*(p for p in (feed, sim) if p is not None))
    assert sim.returncode == 0


async def _connections(http: aiohttp.ClientSession, port: int, n: int) -> bool:
    return (await _health(http, port)).get("connections", -1) >= n


async def test_dhan_sim_faults_flag_and_token(tmp_path: Path) -> None:
    port = free_port()
    refused = await _spawn("sim", "--faults", "--duration", "5", env=_env(port, tmp_path), cwd=tmp_path)
    assert refused.stderr is not None
    err = (await asyncio.wait_for(refused.stderr.read(), 60)).decode()
    assert await refused.wait() == 2
    assert err.strip().count("\n") == 0 and "DHAN_SIM_TOKEN" in err and "Traceback" not in err

    sim = await _spawn("sim", "--faults", env=_env(port, tmp_path, DHAN_SIM_TOKEN=TOKEN), cwd=tmp_path)
    try:
        async with aiohttp.ClientSession() as http:
            await eventually(lambda: _health_up(http, port), timeout_s=60, message="sim up")
            url = f"http://127.0.0.1:{port}/fault"
            async with http.post(url, params={"kind": "expire"}) as resp:
                assert resp.status == 403
            async with http.post(url, params={"kind": "expire", "token": TOKEN}) as resp:
                assert resp.status == 200, await resp.text()
            assert (await _health(http, port))["tokens_expired"] is True
    finally:
        await _stop(sim)


async def _health_up(http: aiohttp.ClientSession, port: int) -> bool:
    return bool(await _health(http, port))
