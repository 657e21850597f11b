"""What Dhan sends on subscribe and while the market is closed, over a real WebSocket: the current state of
every instrument in its mode (traded or not, and again on a mode change), then silence outside the sessions
(weekends, holidays, MCX's evening-only days), NSE's pre-open (books move, nothing trades), the day rolling at
the open, and the live-session rates as the update rate when ``DHAN_SIM_RATE`` is 0."""

from __future__ import annotations

from typing import Any

from feed.protocol.constants import SEGMENT_BY_CODE, SEGMENT_BY_NAME
from feed.protocol.decode import Packet, packet_as_dict
from feed.protocol.requests import build_requests
from feed.sim.book import KIND_EQUITY, KIND_FUTURE, KIND_INDEX, KIND_OPTION, SimInstrument
from feed.sim.server import SimServer
from shared.clock import to_dhan_epoch
from tests.clocks import ist
from tests.conftest import eventually
from tests.feed.simclient import Client, connect, f32, pick, running, step


def inst_of(sim: SimServer, wire: tuple[str, int]) -> SimInstrument:
    assert sim.market is not None
    found = sim.market.lookup(SEGMENT_BY_NAME[wire[0]], wire[1])
    assert found is not None
    return found


def option(sim: SimServer, strikes_out: int, call: bool = True) -> tuple[str, int]:
    """The nearest-expiry NIFTY option ``strikes_out`` strikes out of the money (negative: in the money)."""
    assert sim.market is not None
    f = sim.market.fnear["NIFTY"]
    opts = [i for i in sim.market.instruments.values()
            if i.kind == KIND_OPTION and i.underlying == "NIFTY" and i.expiry_rank == 0 and i.is_call == call]
    atm = min(opts, key=lambda i: abs(i.strike - f)).strike
    want = atm + (50 * strikes_out if call else -50 * strikes_out)
    inst = next(i for i in opts if i.strike == want)
    return (SEGMENT_BY_CODE[inst.segment], inst.security_id)


