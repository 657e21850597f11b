"""Inputs from the network are bounded: a WebSocket message larger than the feed's limit (1 MiB) never reaches
the decoder; the connection is dropped and re-made. (The decoder's own MAX_FRAME_BYTES cap is tested in
tests/feed/test_protocol.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from feed.connection import DhanConnection
from feed.protocol.encode import pack_ticker
from feed.subscriptions import ShardPlan
from tests.conftest import eventually, free_port, make_settings

LIMIT_BYTES = 1 << 20


@dataclass
class HugeServer:
    port: int
    connections: int = 0
    sent: list[int] = field(default_factory=list)


@pytest.fixture
async def huge_server() -> AsyncIterator[HugeServer]:
    server = HugeServer(port=free_port())

    async def handler(request: web.Request) -> web.WebSocketResponse:
        server.connections += 1
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        huge = b"\x02" * (2 * LIMIT_BYTES)
        small = _small_packet()
        await ws.send_bytes(huge)
        server.sent.append(len(huge))
        await ws.send_bytes(small)
        server.sent.append(len(small))
        async for _ in ws:  # until the client goes
            pass
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", server.port).start()
    try:
        yield server
    finally:
        await runner.cleanup()


def _small_packet() -> bytes:
    return pack_ticker(2, 13, 100.0, 1_795_600_000)


async def test_oversized_message_never_reaches_the_decoder(huge_server: HugeServer) -> None:
    settings = make_settings(feed_url=f"ws://127.0.0.1:{huge_server.port}/", reconnect_base_s=0.05,
                             reconnect_cap_s=0.2)
    frames: list[int] = []
    conn = DhanConnection(0, settings, ShardPlan(), lambda data, ts: frames.append(len(data)))
    stopping = asyncio.Event()
    with capture_logs() as logs:
        task = asyncio.create_task(conn.run(stopping))
        try:
            await eventually(lambda: huge_server.connections >= 2, timeout_s=60, message="reconnected")
            await eventually(lambda: any(e["event"] == "disconnected" for e in logs), timeout_s=60,
                             message="disconnect logged")
        finally:
            stopping.set()
            await asyncio.wait_for(task, 30)
    assert huge_server.sent and max(huge_server.sent) > LIMIT_BYTES  # the server did send the huge message
    assert all(n <= LIMIT_BYTES for n in frames), frames
    # every connection the huge message reached ended in an error; the one the stop may catch still open
    # (the server's next huge message not yet sent) ends as "shutdown"
    causes = [str(e.get("cause")) for e in logs if e["event"] == "disconnected"]
    ended = causes[:-1] if causes[-1:] == ["shutdown"] else causes
    assert ended and all(c.startswith("error") for c in ended), causes
