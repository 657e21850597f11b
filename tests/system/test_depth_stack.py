"""Depth end to end on the real stack: simulator (frozen clock) -> feed's depth sockets -> dhan:depth20 ->
writer -> MySQL. The latest book per instrument in dhan_depth20, unpacked, is the simulator's book model at
20 (and 200) levels, and the sampled history holds a book of each."""

from __future__ import annotations

import asyncio
import time

import pytest

from feed.fulldepth.select import auto_instruments
from feed.protocol.constants import SEGMENT_BY_NAME
from feed.service import FeedService
from feed.sim.book import KIND_FUTURE
from feed.sim.server import SimServer
from shared.db import init_schema
from shared.depth_pack import unpack
from shared.settings import Settings
from tests.conftest import eventually
from tests.feed.simclient import ManualClock
from tests.writer.conftest import query
from writer.service import WriterService


async def test_depth_books_reach_mysql_as_the_simulator_built_them(db_settings: Settings) -> None:
    base = db_settings.replaced(depth20_enabled=True, nifty_strikes=3, banknifty_strikes=3, include_nifty50=False,
                                stall_timeout_s=60.0, instruments_url=(
                                    f"http://127.0.0.1:{db_settings.sim.port}/api-scrip-master.csv"))
    await init_schema(base)
    sim = SimServer(base, clock=ManualClock(time.time()))
    await sim.start()
    assert sim.market is not None
    future = min((i for i in sim.market.instruments.values() if i.kind == KIND_FUTURE and i.underlying == "NIFTY"),
                 key=lambda i: (i.expiry_key, i.security_id))
    settings = base.replaced(depth200_instrument=f"NSE_FNO:{future.security_id}")
    feed, writer = FeedService(settings), WriterService(settings)
    tasks = [asyncio.create_task(s.serve(), name=s.name) for s in (feed, writer)]
    try:
        await eventually(lambda: feed.universe is not None and len(feed.universe.atm) == 2, timeout_s=30)
        assert feed.universe is not None
        wanted = {(seg, sid, 20) for seg, sid in auto_instruments(feed.universe)} | {
            ("NSE_FNO", future.security_id, 200)}

        async def stored() -> bool:
            rows = await query(settings, "SELECT exchange_segment, security_id, levels FROM dhan_depth20")
            return set(rows) >= wanted
        await eventually(stored, timeout_s=60, message="every auto instrument's book and the 200-level one stored")
        latest = await query(settings, "SELECT exchange_segment, security_id, levels, seq, book FROM dhan_depth20")
        sampled = await query(settings, "SELECT DISTINCT exchange_segment, security_id, levels "
                                         "FROM dhan_depth20_history")
    finally:
        for s in (feed, writer):
            s.stop("test")
        await asyncio.gather(*tasks, return_exceptions=True)
        await sim.stop()
    assert {(s, i, n) for s, i, n, _, _ in latest} == wanted and set(sampled) == wanted
    for seg, sid, levels, seq, blob in latest:
        inst = sim.market.lookup(SEGMENT_BY_NAME[seg], sid)
        assert inst is not None and inst.deep is not None
        bids, asks = unpack(blob)
        for got, bid in ((bids, True), (asks, False)):
            want = inst.deep.rows(inst, bid=bid, levels=levels)
            assert [(q, o) for _, q, o in got] == [(q, o) for _, q, o in want], (seg, sid, levels)
            assert [p for p, _, _ in got] == pytest.approx([p for p, _, _ in want], abs=1e-6)
        assert seq == (inst.deep.sequence if levels == 20 else 0)
