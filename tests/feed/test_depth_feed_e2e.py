"""Simulator -> feed depth sockets -> dhan:depth20, end to end on the real local Redis.

The simulator runs on a frozen clock: nothing moves after the snapshots it sends on subscribe, so every book
the feed published can be compared with the simulator's book model at the same moment, and with the 5-level
book of the live feed's full packet (the simulator builds both from one model).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from devkit.running import Running
from feed.fulldepth.select import auto_instruments
from feed.journal import JournalReader
from feed.protocol.constants import SEGMENT_BY_NAME
from feed.protocol.depth import DepthDecoder
from feed.publisher import KIND_DEPTH20
from feed.service import FeedService
from feed.sim import SimServer
from feed.sim.book import KIND_FUTURE
from shared.errors import ConfigError
from shared.events import instrument_key
from shared.keys import Keys
from shared.settings import Settings
from tests.conftest import eventually, make_settings, redis_for
from tests.feed.simclient import ManualClock

Book = dict[str, Any]


@pytest.fixture
def base() -> Settings:
    return make_settings(depth20_enabled=True, nifty_strikes=3, banknifty_strikes=3, include_nifty50=False,
                         stall_timeout_s=60.0, reconnect_base_s=0.05, recentre_check_s=0.1)


@pytest.fixture
async def rclient(base: Settings) -> AsyncIterator[aioredis.Redis]:
    async for client in redis_for(base):
        yield client


def front_future(sim: SimServer, underlying: str) -> str:
    assert sim.market is not None
    futures = [i for i in sim.market.instruments.values() if i.kind == KIND_FUTURE and i.underlying == underlying]
    front = min(futures, key=lambda i: (i.expiry_key, i.security_id))
    return f"NSE_FNO:{front.security_id}"


def published(svc: FeedService) -> int:
    """Depth books published so far (0 before the publisher exists)."""
    return svc.publisher.published[KIND_DEPTH20] if svc.publisher is not None else 0


def feed_settings(base: Settings, **extra: Any) -> Settings:
    return base.replaced(instruments_url=f"http://127.0.0.1:{base.sim.port}/api-scrip-master.csv", **extra)


async def latest(client: aioredis.Redis, stream: str) -> dict[tuple[str, int, int], Book]:
    """The newest event per (seg, sid, levels) of ``stream`` (levels 5 for the live feed's depth)."""
    out: dict[tuple[str, int, int], Book] = {}
    for _, fields in await client.xrange(stream):
        e = orjson.loads(fields[b"d"])
        out[(e["seg"], e["sid"], e.get("levels", 5))] = e
    return out


def non_empty(rows: list[list[Any]]) -> list[list[Any]]:
    return [r for r in rows if r[0] > 0 or r[1]]


def assert_rows(got: list[list[Any]], want: list[tuple[float, int, int]], what: str) -> None:
    assert len(got) == len(want), what
    for g, w in zip(got, want, strict=True):
        assert (g[0], g[1], g[2]) == (pytest.approx(w[0], abs=1e-6), w[1], w[2]), what


async def centred(svc: FeedService) -> bool:
    return svc.universe is not None and len(svc.universe.atm) == 2


async def test_books_equal_the_simulators_model_and_its_full_packet_at_one_moment(
        base: Settings, rclient: aioredis.Redis) -> None:
    keys = Keys(base.redis.key_prefix)
    async with SimServer(base, clock=ManualClock(time.time())) as sim:
        settings = feed_settings(base, depth200_instrument=front_future(sim, "NIFTY"))
        run = Running(FeedService(settings))
        svc = run.svc
        await eventually(lambda: centred(svc), timeout_s=20, message="both option windows centred")
        assert svc.universe is not None
        wanted = auto_instruments(svc.universe)
        assert len(wanted) == 2 + 2 * 5 * 2  # two front futures, ATM +/- 2 strikes, calls and puts

        async def all_books() -> bool:
            books = await latest(rclient, keys.depth20)
            have = {(s, i) for s, i, n in books if n == 20}
            return have >= set(wanted) and any(n == 200 for _, _, n in books)
        await eventually(all_books, timeout_s=20, message="a 20-level book for every auto instrument, and a 200")
        books = await latest(rclient, keys.depth20)
        five = await latest(rclient, keys.depth)
        metrics = svc.metrics()
        assert {"feed.depth20.0", "feed.depth200"} <= set(svc.tasks.names())  # owned: a death fails the feed
        assert await run.stop() == 0
        assert sim.market is not None
        for (seg, sid, levels), book in books.items():
            inst = sim.market.lookup(SEGMENT_BY_NAME[seg], sid)
            assert inst is not None and inst.deep is not None
            what = f"{seg}:{sid} at {levels} levels"
            assert_rows(book["bids"], inst.deep.rows(inst, bid=True, levels=levels), what)
            assert_rows(book["asks"], inst.deep.rows(inst, bid=False, levels=levels), what)
            assert book["seq"] == (inst.deep.sequence if levels == 20 else 0)
            full = five[(seg, sid, 5)]  # the live feed's book of the same instrument, from the full packet
            for side in ("bids", "asks"):
                assert non_empty(book[side])[:5] == non_empty(full[side]), what
    assert {(s, i) for s, i, n in books if n == 20} == set(wanted)
    assert metrics["budget_used"] == 3 and metrics["budget_limit"] == 5  # live, 20-level, 200-level
    assert (metrics["budget_main"], metrics["budget_depth20"], metrics["budget_depth200"]) == (1, 1, 1)
    assert metrics["depth20_instruments"] == 22 and metrics["depth_bad_values"] == 0
    assert metrics["depth_bad_packets"] == 0 and metrics["published_depth20"] >= 23
    assert metrics["depth200_instrument"] == settings.feed.depth200_instrument


async def test_depth_frames_go_to_the_journal_in_their_own_blocks(base: Settings, rclient: aioredis.Redis) -> None:
    async with SimServer(base, clock=ManualClock(time.time())):
        run = Running(FeedService(feed_settings(base)))
        await eventually(lambda: published(run.svc) >= 22, timeout_s=20)
        assert await run.stop() == 0
    path = run.svc.journal.path
    assert path is not None
    reader = JournalReader(path)
    depth = list(reader.depth_frames())
    assert depth and {levels for _, levels, _ in depth} == {20}
    decoder = DepthDecoder(20)
    packets = [p for _, _, frame in depth for p in decoder.decode(frame)]
    assert decoder.stats.bad == 0 and len(packets) >= 2 * 22
    # the live feed's records (what dhan replay serves and dhan verify reads) hold no depth frame
    assert all(type(body) is dict or body[0] in (2, 4, 5, 6, 7, 8, 50) for _, body in reader.records())
    assert reader.stats.depth_frames == len(depth)


async def test_depth_socket_reconnects_after_a_drop_and_a_disconnect_packet(
        base: Settings, rclient: aioredis.Redis) -> None:
    keys = Keys(base.redis.key_prefix)
    async with SimServer(base, clock=ManualClock(time.time())) as sim:
        run = Running(FeedService(feed_settings(base)))
        svc = run.svc
        await eventually(lambda: published(svc) >= 22, timeout_s=20)
        before = published(svc)
        assert await sim.inject_fault("drop", feed="twentydepth") == 1
        await eventually(lambda: svc.metrics()["depth_reconnects"] >= 1, timeout_s=10)
        # re-subscribed: the simulator's snapshots of every book come again
        await eventually(lambda: published(svc) >= before + 22, timeout_s=10)
        assert await sim.inject_fault("disconnect", code=805, feed="twentydepth") == 1
        await eventually(lambda: svc.metrics()["depth_reconnects"] >= 2, timeout_s=10)
        await eventually(lambda: svc.metrics()["depth_connections_up"] == 1, timeout_s=10)
        assert svc.connections[0].reconnects == 0  # the live feed's socket was not touched
        assert await run.stop() == 0
    events = [orjson.loads(f[b"d"]) for _, f in await rclient.xrange(keys.events)]
    downs = [e for e in events if e["type"] == "depth_disconnected"]
    assert [e["reason_code"] for e in downs[:2]] == [None, 805] and downs[0]["feed"] == "depth20"
    assert sum(1 for e in events if e["type"] == "depth_connected") >= 3
    assert not any(e["type"] == "disconnected" and e.get("cause") != "shutdown" for e in events)


async def test_an_expired_token_on_the_depth_socket_stops_the_feed_in_one_line(base: Settings) -> None:
    async with SimServer(base, clock=ManualClock(time.time())) as sim:
        run = Running(FeedService(feed_settings(base)))
        await eventually(lambda: published(run.svc) >= 22, timeout_s=20)
        await sim.inject_fault("disconnect", code=807, feed="twentydepth")
        code = await asyncio.wait_for(run.task, 20)
    assert code == 3  # AuthError, as on the live feed
    assert "depth20 feed: 807" in str(run.svc.exit_error) and run.svc.failed_task == "feed.depth20.0"


async def test_recentring_moves_the_depth_subscription(base: Settings, rclient: aioredis.Redis) -> None:
    keys = Keys(base.redis.key_prefix)
    async with SimServer(base, clock=ManualClock(time.time())) as sim:
        run = Running(FeedService(feed_settings(base)))
        svc = run.svc
        await eventually(lambda: centred(svc), timeout_s=20)
        await eventually(lambda: published(svc) >= 22, timeout_s=20)
        assert svc.universe is not None and svc.selector is not None
        old = set(auto_instruments(svc.universe))
        atm = svc.universe.atm["NIFTY"]
        change = await svc.recentre_once({"NIFTY": atm + 100.0, "BANKNIFTY": svc.universe.atm["BANKNIFTY"]})
        assert change is not None and svc.universe.atm["NIFTY"] == atm + 100.0
        new = set(auto_instruments(svc.universe))
        entered, left = new - old, old - new
        assert len(entered) == len(left) == 4  # two NIFTY strikes, call and put
        assert set(svc.depth.conns[0].instruments) == new  # type: ignore[union-attr]

        async def entered_books() -> bool:
            books = await latest(rclient, keys.depth20)
            return {(s, i) for s, i, _ in books} >= entered
        await eventually(entered_books, timeout_s=10, message="books of the strikes that entered")

        def sim_depth_subscriptions() -> int:
            return sum(c["subscribed"] for c in sim.stats()["clients"] if c["feed"] == "twentydepth")
        await eventually(lambda: sim_depth_subscriptions() == 22, timeout_s=10, message="left strikes unsubscribed")
        assert await run.stop() == 0
    assert {instrument_key(*k) for k in entered}.isdisjoint({instrument_key(*k) for k in left})


async def test_the_connection_budget_holds_at_five_and_gives_back_first(base: Settings) -> None:
    async with SimServer(base, clock=ManualClock(time.time())) as sim:
        assert sim.market is not None
        options = sorted(i.security_id for i in sim.market.instruments.values()
                         if i.kind != KIND_FUTURE and i.underlying == "NIFTY" and i.segment == 2)[:130]
        listed = ",".join(f"NSE_FNO:{sid}" for sid in options)  # 130 instruments: 3 connections of 50
        settings = feed_settings(base, depth20_instruments=listed, depth200_instrument=front_future(sim, "NIFTY"))
        run = Running(FeedService(settings))
        svc = run.svc
        await eventually(lambda: svc.metrics().get("depth_connections_up") == 4, timeout_s=20,
                         message="three 20-level connections and the 200-level one up")
        m = svc.metrics()
        assert (m["budget_used"], m["budget_main"], m["budget_depth20"], m["budget_depth200"]) == (5, 1, 3, 1)
        assert m["depth20_instruments"] == 130 and m["budget_depth20_per_conn_max"] == 50
        assert sim.stats()["connections"] == 5
        # the live feed needs two more connections: the depth feeds give back first (200-level, then 20-level)
        assert svc.depth is not None
        await svc.depth.apply(svc.universe, 3)
        m = svc.metrics()
        assert (m["budget_depth20"], m["budget_depth200"], m["depth20_unfunded"], m["depth200_unfunded"]) == (
            2, 0, 30, 1)
        await eventually(lambda: sim.stats()["connections"] == 3, timeout_s=10, message="two depth sockets closed")
        assert await run.stop() == 0
        assert sim.refused.get(805, 0) == 0  # Dhan's limit was never hit


async def test_a_dropped_depth_socket_loses_no_book_at_the_one_second_sampling(
        base: Settings, rclient: aioredis.Redis) -> None:
    """The depth store samples each instrument's latest book every second (DHAN_DEPTH20_SAMPLE_S): after the
    socket drops, every book must be fresh again within that interval (the simulator's snapshots on
    re-subscribe), or a sample would repeat a stale book."""
    keys = Keys(base.redis.key_prefix)
    async with SimServer(base, clock=ManualClock(time.time())) as sim:
        run = Running(FeedService(feed_settings(base)))
        svc = run.svc
        await eventually(lambda: centred(svc), timeout_s=20)
        await eventually(lambda: published(svc) >= 22, timeout_s=20)
        await eventually(lambda: svc.metrics().get("depth_last_frame_age_s") not in ("", None), timeout_s=5)
        assert svc.universe is not None
        wanted = set(auto_instruments(svc.universe))
        before = published(svc)
        t_fault = time.time()
        await sim.inject_fault("drop", feed="twentydepth")
        await eventually(lambda: published(svc) >= before + len(wanted), timeout_s=10)
        assert await run.stop() == 0
    after: dict[tuple[str, int], float] = {}
    for _, fields in await rclient.xrange(keys.depth20):
        e = orjson.loads(fields[b"d"])
        if e["recv_ts"] > t_fault:
            after.setdefault((e["seg"], e["sid"]), e["recv_ts"])
    assert set(after) == wanted
    assert max(after.values()) - t_fault < 1.0  # every book fresh within one sampling interval


async def test_a_bad_depth_list_stops_the_feed_at_setup_in_one_line(base: Settings) -> None:
    async with SimServer(base, clock=ManualClock(time.time())):
        svc = FeedService(feed_settings(base, depth20_instruments="NSE_FNO:35001,MCX_COMM:4242"))
        with pytest.raises(ConfigError) as err:  # shared.cli prints it as one line, exit 2
            await asyncio.wait_for(svc.serve(), 20)
    assert "DHAN_DEPTH20_INSTRUMENTS" in str(err.value) and "\n" not in str(err.value)
    assert not svc.tasks.names()  # no depth socket was opened


async def test_hostile_depth_values_are_dropped_and_counted_by_kind(base: Settings, rclient: aioredis.Redis) -> None:
    keys = Keys(base.redis.key_prefix)
    async with SimServer(base, clock=ManualClock(time.time())) as sim:
        run = Running(FeedService(feed_settings(base)))
        svc = run.svc
        await eventually(lambda: published(svc) >= 2, timeout_s=20)
        assert await sim.inject_fault("hostile", count=2, feed="twentydepth") == 1
        sent = dict(sim.hostile_sent)
        assert sum(sent.values()) == 2 * 8

        def counted() -> bool:
            return svc.metrics()["depth_bad_values"] >= sum(sent.values())
        await eventually(counted, timeout_s=10, message="every hostile value counted")
        m = svc.metrics()
        assert {k: m[f"depth_bad_values_{k}"] for k in sent} == sent and m["depth_bad_values"] == sum(sent.values())
        assert m["depth_frame_errors"] == 0 and m["depth_connections_up"] == 1  # the socket lived through it
        assert await run.stop() == 0
    for _, fields in await rclient.xrange(keys.depth20):
        book = orjson.loads(fields[b"d"])
        for side in ("bids", "asks"):
            assert all(0 <= p < 1e9 for p, _, _ in book[side]), book  # no bad price reached Redis
        if book["bids"] and book["asks"]:
            assert book["bids"][0][0] <= book["asks"][0][0], book  # no crossed book either


@pytest.mark.parametrize("extra", [{"depth20_enabled": False}, {"depth20_instruments": ""}],
                         ids=["disabled", "no instruments"])
async def test_no_depth_socket_without_depth_instruments(base: Settings, extra: dict[str, Any]) -> None:
    async with SimServer(base, clock=ManualClock(time.time())) as sim:
        run = Running(FeedService(feed_settings(base, **extra)))
        svc = run.svc
        await eventually(lambda: centred(svc), timeout_s=20)
        await svc.recentre_once({"NIFTY": 30_000.0})  # a universe change applies the depth set again
        m = svc.metrics()
        assert (m["budget_used"], m["budget_main"], m["depth_connections"]) == (1, 1, 0)
        assert sim.stats()["connections"] == 1 and not any(n.startswith("feed.depth") for n in svc.tasks.names())
        assert await run.stop() == 0
