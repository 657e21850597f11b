"""Dhan's official Python client, ``dhanhq`` 2.3.0, against the simulator: its ``MarketFeed`` and ``FullDepth``
parse every packet kind the simulator sends and see a snapshot of every instrument they subscribe.

The client makes and runs its own event loop, so it lives in a worker thread while the simulator runs in the
test's loop; the test reads exactly as many messages as the simulator says it sent. It is pointed at the
simulator through its URLs only: ``MarketFeed.connect`` names its class (``MarketFeed.market_feed_wss``), so
that class attribute is set for the test and restored; ``FullDepth`` reads ``depth_20_feed_wss`` and
``depth_200_feed_wss`` through ``self``, so a subclass overrides just those two.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
import websockets
from dhanhq import DhanContext, FullDepth, MarketFeed

from feed.sim.book import KIND_EQUITY, KIND_FUTURE, KIND_OPTION
from feed.sim.server import SimServer
from tests.conftest import eventually
from tests.feed.simclient import running, step

CLIENT_ID, TOKEN = "1100000001", "tok"
T = TypeVar("T")


class Worker:
    """One thread for one official client: every call into it runs there, one at a time."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def close(self) -> None:
        self.pool.shutdown(wait=True)


@contextlib.contextmanager
def worker() -> Iterator[Worker]:
    w = Worker()
    try:
        yield w
    finally:
        w.close()


def sent_to_the_client(sim: SimServer) -> int:
    [client] = sim.stats()["clients"]
    return int(client["sent"])


def sids(sim: SimServer, kind: int, underlying: str | None = None, count: int = 1) -> list[str]:
    assert sim.market is not None
    found = [i for i in sim.market.instruments.values()
             if i.kind == kind and (underlying is None or i.underlying == underlying)]
    if kind == KIND_OPTION:
        found.sort(key=lambda i: abs(i.strike - sim.market.fnear[i.underlying]))  # type: ignore[union-attr]
    return [str(i.security_id) for i in found[:count]]


def f2(x: float) -> str:
    """A price as the official client prints it: the float32 on the wire, two decimals."""
    return "{:.2f}".format(struct.unpack("<f", struct.pack("<f", x))[0])


