"""Simulator -> feed -> Redis, end to end, on the real local Redis (unique prefix per test)."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from devkit.running import Running
from feed.protocol.constants import SEGMENT_BY_CODE, SEGMENT_BY_NAME
from feed.protocol.decode import Decoder, packet_as_dict
from feed.service import FeedService
from feed.sim import SimServer
from shared.settings import Settings
from tests.conftest import eventually, make_settings, redis_for


@pytest.fixture
async def sim_settings() -> Settings:
    s = make_settings(sim_rate=400.0, nifty_strikes=3, banknifty_strikes=2, stall_timeout_s=3.0,
                      reconnect_base_s=0.05, recentre_check_s=0.1)
    return s.replaced(instruments_url=f"http://127.0.0.1:{s.sim.port}/api-scrip-master.csv")


@pytest.fixture
async def rclient(sim_settings: Settings) -> AsyncIterator[aioredis.Redis]:
    async for client in redis_for(sim_settings):
        yield client


async def _stream_events(client: aioredis.Redis, key: str) -> list[dict[str, Any]]:
    return [orjson.loads(f[b"d"]) for _, f in await client.xrange(key)]


async def test_values_in_redis_match_what_the_simulator_sent(sim_settings: Settings, rclient: aioredis.Redis) -> None:
    sent: list[bytes] = []
    async with SimServer(sim_settings, recorder=lambda inst, pkt: sent.append(pkt)):
        run = Running(FeedService(sim_settings))
        await eventually(lambda: run.svc.universe_changes >= 1, timeout_s=20, message="options centred")
        await eventually(lambda: rclient.xlen(sim_settings.redis.key_prefix + "ticks"), timeout_s=20)

        async def enough() -> bool:
            return await rclient.xlen(sim_settings.redis.key_prefix + "ticks") >= 150
        await eventually(enough, timeout_s=30, message="150 trades in Redis")
        await eventually(lambda: rclient.hlen(sim_settings.redis.key_prefix + "last:quote"), timeout_s=5)
        assert await run.stop() == 0
    raw_last = await rclient.hgetall(sim_settings.redis.key_prefix + "last:quote")
    last = {k.decode(): orjson.loads(v) for k, v in raw_last.items()}
    assert "IDX_I:13" in last and last["IDX_I:13"]["ltp"] > 0
    ticks = await _stream_events(rclient, sim_settings.redis.key_prefix + "ticks")
    quotes = await _stream_events(rclient, sim_settings.redis.key_prefix + "quotes")
    depth = await _stream_events(rclient, sim_settings.redis.key_prefix + "depth")
    # What the sim sent, decoded, per instrument in order.
    dec = Decoder()
    by_inst: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for pkt in sent:
        for p in dec.decode(pkt):
            d = packet_as_dict(p)
            by_inst[(SEGMENT_BY_CODE[d["segment"]], d["security_id"])].append(d)
    assert dec.stats.bad == 0
    raw_universe = await rclient.hgetall(sim_settings.redis.key_prefix + "universe")
    universe = {k.decode(): orjson.loads(v) for k, v in raw_universe.items()}
    # Every trade in Redis is a rise of cumulative volume the sim sent, at the price and time it sent.
    seen_trades: dict[tuple[str, int], list[int]] = defaultdict(list)
    for t in ticks:
        key = (t["seg"], t["sid"])
        tick_size = universe[f"{t['seg']}:{t['sid']}"]["tick_size"]
        match = [d for d in by_inst[key] if d.get("volume") == t["volume"]]
        assert match, f"trade {t} not among the packets sent"
        d = match[0]
        assert t["ltp"] == pytest.approx(d["ltp"], abs=tick_size / 2)
        assert round(t["ltp"] / tick_size, 6) == round(t["ltp"] / tick_size)  # on the tick grid
        assert t["exchange_ts"] == d["ltt"]
        seen_trades[key].append(t["volume"])
    # No trade missing and none doubled: per instrument, the trades are exactly the volume rises sent
    # (up to the last volume the feed handled), each once.
    for key, vols in seen_trades.items():
        assert vols == sorted(set(vols)), f"{key}: trades out of order or doubled"
        sent_vols = [d["volume"] for d in by_inst[key] if "volume" in d and d["volume"] <= vols[-1]]
        rises = [v for prev, v in itertools.pairwise(sent_vols) if v > prev]
        assert vols == [v for v in rises if v > sent_vols[0]] or vols == rises, key
    # Quotes and depth carry the packets' values.
    assert {q["seg"] for q in quotes} >= {"IDX_I", "NSE_EQ", "NSE_FNO"}
    index_quotes = [q for q in quotes if q["seg"] == "IDX_I" and q["ltp"]]
    assert index_quotes and all(q["sid"] in (13, 25) for q in index_quotes)
    for dep in depth[:50]:
        best_bid, best_ask = dep["bids"][0][0], dep["asks"][0][0]
        assert best_bid < best_ask
    prev_closes = [q for q in quotes if q["src"] == 6]
    assert prev_closes, "prev-close packets at subscribe reach Redis"
    assert run.svc.decoder.stats.bad == 0


async def test_wrong_token_is_a_clean_auth_stop(sim_settings: Settings) -> None:
    common = {"key_prefix": sim_settings.redis.key_prefix, "sim_port": sim_settings.sim.port,
              "sim_token": "the-right-token",
              "nifty_strikes": 2, "banknifty_strikes": 1,
              "instruments_url": f"http://127.0.0.1:{sim_settings.sim.port}/api-scrip-master.csv"}
    good = make_settings(**common)
    bad = make_settings(**common, client_id="1000", access_token="a-wrong-token", feed_url=good.sim.url)
    async with SimServer(good):
        run = Running(FeedService(bad))
        code = await asyncio.wait_for(run.task, 20)
    assert code == 3  # AuthError: one line, no retry loop
    assert isinstance(run.svc.exit_error, Exception) and "809" in str(run.svc.exit_error)
    assert "a-wrong-token" not in str(run.svc.exit_error)


async def test_feed_uses_the_sim_token_when_set(sim_settings: Settings) -> None:
    guarded = make_settings(key_prefix=sim_settings.redis.key_prefix, sim_port=sim_settings.sim.port,
                            sim_token="guarded-token", nifty_strikes=1, banknifty_strikes=1,
                            instruments_url=f"http://127.0.0.1:{sim_settings.sim.port}/api-scrip-master.csv")
    async with SimServer(guarded):
        run = Running(FeedService(guarded))
        await eventually(lambda: run.svc.decoder.stats.packets > 10, timeout_s=20)
        assert await run.stop() == 0


async def test_disconnect_codes_stall_and_malformed(sim_settings: Settings, rclient: aioredis.Redis) -> None:
    async with SimServer(sim_settings) as sim:
        run = Running(FeedService(sim_settings))
        conn = None

        def connected() -> bool:
            nonlocal conn
            conn = run.svc.connections[0] if run.svc.connections else None
            return conn is not None and conn.connected.is_set()
        await eventually(connected, timeout_s=20)
        assert conn is not None
        # 805 (too many connections) is not fatal: reconnect and carry on
        await sim.inject_fault("disconnect", code=805)
        await eventually(lambda: conn.reconnects >= 1 and conn.connected.is_set(), timeout_s=20)
        # a silent socket trips the stall watchdog
        before = conn.reconnects
        await sim.inject_fault("stall", seconds=30)
        await eventually(lambda: conn.reconnects > before and conn.connected.is_set(), timeout_s=20,
                         message="stall watchdog reconnect")
        # malformed frames are counted, the feed keeps going
        frames = run.svc.decoder.stats.frames
        for variant in ("truncated", "unknown", "garbage"):
            await sim.inject_fault("malformed", variant=variant)
        await eventually(lambda: run.svc.decoder.stats.bad >= 2, timeout_s=10)
        await eventually(lambda: run.svc.decoder.stats.frames > frames + 20, timeout_s=10)
        assert not run.task.done()
        # the disconnect reason is recorded in the events stream
        async def reason_logged() -> bool:
            events = await _stream_events(rclient, sim_settings.redis.key_prefix + "events")
            return any(e["type"] == "disconnected" and e["reason_code"] == 805 for e in events)
        await eventually(reason_logged, timeout_s=5)
        # an expired token (807) stops the feed cleanly
        await sim.inject_fault("disconnect", code=807)
        code = await asyncio.wait_for(run.task, 20)
    assert code == 3 and "807" in str(run.svc.exit_error)


async def test_recentre_is_make_before_break(sim_settings: Settings, rclient: aioredis.Redis) -> None:
    async with SimServer(sim_settings) as sim:
        svc = FeedService(sim_settings)
        run = Running(svc)
        await eventually(lambda: svc.universe_changes >= 1, timeout_s=20, message="initial centre")
        assert svc.universe is not None
        before = set(svc.universe.keys())
        atm = svc.universe.atm["NIFTY"]
        real_prices = svc._prices
        svc._prices = lambda: {**real_prices(), "NIFTY": atm + 120}  # type: ignore[method-assign]
        change = await svc.recentre_once()
        svc._prices = real_prices  # type: ignore[method-assign]
        assert change is not None and "recentre" in change.reason
        added = {m.key for m in change.added}
        removed = {m.key for m in change.removed}
        assert added and removed and not (added & removed)
        assert all(m.info.underlying == "NIFTY" for m in change.added + change.removed)
        # every entering strike delivered its first packet before the leaving ones were unsubscribed
        assert {(SEGMENT_BY_NAME[s], i) for s, i in added} <= svc.normaliser.first_seen
        after = set(svc.universe.keys())
        assert after == (before | added) - removed
        # the simulator now serves exactly the new universe on the same connection (no reconnect)
        await eventually(lambda: sum(c["subscribed"] for c in sim.stats()["clients"]) == len(after), timeout_s=10)
        assert svc.connections[0].reconnects == 0
        hash_keys = {k.decode() for k in await rclient.hkeys(sim_settings.redis.key_prefix + "universe")}
        assert hash_keys == {f"{s}:{i}" for s, i in after}

        async def change_logged() -> bool:
            events = await _stream_events(rclient, sim_settings.redis.key_prefix + "events")
            return any(e["type"] == "universe_change" and "recentre" in e["reason"] for e in events)
        await eventually(change_logged, timeout_s=5)
        assert await run.stop() == 0


async def test_redis_outage_mid_stream_loses_no_trade(tmp_path) -> None:
    from tests.conftest import PrivateRedis

    red = PrivateRedis(tmp_path, persist=True)
    red.start()
    base = make_settings(redis_url=red.url, sim_rate=400.0, nifty_strikes=2, banknifty_strikes=1,
                         spool_dir=tmp_path / "spool", publish_buffer_max=1000)
    settings = base.replaced(instruments_url=f"http://127.0.0.1:{base.sim.port}/api-scrip-master.csv")
    sent: list[bytes] = []
    client = aioredis.Redis.from_url(red.url, socket_connect_timeout=0.5)
    try:
        async with SimServer(settings, recorder=lambda inst, pkt: sent.append(pkt)):
            run = Running(FeedService(settings))
            await eventually(lambda: run.svc.publisher is not None and run.svc.publisher.published[1] > 20,
                             timeout_s=20)
            red.stop()  # saves its data, then is gone
            n_sent = len(sent)
            await eventually(lambda: run.svc.publisher.errors > 0 and len(sent) > n_sent + 1500, timeout_s=30,
                             message="feed kept receiving while Redis was down")
            assert run.svc.publisher.spilled > 0  # past the memory bound, spilled to disk
            red.start()
            await eventually(lambda: run.svc.publisher.buffered == 0 and run.svc.publisher.spooled_files == 0
                             and run.svc.publisher.outage_started is None, timeout_s=30)
            assert await run.stop() == 0
        ticks = await _stream_events(client, settings.redis.key_prefix + "ticks")
    finally:
        await client.aclose()
        red.stop()
    got: dict[tuple[str, int], set[int]] = defaultdict(set)
    for t in ticks:
        got[(t["seg"], t["sid"])].add(t["volume"])
    dec = Decoder()
    expected: dict[tuple[str, int], set[int]] = defaultdict(set)
    last: dict[tuple[str, int], int] = {}
    for pkt in sent:
        for p in dec.decode(pkt):
            d = packet_as_dict(p)
            if "volume" not in d:
                continue
            key = (SEGMENT_BY_CODE[d["segment"]], d["security_id"])
            if key in last and d["volume"] > last[key]:
                expected[key].add(d["volume"])
            last[key] = max(last.get(key, -1), d["volume"])
    # every trade the feed received is in Redis (up to the last volume it handled per instrument)
    missing = {k: sorted(v for v in vols if v <= max(got.get(k, {0})) and v not in got.get(k, set()))
               for k, vols in expected.items()}
    assert not any(missing.values()), missing
    assert sum(len(v) for v in got.values()) > 100
