"""The simulator's 20- and 200-level depth feeds over real WebSockets: books from the same model as the 5-level
depth, several packets per message, limits and segments, the connection budget shared with the live feed,
authentication, and every fault in the depth layout."""

from __future__ import annotations

import itertools
from typing import Any

import aiohttp
import orjson
import pytest
from structlog.testing import capture_logs

from feed.protocol.decode import packet_as_dict
from feed.protocol.depth import DepthPacket, book_problem
from feed.protocol.requests import build_depth_requests, build_requests
from feed.sim.book import KIND_EQUITY, KIND_FUTURE, KIND_OPTION
from feed.sim.server import SimServer
from tests.conftest import eventually
from tests.feed.simclient import Client, connect, expect_refusal, f32, pick, running, step

Book = dict[int, tuple[DepthPacket, DepthPacket]]


def books(packets: list[DepthPacket], into: Book | None = None) -> Book:
    """The latest (bid, ask) per instrument; a bid is always followed by its ask."""
    out = into if into is not None else {}
    for bid, ask in zip(packets[::2], packets[1::2], strict=True):
        assert (bid.code, ask.code, bid.security_id) == (41, 51, ask.security_id)
        out[bid.security_id] = (bid, ask)
    return out


def check_ladder(bid: DepthPacket, ask: DepthPacket, tick: float) -> None:
    """Prices one tick apart away from the touch, real quantities and orders where a price is, nothing crossed."""
    assert book_problem(bid, ask) is None
    bids = [r for r in bid.rows if r[0] > 0.0]
    asks = [r for r in ask.rows if r[0] > 0.0]
    assert asks and bids[0][0] < asks[0][0]
    for side, way in ((bids, -1), (asks, 1)):
        for a, b in itertools.pairwise(side):
            assert round((b[0] - a[0]) / tick) == way
        assert all(q > 0 and o > 0 for _, q, o in side)


def same_top_five(full: dict[str, Any], bid: DepthPacket, ask: DepthPacket) -> None:
    for lvl in range(5):
        b, a = bid.rows[lvl], ask.rows[lvl]
        n = lvl + 1
        assert (f32(b[0]), b[1], b[2]) == (full[f"bid_price{n}"], full[f"bid_qty{n}"], full[f"bid_orders{n}"])
        assert (f32(a[0]), a[1], a[2]) == (full[f"ask_price{n}"], full[f"ask_qty{n}"], full[f"ask_orders{n}"])


async def test_twenty_levels_share_their_top_five_with_the_full_packet_at_every_moment() -> None:
    async with running() as (sim, clock, http):
        wanted = [*pick(sim, KIND_FUTURE, "NIFTY"), *pick(sim, KIND_EQUITY, count=2),
                  *pick(sim, KIND_OPTION, "NIFTY", 3)]
        main, depth = await connect(sim, http), await connect(sim, http, "twentydepth")
        await main.send(build_requests(wanted, "full"))
        await depth.send(build_depth_requests(wanted))
        await eventually(lambda: main.sent() == 2 * len(wanted) + 1 and depth.sent() == 1)
        snapshot = depth.decode_depth(await depth.read_sent())
        # the books at once, every instrument's bid then ask, all in one message
        assert [(p.code, p.security_id) for p in snapshot] == [(c, sid) for _, sid in wanted for c in (41, 51)]
        assert all(len(p.rows) == 20 for p in snapshot) and len(depth.frames) == 1
        latest = books(snapshot)
        fulls = {p[3]: packet_as_dict(p) for p in main.decode(await main.read_sent()) if p[0] == 8}
        for _ in range(5):
            await step(sim, clock)
            fulls.update({p[3]: packet_as_dict(p) for p in main.decode(await main.read_sent())})
            books(depth.decode_depth(await depth.read_sent()), latest)
            assert sim.market is not None
            for seg_sid in wanted:
                inst = sim.market.lookup(2 if seg_sid[0] == "NSE_FNO" else 1, seg_sid[1])
                assert inst is not None
                bid, ask = latest[seg_sid[1]]
                check_ladder(bid, ask, inst.tick)
                same_top_five(fulls[seg_sid[1]], bid, ask)
        assert depth.depth_decoder.stats.bad == 0
        await main.ws.close()
        await depth.ws.close()


