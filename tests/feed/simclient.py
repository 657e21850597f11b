"""A test client of the simulator over a real WebSocket, and the helpers its tests share.

The simulated clock is a manual one: the market moves only when a test advances it, so every test knows
exactly when packets are produced and reads exactly what was sent (no fixed sleeps, no timing asserts).
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import aiohttp

from feed.protocol.constants import SEGMENT_BY_CODE, SEGMENT_BY_NAME
from feed.protocol.decode import Decoder, Packet, packet_as_dict
from feed.protocol.depth import DepthDecoder, DepthPacket
from feed.sim.book import KIND_OPTION
from feed.sim.server import SimServer
from shared.clock import IST
from tests.conftest import eventually, make_settings

T0 = datetime(2026, 7, 15, 11, 0, tzinfo=IST).timestamp()


class ManualClock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def query(token: str = "tok", client_id: str | None = "1100000001", feed: str = "main") -> str:
    q = f"?token={token}&authType=2" if feed != "main" else f"?version=2&token={token}&authType=2"
    return q + (f"&clientId={client_id}" if client_id is not None else "")


def feed_url(sim: SimServer, feed: str) -> str:
    return sim.url if feed == "main" else sim.depth_url(20 if feed == "twentydepth" else 200)


@asynccontextmanager
async def running(**overrides: Any) -> AsyncIterator[tuple[SimServer, ManualClock, aiohttp.ClientSession]]:
    clock = ManualClock(overrides.pop("t0", T0))
    seed = overrides.pop("seed", None)
    recorder = overrides.pop("recorder", None)
    settings = make_settings(**{"sim_rate": 400.0, "sim_burst_factor": 0.0, **overrides})
    sim = SimServer(settings, clock=clock, seed=seed, recorder=recorder)
    async with sim, aiohttp.ClientSession() as http:
        yield sim, clock, http


class Client:
    """One WebSocket client that reads exactly what the server says it sent."""

    def __init__(self, sim: SimServer, ws: aiohttp.ClientWebSocketResponse, conn_id: int,
                 feed: str = "main") -> None:
        self.sim, self.ws, self.conn_id, self.feed = sim, ws, conn_id, feed
        self.frames: list[bytes] = []
        self.decoder = Decoder()
        self.depth_decoder = DepthDecoder(20 if feed == "twentydepth" else 200)

    def sent(self) -> int:
        return next((c["sent"] for c in self.sim.stats()["clients"] if c["conn"] == self.conn_id), 0)

    async def send(self, frames: Iterable[str]) -> None:
        for f in frames:
            await self.ws.send_str(f)

    async def read_sent(self) -> list[bytes]:
        """Every frame the server has written to this client so far and we have not read."""
        new: list[bytes] = []
        while len(self.frames) + len(new) < self.sent():
            msg = await self.ws.receive(timeout=10)
            assert msg.type == aiohttp.WSMsgType.BINARY, msg
            new.append(msg.data)
        self.frames += new
        return new

    def decode(self, frames: list[bytes]) -> list[Packet]:
        return [p for f in frames for p in self.decoder.decode(f)]

    def decode_depth(self, frames: list[bytes]) -> list[DepthPacket]:
        return [p for f in frames for p in self.depth_decoder.decode(f)]


async def connect(sim: SimServer, http: aiohttp.ClientSession, feed: str = "main", **q: Any) -> Client:
    before = set(c["conn"] for c in sim.stats()["clients"])
    ws = await http.ws_connect(feed_url(sim, feed) + query(feed=feed, **q))
    await eventually(lambda: len(sim.stats()["clients"]) > len(before))
    conn_id = max(set(c["conn"] for c in sim.stats()["clients"]) - before)
    return Client(sim, ws, conn_id, feed)


async def step(sim: SimServer, clock: ManualClock, seconds: float = 0.5, times: int = 1) -> None:
    for _ in range(times):
        before = sim.updates_count
        clock.t += seconds
        await eventually(lambda b=before: sim.updates_count > b, message="simulator made no updates")


async def expect_refusal(sim: SimServer, http: aiohttp.ClientSession, reason: int, feed: str = "main",
                         **q: Any) -> None:
    """The connection is refused with Dhan's disconnect packet, in the layout of its feed, then closed."""
    async with http.ws_connect(feed_url(sim, feed) + query(feed=feed, **q)) as ws:
        msg = await ws.receive(timeout=10)
        assert msg.type == aiohttp.WSMsgType.BINARY
        if feed == "main":
            assert packet_as_dict(Decoder().decode(msg.data)[0]) == {
                "code": 50, "length": 10, "segment": 0, "security_id": 0, "reason": reason}
        else:
            [bye] = DepthDecoder(20).decode(msg.data)
            assert bye == DepthPacket(50, 0, 0, reason, ())
        closing = await ws.receive(timeout=10)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


def pick(sim: SimServer, kind: int, underlying: str | None = None, count: int = 1) -> list[tuple[str, int]]:
    assert sim.market is not None
    found = [i for i in sim.market.instruments.values()
             if i.kind == kind and (underlying is None or i.underlying == underlying)]
    if kind == KIND_OPTION:  # the busiest: nearest the money
        found.sort(key=lambda i: abs(i.strike - sim.market.fnear[i.underlying]))  # type: ignore[union-attr]
    return [(SEGMENT_BY_CODE[i.segment], i.security_id) for i in found[:count]]


def replies(sim: SimServer, wanted: Iterable[tuple[str, int]], mode: str) -> int:
    """Packets answering a connection's first subscription of ``wanted``: per simulated instrument its previous
    close and its state in ``mode`` (a quote comes with the OI on derivatives), then the market status."""
    assert sim.market is not None
    n = 1
    for seg, sid in wanted:
        inst = sim.market.lookup(SEGMENT_BY_NAME[seg], sid)
        if inst is not None:
            n += 1 + len(inst.snapshot(("ticker", "quote", "full").index(mode)))
    return n