async def test_official_market_feed_parses_every_packet_kind_and_sees_every_snapshot(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    async with running() as (sim, clock, _http):
        assert sim.market is not None
        monkeypatch.setattr(MarketFeed, "market_feed_wss", sim.url)  # the URL, nothing else
        stock_a, stock_b = sids(sim, KIND_EQUITY, count=2)
        fut = sids(sim, KIND_FUTURE, "NIFTY")[0]
        atm, far = sids(sim, KIND_OPTION, "NIFTY", 40)[0], sids(sim, KIND_OPTION, "NIFTY", 40)[-1]
        instruments = [(MarketFeed.IDX, "13", MarketFeed.Ticker), (MarketFeed.NSE, stock_a, MarketFeed.Ticker),
                       (MarketFeed.NSE, stock_b, MarketFeed.Quote), (MarketFeed.NSE_FNO, fut, MarketFeed.Quote),
                       (MarketFeed.NSE_FNO, atm, MarketFeed.Full), (MarketFeed.NSE_FNO, far, MarketFeed.Full)]
        with worker() as w:
            def start() -> MarketFeed:
                feed = MarketFeed(DhanContext(CLIENT_ID, TOKEN), instruments, version="v2")
                feed.run_forever()  # connects and subscribes, as the client does
                return feed

            def read(feed: MarketFeed, n: int) -> list[Any]:
                return [feed.get_data() for _ in range(n)]

            feed = await w.run(start)
            # per instrument its previous close and its state (a derivative's quote with its OI), one status
            await eventually(lambda: sim.stats()["clients"] and sent_to_the_client(sim) == 6 * 2 + 1 + 1)
            snapshot = await w.run(read, feed, sent_to_the_client(sim))
            kinds = [d if isinstance(d, str) else (d["type"], str(d["security_id"])) for d in snapshot]
            assert sorted(k for k in kinds if k[0] == "Previous Close") == sorted(
                ("Previous Close", s) for s in ("13", stock_a, stock_b, fut, atm, far))
            assert {k for k in kinds if k[0] != "Previous Close"} == {
                ("Ticker Data", "13"), ("Ticker Data", stock_a), ("Quote Data", stock_b), ("Quote Data", fut),
                ("OI Data", fut), ("Full Data", atm), ("Full Data", far), "Markets Open"}
            for d in snapshot:
                if isinstance(d, dict) and d["type"] in ("Quote Data", "Full Data"):
                    inst = sim.market.lookup(d["exchange_segment"], d["security_id"])
                    assert inst is not None and (d["LTP"], d["volume"]) == (f2(inst.ltp), inst.volume)
            seen = sent_to_the_client(sim)
            await step(sim, clock, times=4)
            updates = await w.run(read, feed, sent_to_the_client(sim) - seen)
            assert {d["type"] for d in updates} >= {"Ticker Data", "Quote Data", "Full Data"}
            assert await sim.inject_fault("disconnect", code=807) == 1
            await eventually(lambda: sim.stats()["connections"] == 0)
            assert await w.run(read, feed, 1) == [None]  # the disconnect packet: printed, no data
            await w.run(feed.close_connection)
            await w.run(feed.loop.close)
    assert "Disconnected: Access Token is expired" in capsys.readouterr().out


@pytest.mark.parametrize("levels", [20, 200])
async def test_official_full_depth_sees_a_book_for_every_instrument(
    levels: int, capsys: pytest.CaptureFixture[str],
) -> None:
    async with running() as (sim, clock, _http):
        client = type("SimFullDepth", (FullDepth,), {
            "depth_20_feed_wss": sim.depth_url(20), "depth_200_feed_wss": sim.depth_url(200)})
        fut = sids(sim, KIND_FUTURE, "NIFTY")[0]
        wanted = [(FullDepth.NSE_FNO, fut)]
        if levels == 20:  # a stock, and an option far in the money
            wanted += [(FullDepth.NSE, sids(sim, KIND_EQUITY)[0]), (FullDepth.NSE_FNO, sids(sim, KIND_OPTION,
                                                                                             "NIFTY", 60)[-1])]
        with worker() as w:
            def start() -> FullDepth:
                depth = client(DhanContext(CLIENT_ID, TOKEN), wanted, depth_level=levels)
                depth.run_forever()
                return depth

            def read(depth: FullDepth, n: int) -> list[dict[str, Any]]:
                out: list[dict[str, Any]] = []
                for _ in range(n):
                    out += depth.get_data() or []
                return out

            depth = await w.run(start)
            await eventually(lambda: sim.stats()["clients"] and sent_to_the_client(sim) == 1)
            books = await w.run(read, depth, 1)
            assert sorted(str(b["security_id"]) for b in books) == sorted(s for _, s in wanted)
            assert all(len(b["depth"]) == levels for b in books if str(b["security_id"]) == fut)
            seen = sent_to_the_client(sim)
            await step(sim, clock, times=3)
            updates = await w.run(read, depth, sent_to_the_client(sim) - seen)
            assert updates and {str(b["security_id"]) for b in updates} <= {s for _, s in wanted}
            assert await sim.inject_fault("disconnect", code=807, feed="depth") == 1
            await eventually(lambda: sim.stats()["connections"] == 0)
            assert await w.run(read, depth, 1) == [] and depth.on_close is True

            def close() -> None:
                with contextlib.suppress(websockets.ConnectionClosed):  # it sends its goodbye to a closed socket
                    depth.close_connection()
                depth.loop.run_until_complete(depth.ws.close())
                depth.loop.close()

            await w.run(close)
    assert "Disconnected: Access Token is expired" in capsys.readouterr().out