async def test_two_hundred_levels_one_instrument_per_connection() -> None:
    async with running() as (sim, clock, http):
        assert sim.market is not None
        fut = pick(sim, KIND_FUTURE, "NIFTY")[0]
        cheap = min((i for i in sim.market.instruments.values() if i.kind == KIND_OPTION), key=lambda i: i.ltp)
        c, c2 = await connect(sim, http, "twohundreddepth"), await connect(sim, http, "twohundreddepth")
        with capture_logs() as logs:
            await c.send([orjson.dumps({"RequestCode": 23, "ExchangeSegment": "NSE_FNO", "SecurityId": str(fut[1])}
                                       ).decode()])
            await c.send(build_depth_requests([("NSE_FNO", cheap.security_id)], 200))  # a second: refused
            await c2.send(build_depth_requests([("NSE_FNO", cheap.security_id)], 200))
            await eventually(lambda: c.sent() == 1 and c2.sent() == 1)
        assert [e["limit"] for e in logs if e["event"] == "subscription_limit"] == [1]
        bid, ask = c.decode_depth(await c.read_sent())
        inst = sim.market.lookup(2, fut[1])
        assert inst is not None
        assert (len(bid.rows), len(ask.rows), bid.sequence, ask.sequence) == (200, 200, 200, 200)
        check_ladder(bid, ask, inst.tick)
        assert bid.rows[0][0] == inst.bid_t * inst.tick and ask.rows[4][0] == (inst.ask_t + 4) * inst.tick
        # an option worth a few ticks has as many bid levels as there are prices above zero
        cbid, cask = c2.decode_depth(await c2.read_sent())
        assert len(cbid.rows) == min(200, cheap.bid_t) < 200 and len(cask.rows) == 200
        await step(sim, clock, times=3)
        assert {p.security_id for p in c.decode_depth(await c.read_sent())} == {fut[1]}
        assert {p.security_id for p in c2.decode_depth(await c2.read_sent())} == {cheap.security_id}
        await c.ws.close()
        await c2.ws.close()


async def test_depth_is_nse_only_and_unsubscribe_takes_24_or_25() -> None:
    async with running() as (sim, clock, http):
        fut, stock = pick(sim, KIND_FUTURE, "NIFTY")[0], pick(sim, KIND_EQUITY)[0]
        main, depth = await connect(sim, http), await connect(sim, http, "twentydepth")
        await main.send(build_requests([fut, stock], "full"))  # keeps the market moving
        with capture_logs() as logs:
            await depth.send(build_depth_requests([("IDX_I", 13), *pick(sim, KIND_FUTURE, "GOLD"), fut, stock]))
            await eventually(lambda: depth.sent() == 1)
        assert {p.security_id for p in depth.decode_depth(await depth.read_sent())} == {fut[1], stock[1]}
        refused = [e["segment"] for e in logs if e["event"] == "depth_not_available"]
        assert refused == ["IDX_I", "MCX_COMM"] and sim.bad_requests == 2
        await step(sim, clock, times=2)
        assert depth.decode_depth(await depth.read_sent())
        for code, inst in ((24, fut), (25, stock)):
            await depth.send([orjson.dumps({"RequestCode": code, "InstrumentCount": 1, "InstrumentList": [
                {"ExchangeSegment": inst[0], "SecurityId": str(inst[1])}]}).decode()])
        await eventually(lambda: sim.stats()["subscriptions"] == 2)  # the live feed's two remain
        sent = depth.sent()
        await step(sim, clock, times=3)
        assert depth.sent() == sent
        await main.ws.close()
        await depth.ws.close()


async def test_five_connections_per_token_across_the_live_and_the_depth_feeds() -> None:
    async with running() as (sim, _clock, http):
        feeds = ["main", "main", "main", "twentydepth", "twohundreddepth"]
        clients = [await connect(sim, http, feed, token="same") for feed in feeds]
        await expect_refusal(sim, http, 805, feed="twentydepth", token="same")
        await expect_refusal(sim, http, 805, feed="main", token="same")
        other = await connect(sim, http, "twohundreddepth", token="another")
        await clients[3].ws.close()
        await eventually(lambda: sim.stats()["connections"] == 5)
        again = await connect(sim, http, "main", token="same")
        assert sim.refused == {805: 2}
        for c in [*clients[:3], clients[4], other, again]:
            await c.ws.close()


async def test_depth_feeds_authenticate_like_the_live_feed() -> None:
    async with running(sim_token="s3cret-token") as (sim, _clock, http):
        await expect_refusal(sim, http, 809, feed="twentydepth", token="wrong")
        await expect_refusal(sim, http, 808, feed="twohundreddepth", token="s3cret-token", client_id=None)
        assert sim.refused == {809: 1, 808: 1}
        async with http.get(sim.http_url + "/twentydepth") as resp:
            assert resp.status == 400 and "authType=2" in await resp.text()


async def subscribed_depth(sim: SimServer, http: aiohttp.ClientSession, feed: str = "twentydepth",
                           count: int = 2, **q: Any) -> Client:
    c = await connect(sim, http, feed, **q)
    wanted = pick(sim, KIND_OPTION, "NIFTY", count)
    await c.send(build_depth_requests(wanted, 20 if feed == "twentydepth" else 200))
    await eventually(lambda: c.sent() >= 1)
    await c.read_sent()
    return c