def by_instrument(packets: list[Packet]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for p in packets:
        out.setdefault(p[3], []).append(p[0])
    return out


def state_matches(d: dict[str, Any], inst: SimInstrument) -> None:
    """A snapshot packet carries the instrument's state as it is (the market stands still between steps)."""
    assert d["ltp"] == f32(inst.ltp) and d["ltt"] == inst.ltt
    if d["code"] in (4, 8):
        assert (d["volume"], d["ltq"], d["total_buy_qty"]) == (inst.volume, inst.ltq, inst.tbq)
        assert (d["open"], d["close"]) == (f32(inst.open), f32(inst.close))
    if d["code"] == 8:
        assert (d["oi"], d["bid_price1"], d["ask_price1"]) == (inst.oi, f32(inst.bid_t * inst.tick),
                                                                f32(inst.ask_t * inst.tick))


async def subscribed(c: Client, frames: list[str], packets: int) -> list[Packet]:
    await c.send(frames)
    await eventually(lambda: c.sent() >= packets)
    return c.decode(await c.read_sent())


async def test_every_instrument_gets_its_state_in_its_mode_on_subscribe_traded_or_not() -> None:
    async with running() as (sim, _clock, http):
        deep_itm, far_otm = option(sim, -12), option(sim, 15, call=False)
        fut, (stock_a, stock_b) = pick(sim, KIND_FUTURE, "NIFTY")[0], pick(sim, KIND_EQUITY, count=2)
        c = await connect(sim, http)
        frames = [*build_requests([("IDX_I", 13), stock_a], "ticker"), *build_requests([fut, deep_itm], "quote"),
                  *build_requests([stock_b, far_otm], "full")]
        packets = await subscribed(c, frames, 2 * 6 + 2 + 1)  # no clock step: nothing but the replies
        assert by_instrument(packets) == {
            13: [6, 2], stock_a[1]: [6, 2], fut[1]: [6, 4, 5], deep_itm[1]: [6, 4, 5], stock_b[1]: [6, 8],
            far_otm[1]: [6, 8], 0: [7]}
        for p in packets:
            d = packet_as_dict(p)
            if d["code"] in (2, 4, 8):
                state_matches(d, inst_of(sim, (SEGMENT_BY_CODE[d["segment"]], d["security_id"])))
            if d["code"] == 5:
                assert d["oi"] == inst_of(sim, (SEGMENT_BY_CODE[d["segment"]], d["security_id"])).oi > 0
        # a mode change is a subscription in the new mode: the state again, in that mode
        again = await subscribed(c, [*build_requests([deep_itm], "full"), *build_requests([fut], "ticker")],
                                 len(c.frames) + 4)
        assert by_instrument(again) == {deep_itm[1]: [6, 8], fut[1]: [6, 2]}
        await c.ws.close()


async def test_a_snapshot_quotes_the_current_price_of_an_instrument_that_has_not_traded() -> None:
    async with running() as (sim, clock, http):
        assert sim.market is not None
        atm = pick(sim, KIND_OPTION, "NIFTY")[0]
        inst = inst_of(sim, atm)
        ltt, volume, book = inst.ltt, inst.volume, (inst.bid_t, inst.ask_t)
        clock.t += 3600.0  # an hour with nothing subscribed: the market moves, this option sends nothing
        await eventually(lambda: sim.market is not None and sim.market.now == clock.t)
        c = await connect(sim, http)
        [_prev, snap, _status] = await subscribed(c, build_requests([atm], "full"), 3)
        d = packet_as_dict(snap)
        mid = sim.market.mid(inst, clock.t)
        assert (inst.bid_t, inst.ask_t) != book, "the market moved in an hour"
        assert d["bid_price1"] <= f32(mid) <= d["ask_price1"], "its book follows the market"
        assert (d["ltt"], d["volume"]) == (ltt, volume), "its last trade is still the last trade"
        await c.ws.close()


async def test_closed_market_sends_the_snapshot_then_nothing() -> None:
    saturday = ist(2026, 7, 18, 11, 0)
    async with running(t0=saturday, sim_market_hours=True) as (sim, clock, http):
        assert sim.market is not None and sim.stats()["session"] == {"NSE": "closed", "MCX": "closed"}
        wanted = [("IDX_I", 13), *pick(sim, KIND_EQUITY), *pick(sim, KIND_FUTURE, "NIFTY"),
                  *pick(sim, KIND_OPTION, "NIFTY", 2), *pick(sim, KIND_FUTURE, "GOLD")]
        c = await connect(sim, http)
        packets = await subscribed(c, build_requests(wanted, "full"), 2 * len(wanted) + 1)
        friday_close = {"NSE": ist(2026, 7, 17, 15, 30), "MCX": ist(2026, 7, 17, 23, 30)}
        for p in packets:
            d = packet_as_dict(p)
            if d["code"] in (2, 8):
                inst = inst_of(sim, (SEGMENT_BY_CODE[d["segment"]], d["security_id"]))
                # the last trade was just before the exchange's last close, in Dhan's shifted epoch
                assert d["ltt"] == to_dhan_epoch(friday_close[inst.exchange] - 1.0)
        for _ in range(5):
            clock.t += 600.0
            await eventually(lambda: sim.market is not None and sim.market.now == clock.t)
        assert sim.updates_count == 0 and c.sent() == len(packets)
        await c.ws.close()


async def test_pre_open_moves_books_without_trades_and_the_day_rolls_at_the_open() -> None:
    async with running(t0=ist(2026, 7, 18, 11, 0), sim_market_hours=True) as (sim, clock, http):
        fut, stock = pick(sim, KIND_FUTURE, "NIFTY")[0], pick(sim, KIND_EQUITY)[0]
        opt = pick(sim, KIND_OPTION, "NIFTY")[0]
        wanted = [("IDX_I", 13), fut, stock, opt]
        friday = {w[1]: (inst_of(sim, w).ltp, inst_of(sim, w).volume) for w in wanted}
        c = await connect(sim, http)
        await subscribed(c, build_requests(wanted, "full"), 2 * len(wanted) + 1)
        clock.t = ist(2026, 7, 20, 9, 5)  # Monday, pre-open
        await step(sim, clock, times=4)
        pre = [packet_as_dict(p) for p in c.decode(await c.read_sent())]
        assert {d["security_id"] for d in pre} == {fut[1], stock[1]}, "options and index values wait for 09:15"
        assert all(d["volume"] == friday[d["security_id"]][1] for d in pre), "nothing trades in pre-open"
        assert len({(d["bid_price1"], d["bid_qty1"], d["ask_qty1"]) for d in pre}) > 2, "the books move"
        clock.t = ist(2026, 7, 20, 9, 15, 1)
        await step(sim, clock, times=4)
        opened = [packet_as_dict(p) for p in c.decode(await c.read_sent())]
        assert {d["security_id"] for d in opened} >= {fut[1], stock[1], opt[1]}
        monday_open = to_dhan_epoch(ist(2026, 7, 20, 9, 15))
        for d in opened:
            if d["code"] == 8:  # a new day: Friday's last price is the close and the open, trades are Monday's
                assert d["close"] == d["open"] == f32(friday[d["security_id"]][0])
                assert d["ltt"] >= monday_open
        await c.ws.close()


async def test_a_holiday_keeps_nse_quiet_while_mcx_trades_its_evening_session() -> None:
    ganesh_chaturthi = ist(2026, 9, 14, 12, 0)  # NSE closed all day, MCX from 17:00
    async with running(t0=ganesh_chaturthi, sim_market_hours=True) as (sim, clock, http):
        gold, fut = pick(sim, KIND_FUTURE, "GOLD")[0], pick(sim, KIND_FUTURE, "NIFTY")[0]
        c = await connect(sim, http)
        await subscribed(c, build_requests([gold, fut, *pick(sim, KIND_EQUITY)], "full"), 7)
        clock.t += 3600.0
        await eventually(lambda: sim.market is not None and sim.market.now == clock.t)
        assert sim.updates_count == 0
        clock.t = ist(2026, 9, 14, 18, 0)
        await step(sim, clock, times=3)
        assert {p[3] for p in c.decode(await c.read_sent())} == {gold[1]}
        assert sim.stats()["session"] == {"NSE": "closed", "MCX": "open"}
        await c.ws.close()


async def test_rate_zero_runs_every_instrument_at_its_live_session_rate() -> None:
    async with running(sim_rate=0.0) as (sim, clock, http):
        assert sim.market is not None
        c = await connect(sim, http)
        wanted = [("IDX_I", 13), *pick(sim, KIND_FUTURE, "NIFTY"), *pick(sim, KIND_OPTION, "NIFTY", 6)]
        await subscribed(c, build_requests(wanted, "full"), 2 * len(wanted) + 1)
        clock.t += 10.0
        await eventually(lambda: sim.market is not None and sim.market.now == clock.t)
        rate = sim.market.rate_now
        # 1/s for the index, 4/s for the near future, up to 5/s for an option at the money
        assert rate == sum(sim.market.rate_of(inst_of(sim, w)) for w in wanted) and 10.0 < rate < 40.0
        assert sim.stats()["live_rate"] == round(rate, 2)
        assert sim.updates_count == int(rate * 1.0)  # a turn makes up at most a second of a paused clock
        assert sim.market.live_rate() == rate
        index = inst_of(sim, ("IDX_I", 13))
        assert index.kind == KIND_INDEX and sim.market.rate_of(index) == 1.0
        await c.ws.close()

