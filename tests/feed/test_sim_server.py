"""The simulator over a real WebSocket: authentication, limits, modes, unsubscribe, determinism, bad frames.

The simulated clock is a manual one: the market moves only when a test advances it, so every test knows
exactly when packets are produced and reads exactly what was sent (no fixed sleeps, no timing asserts).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import aiohttp
import orjson
import pytest
from structlog.testing import capture_logs

from feed.protocol.decode import Decoder, packet_as_dict
from feed.protocol.requests import build_disconnect, build_requests
from feed.sim.book import KIND_EQUITY, KIND_FUTURE, KIND_OPTION
from feed.sim.hostile import HOSTILE_OI
from shared.clock import IST, to_dhan_epoch
from tests.conftest import eventually, make_settings
from tests.feed.simclient import connect, expect_refusal, f32, pick, query, replies, running, step


# --- authentication ---
async def test_auth_any_token_when_unset_and_prev_close_snapshot_then_status_on_subscribe() -> None:
    async with running() as (sim, _clock, http):
        c = await connect(sim, http, token="whatever")
        fut = pick(sim, KIND_FUTURE, "NIFTY")
        wanted = [("IDX_I", 13), ("IDX_I", 25), ("NSE_EQ", 2885), *fut]
        await c.send(build_requests(wanted, "quote"))
        # per instrument: the previous close, then the current state in the mode (an index's value is a ticker,
        # a derivative's quote comes with its OI); the market status once, after them
        expected = [(6, 13), (2, 13), (6, 25), (2, 25), (6, 2885), (4, 2885), (6, fut[0][1]), (4, fut[0][1]),
                    (5, fut[0][1]), (7, 0)]
        await eventually(lambda: c.sent() >= len(expected))
        packets = c.decode(await c.read_sent())
        assert [(p[0], p[3]) for p in packets] == expected
        assert [(p[2], p[3]) for p in packets if p[0] == 6] == [(0, 13), (0, 25), (1, 2885), (2, fut[0][1])]
        prev = {p[3]: packet_as_dict(p) for p in packets if p[0] == 6}
        assert prev[13]["prev_close"] == pytest.approx(26_046.95, abs=0.01)
        assert prev[fut[0][1]]["prev_oi"] > 0 and prev[2885]["prev_oi"] == 0
        await c.send(build_requests([("NSE_EQ", 1333)], "quote"))
        await eventually(lambda: c.sent() >= len(expected) + 2)
        assert [p[0] for p in c.decode(await c.read_sent())] == [6, 4], "market status only once per connection"
        await c.ws.close()


async def test_auth_failures_send_dhans_disconnect_codes() -> None:
    async with running(sim_token="s3cret-token") as (sim, _clock, http):
        await expect_refusal(sim, http, 809, token="wrong")
        await expect_refusal(sim, http, 809, token="")
        await expect_refusal(sim, http, 808, token="s3cret-token", client_id=None)
        await expect_refusal(sim, http, 808, token="s3cret-token", client_id="")
        good = await connect(sim, http, token="s3cret-token")
        await good.send(build_requests([("IDX_I", 13)], "ticker"))
        await eventually(lambda: good.sent() == 3)
        assert sim.refused == {809: 2, 808: 2}
        await good.ws.close()


async def test_sixth_connection_per_token_gets_805() -> None:
    async with running() as (sim, _clock, http):
        clients = [await connect(sim, http, token="same") for _ in range(5)]
        await expect_refusal(sim, http, 805, token="same")
        other = await connect(sim, http, token="another")  # the limit is per token
        await clients[0].ws.close()
        await eventually(lambda: sim.stats()["connections"] == 5)
        again = await connect(sim, http, token="same")
        for c in [*clients[1:], other, again]:
            await c.ws.close()


async def test_expired_token_fault_807_until_cleared() -> None:
    async with running() as (sim, _clock, http):
        c = await connect(sim, http)
        assert await sim.inject_fault("expire") == 1
        msg = await c.ws.receive(timeout=10)
        assert packet_as_dict(Decoder().decode(msg.data)[0])["reason"] == 807
        assert (await c.ws.receive(timeout=10)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        await expect_refusal(sim, http, 807)
        await sim.inject_fault("clear")
        ok = await connect(sim, http)
        await ok.ws.close()


# --- requests and limits ---
async def test_request_limits_per_message_and_per_connection() -> None:
    async with running() as (sim, _clock, http):
        c = await connect(sim, http)
        too_many = orjson.dumps({"RequestCode": 17, "InstrumentCount": 101, "InstrumentList": [
            {"ExchangeSegment": "NSE_EQ", "SecurityId": str(i)} for i in range(1, 102)]}).decode()
        with capture_logs() as logs:
            await c.send([too_many])
            # 5,100 instruments (most not simulated) in frames of 100: only 5,000 are taken
            await c.send(build_requests([("NSE_EQ", 100_000 + i) for i in range(4_999)], "ticker"))
            rest = [("IDX_I", 13), ("NSE_EQ", 2885), *[("NSE_EQ", 200_000 + i) for i in range(99)]]
            await c.send(build_requests(rest, "ticker"))
            await eventually(lambda: sim.stats()["subscriptions"] == 5000)
            # the market status after the first subscription, then NIFTY's prev close and value (the 5,000th)
            await eventually(lambda: c.sent() == 3)
        packets = c.decode(await c.read_sent())
        assert [(p[0], p[3]) for p in packets] == [(7, 0), (6, 13), (2, 13)]
        events = [e["event"] for e in logs]
        assert events.count("subscription_limit") == 1
        assert any(e["event"] == "request_ignored" and "101 instruments" in e["why"] for e in logs)
        await c.ws.close()


async def test_bad_request_frames_are_ignored_and_the_connection_keeps_working() -> None:
    async with running() as (sim, clock, http):
        c = await connect(sim, http)
        bad = [
            "not json", "[1, 2]", '{"RequestCode": 99}', '{"RequestCode": 15, "InstrumentList": "x"}',
            '{"RequestCode": 15, "InstrumentCount": 1, '
            '"InstrumentList": [{"ExchangeSegment": "NOPE", "SecurityId": "1"}]}',
            '{"RequestCode": 15, "InstrumentCount": 1, '
            '"InstrumentList": [{"ExchangeSegment": "NSE_EQ", "SecurityId": "-1"}]}',
            '{"RequestCode": 15, "InstrumentCount": 2, "InstrumentList": []}', "", "{" * 70_000,
        ]
        with capture_logs() as logs:
            await c.send(bad)
            await c.ws.send_bytes(b"\x00\x01binary")
            await c.ws.send_bytes(b"\x00\x02binary")
            await c.send(build_requests([("NSE_EQ", 2885)], "full"))
            await eventually(lambda: c.sent() == 3)
        assert [p[0] for p in c.decode(await c.read_sent())] == [6, 8, 7]
        ignored = [e for e in logs if e["event"] == "request_ignored"]
        assert len(ignored) == len(bad) + 1, "each bad frame once; the two binary frames once together"
        assert sim.bad_requests == len(bad) + 2 and sim.stats()["bad_requests"] == len(bad) + 2
        await step(sim, clock)
        assert {p[0] for p in c.decode(await c.read_sent())} == {8}
        async with http.get(sim.http_url + "/health") as resp:
            assert (await resp.json())["status"] == "ok"
        await c.ws.close()


async def test_request_code_12_closes_the_connection() -> None:
    async with running() as (sim, _clock, http):
        c = await connect(sim, http)
        await c.send([build_disconnect()])
        msg = await c.ws.receive(timeout=10)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        await eventually(lambda: sim.stats()["connections"] == 0)


# --- packets per mode ---
def check_quote_like(d: dict[str, Any], lot: int, now: float) -> None:
    assert d["ltq"] > 0 and d["ltq"] % lot == 0
    assert d["low"] <= d["open"] <= d["high"] and d["low"] <= d["ltp"] <= d["high"]
    assert d["low"] <= d["atp"] <= d["high"]
    assert d["ltt"] <= to_dhan_epoch(now)


@pytest.mark.parametrize("mode", ["ticker", "quote", "full"])
async def test_updates_in_each_mode_match_the_model(mode: str) -> None:
    async with running() as (sim, clock, http):
        assert sim.market is not None
        c = await connect(sim, http)
        wanted = [("IDX_I", 13), ("NSE_EQ", 2885), *pick(sim, KIND_FUTURE, "NIFTY"),
                  *pick(sim, KIND_OPTION, "NIFTY", 4)]
        await c.send(build_requests(wanted, mode))
        await eventually(lambda: c.sent() == replies(sim, wanted, mode))
        await c.read_sent()
        volume: dict[int, int] = {}
        codes: dict[int, set[int]] = {}
        lots = {sid: sim.market.lookup(seg, sid).lot for seg, sid in  # type: ignore[union-attr]
                [(0, 13), (1, 2885), *[(2, s) for _, s in wanted[2:]]]}
        seg_of = {sid: seg for seg, sid in [(0, 13), (1, 2885), *[(2, s) for _, s in wanted[2:]]]}
        for _ in range(6):
            await step(sim, clock)
            last: dict[int, dict[str, Any]] = {}
            for p in c.decode(await c.read_sent()):
                d = packet_as_dict(p)
                if d["code"] != 5:
                    last[d["security_id"]] = d
                codes.setdefault(d["security_id"], set()).add(d["code"])
                if d["code"] == 2:
                    assert d["ltt"] == to_dhan_epoch(clock.t), "LTT: Dhan's shifted epoch of the sim clock"
                if d["code"] in (4, 8):
                    check_quote_like(d, lots[d["security_id"]], clock.t)
                    assert d["volume"] >= volume.get(d["security_id"], 0)
                    volume[d["security_id"]] = d["volume"]
                if d["code"] == 8:
                    assert 0 < d["bid_price1"] < d["ask_price1"] and d["oi_low"] <= d["oi"] <= d["oi_high"]
            for sid, d in last.items():  # the market stands still between steps: the last packet is its state
                inst = sim.market.lookup(seg_of[sid], sid)
                assert inst is not None and d["ltp"] == f32(inst.ltp)
                if d["code"] in (4, 8):
                    state = (inst.volume, inst.tbq, f32(inst.close))
                    assert (d["volume"], d["total_buy_qty"], d["close"]) == state
                if d["code"] == 8:
                    assert (d["oi"], d["bid_price1"]) == (inst.oi, f32(inst.bid_t * inst.tick))
        assert codes[13] == {2}, "an index sends ticker packets in every mode"
        derived = {s for _, s in wanted[2:]}
        expected = {"ticker": ({2}, {2}), "quote": ({4}, {4, 5}), "full": ({8}, {8})}[mode]
        assert codes[2885] == expected[0]
        assert set().union(*(codes[s] for s in derived if s in codes)) == expected[1]
        await c.ws.close()


async def test_unsubscribe_stops_updates() -> None:
    async with running() as (sim, clock, http):
        c = await connect(sim, http)
        fut = pick(sim, KIND_FUTURE, "NIFTY")
        await c.send(build_requests([*fut, ("NSE_EQ", 2885)], "full"))
        await eventually(lambda: c.sent() == 5)
        await c.read_sent()
        await step(sim, clock, times=3)
        assert {p[3] for p in c.decode(await c.read_sent())} == {fut[0][1], 2885}
        await c.send(build_requests(fut, "full", subscribe=False))
        await eventually(lambda: sim.stats()["subscriptions"] == 1)
        await step(sim, clock, times=3)
        assert {p[3] for p in c.decode(await c.read_sent())} == {2885}
        await c.ws.close()


async def test_same_seed_same_subscriptions_same_clock_same_bytes() -> None:
    async def session(seed: int) -> list[bytes]:
        recorded: list[bytes] = []
        async with running(seed=seed, recorder=lambda inst, pkt: recorded.append(pkt)) as (sim, clock, http):
            c = await connect(sim, http)
            wanted = [("IDX_I", 13), ("IDX_I", 25), *pick(sim, KIND_EQUITY, count=5), *pick(sim, KIND_FUTURE),
                      *pick(sim, KIND_OPTION, "NIFTY", 10)]
            await c.send(build_requests(wanted, "full"))
            await eventually(lambda: c.sent() == replies(sim, wanted, "full"))
            for _ in range(5):
                await step(sim, clock, 0.25)
            await c.read_sent()
            frames = list(c.frames)
            await c.ws.close()
        assert frames == recorded, "the recorder sees exactly what the client receives"
        return frames

    a, b, other = await session(5), await session(5), await session(6)
    assert len(a) > 300 and a == b
    assert a != other


# --- faults ---
async def test_fault_drop_is_an_abrupt_close() -> None:
    async with running() as (sim, _clock, http):
        c = await connect(sim, http)
        assert await sim.inject_fault("drop") == 1
        msg = await c.ws.receive(timeout=10)
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        assert c.ws.close_code != 1000
        await eventually(lambda: sim.stats()["connections"] == 0)


async def test_fault_disconnect_sends_the_code_then_closes() -> None:
    async with running() as (sim, _clock, http):
        c = await connect(sim, http)
        assert await sim.inject_fault("disconnect", code=806) == 1
        msg = await c.ws.receive(timeout=10)
        assert packet_as_dict(Decoder().decode(msg.data)[0])["reason"] == 806
        assert (await c.ws.receive(timeout=10)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_fault_stall_sends_nothing_until_it_ends() -> None:
    async with running() as (sim, clock, http):
        c = await connect(sim, http)
        await c.send(build_requests([("NSE_EQ", 2885)], "quote"))
        await eventually(lambda: c.sent() == 3)
        await c.read_sent()
        await sim.inject_fault("stall", seconds=600)
        sent = c.sent()
        await step(sim, clock, times=3)
        assert c.sent() == sent and sim.stats()["clients"][0]["stalled"]
        await sim.inject_fault("clear")
        await step(sim, clock)
        packets = c.decode(await c.read_sent())
        quotes = [packet_as_dict(p) for p in packets if p[0] == 4]
        assert quotes and all(q["ltt"] == to_dhan_epoch(clock.t) for q in quotes)
        await c.ws.close()


@pytest.mark.parametrize("variant,counter", [("truncated", "truncated"), ("unknown", "unknown"),
                                             ("garbage", "unknown")])
async def test_fault_malformed_message(variant: str, counter: str) -> None:
    async with running() as (sim, _clock, http):
        c = await connect(sim, http)
        assert await sim.inject_fault("malformed", variant=variant) == 1
        await eventually(lambda: c.sent() == 1)
        assert c.decode(await c.read_sent()) == []
        assert getattr(c.decoder.stats, counter) == 1
        await c.ws.close()


async def test_fault_endpoint_over_http() -> None:
    async with running(sim_token="tkn-1234", sim_faults=True) as (sim, _clock, http):
        c = await connect(sim, http, token="tkn-1234")
        async with http.post(sim.http_url + "/fault?kind=stall&seconds=1") as resp:
            assert resp.status == 403
        async with http.post(sim.http_url + "/fault?kind=boom&token=tkn-1234") as resp:
            assert resp.status == 400 and "unknown fault kind" in (await resp.json())["error"]
        async with http.post(sim.http_url + "/fault?kind=disconnect&code=807&token=tkn-1234") as resp:
            assert resp.status == 200 and await resp.json() == {"kind": "disconnect", "connections": 1}
        msg = await c.ws.receive(timeout=10)
        assert packet_as_dict(Decoder().decode(msg.data)[0])["reason"] == 807


async def test_plain_http_get_on_the_feed_path_explains_itself() -> None:
    async with running() as (sim, _clock, http), http.get(sim.http_url + "/") as resp:
        assert resp.status == 400 and "version=2" in await resp.text()


async def test_stop_closes_clients_with_going_away_and_turns_away_one_back_at_once() -> None:
    """The feed reconnects at once after a good session. One that came back while the simulator was stopping
    used to get a socket that said nothing, and the simulator's exit waited on it until the feed's stall
    watchdog gave up, 15 s later (aiohttp waits for open handlers up to a minute)."""
    async with running() as (sim, _clock, http):
        c = await connect(sim, http)
        closer = asyncio.create_task(sim.stop())
        msg = await c.ws.receive(timeout=10)
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1001
        await c.ws.close()
        with pytest.raises(aiohttp.ClientConnectionError):  # no longer listening
            await http.ws_connect(sim.url + query())
        await asyncio.wait_for(closer, 10)  # a hang guard: the stop owes nothing to any client


async def test_a_handshake_that_raced_the_stop_is_closed_at_once() -> None:
    async with running() as (sim, _clock, http):
        sim._stopping = True  # stop() has begun; this client's handshake was already under way
        ws = await http.ws_connect(sim.url + query())
        msg = await ws.receive(timeout=10)
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1001
        await ws.close()
        assert sim.stats()["clients"] == []  # never registered: nothing would be sent to it


def test_session_clock_open_starts_the_day_at_0915_ist() -> None:
    from feed.sim.server import session_clock

    real = [datetime(2026, 7, 15, 21, 40, 5, tzinfo=IST).timestamp()]
    clock = session_clock(make_settings(sim_session_clock="open"), base=lambda: real[0])
    assert datetime.fromtimestamp(clock(), IST) == datetime(2026, 7, 15, 9, 15, tzinfo=IST)
    real[0] += 90.0
    assert datetime.fromtimestamp(clock(), IST) == datetime(2026, 7, 15, 9, 16, 30, tzinfo=IST)
    wall = session_clock(make_settings(sim_session_clock="wall"), base=lambda: real[0])
    assert wall() == real[0]


async def test_fault_hostile_sends_every_bad_value_and_says_what_the_feed_should_count() -> None:
    from feed.normalise import Normaliser

    async with running(sim_token="tkn-1234", sim_faults=True) as (sim, clock, http):
        c = await connect(sim, http, token="tkn-1234")
        wanted = [("IDX_I", 13), *pick(sim, KIND_FUTURE, "NIFTY"), *pick(sim, KIND_OPTION, "NIFTY", count=2)]
        await c.send(build_requests(wanted, "full"))
        await step(sim, clock, times=3)
        norm = Normaliser()
        quotes: list[bytes] = []
        ticks: list[bytes] = []

        def feed(frames: list[bytes]) -> None:
            for f in frames:
                norm.feed_frame(c.decoder, f, clock.t, quotes, ticks, [])

        feed(await c.read_sent())
        assert norm.bad_total == 0 and ticks
        before = len(ticks)
        async with http.post(sim.http_url + "/fault?kind=hostile&count=2&token=tkn-1234") as resp:
            body = await resp.json()
        assert resp.status == 200 and body["connections"] == 1
        await eventually(lambda: c.sent() > len(c.frames))
        feed(await c.read_sent())
        sent = sim.stats()["hostile_sent"]
        assert body["hostile_sent"] == sent and set(sent) == set(norm.bad_values)  # every kind, for 2 instruments
        assert norm.bad_values == sent and all(n % 2 == 0 for n in sent.values())
        assert len(ticks) == before  # no bad value made a trade, nor did the duplicates
        assert HOSTILE_OI in {orjson.loads(q)["oi"] for q in quotes}  # OI above 2^31 passes whole
        await c.ws.close()


async def test_fault_hostile_count_is_checked() -> None:
    async with running(sim_token="tkn-1234", sim_faults=True) as (sim, _clock, http), \
            http.post(sim.http_url + "/fault?kind=hostile&count=0&token=tkn-1234") as resp:
        assert resp.status == 400 and "count" in (await resp.json())["error"]