async def test_faults_reach_the_depth_feeds_in_their_layout_and_respect_the_scope() -> None:
    async with running() as (sim, _clock, http):
        main = await connect(sim, http)
        d20 = await subscribed_depth(sim, http)
        d200 = await subscribed_depth(sim, http, "twohundreddepth", count=1)
        for variant, counter in (("truncated", "truncated"), ("unknown", "unknown"), ("garbage", "unknown")):
            for c in (d20, d200):
                before = getattr(c.depth_decoder.stats, counter)
                if c is d20:
                    assert await sim.inject_fault("malformed", variant=variant, feed="depth") == 2
                await eventually(lambda c=c: c.sent() == len(c.frames) + 1)
                assert c.decode_depth(await c.read_sent()) == []
                assert getattr(c.depth_decoder.stats, counter) == before + 1
        assert main.sent() == 0, "a depth-scoped fault leaves the live feed alone"
        assert await sim.inject_fault("disconnect", code=806, feed="twohundreddepth") == 1
        msg = await d200.ws.receive(timeout=10)
        assert d200.depth_decoder.decode(msg.data) == [DepthPacket(50, 0, 0, 806, ())]
        assert (await d200.ws.receive(timeout=10)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert await sim.inject_fault("drop", feed="twentydepth") == 1
        assert (await d20.ws.receive(timeout=10)).type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        await eventually(lambda: sim.stats()["connections"] == 1)
        await main.ws.close()


async def test_stall_and_expire_on_a_depth_feed() -> None:
    async with running() as (sim, clock, http):
        d20 = await subscribed_depth(sim, http)
        assert await sim.inject_fault("stall", seconds=600, feed="twentydepth") == 1
        sent = d20.sent()
        await step(sim, clock, times=3)
        assert d20.sent() == sent
        await sim.inject_fault("clear")
        await step(sim, clock, times=2)
        assert d20.decode_depth(await d20.read_sent())
        assert await sim.inject_fault("expire", feed="main") == 1, "the token expires for every feed"
        msg = await d20.ws.receive(timeout=10)
        assert d20.depth_decoder.decode(msg.data)[-1].reason == 807
        await expect_refusal(sim, http, 807, feed="twohundreddepth")


@pytest.mark.parametrize("feed", ["twentydepth", "twohundreddepth"])
async def test_hostile_books_hold_exactly_the_bad_values_they_announce(feed: str) -> None:
    async with running(sim_token="tkn-1234", sim_faults=True) as (sim, _clock, http):
        main = await connect(sim, http, token="tkn-1234")
        c = await subscribed_depth(sim, http, feed, count=2 if feed == "twentydepth" else 1, token="tkn-1234")
        async with http.post(sim.http_url + f"/fault?kind=hostile&count=2&feed={feed}&token=tkn-1234") as resp:
            body = await resp.json()
        assert resp.status == 200 and body["connections"] == 1
        await eventually(lambda: c.sent() > len(c.frames))
        packets = c.decode_depth(await c.read_sent())
        seen: dict[str, int] = {}
        for bid, ask in zip(packets[::2], packets[1::2], strict=True):
            kind = book_problem(bid, ask)
            if kind is not None:
                seen[kind] = seen.get(kind, 0) + 1
        assert seen == body["hostile_sent"] == sim.stats()["hostile_sent"]
        assert set(seen) == {"price_nan", "price_inf", "price_range", "depth_crossed"}
        assert c.depth_decoder.stats.bad == 0 and main.sent() == 0
        await main.ws.close()
        await c.ws.close()


async def test_subscribing_depth_leaves_the_live_feed_bytes_unchanged() -> None:
    async def session(with_depth: bool) -> list[bytes]:
        recorded: list[bytes] = []
        async with running(seed=9, recorder=lambda _i, pkt: recorded.append(pkt)) as (sim, clock, http):
            wanted = [*pick(sim, KIND_FUTURE, "NIFTY"), *pick(sim, KIND_OPTION, "NIFTY", 4)]
            c = await connect(sim, http)
            await c.send(build_requests(wanted, "full"))
            await eventually(lambda: c.sent() == 2 * len(wanted) + 1)
            if with_depth:
                d = await connect(sim, http, "twentydepth")
                await d.send(build_depth_requests(wanted))
                await eventually(lambda: d.sent() == 1)
            for _ in range(4):
                await step(sim, clock, 0.25)
            await c.read_sent()
        return recorded

    plain, with_depth = await session(False), await session(True)
    assert len(plain) > 100 and plain == with_depth
