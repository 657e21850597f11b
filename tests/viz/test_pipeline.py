"""The windows on the real stack: simulator -> feed -> Redis -> writer -> MySQL, all running while they load.

The writer commits concurrently with the window's history read and catch-up, so the seam is exercised in
whatever interleaving the scheduler produces. At the end the feed stops, the writer drains, and the
window's trades must equal ``dhan_ticks`` exactly: the same cumulative volumes, once each, in order.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import redis.asyncio as aioredis

from shared.db import create_pool
from shared.keys import Keys
from shared.settings import Settings
from tests.clocks import ist, running_from
from tests.conftest import eventually, make_settings
from tests.viz.helpers import open_window, run_qt

SESSION = date(2026, 6, 3)  # a Wednesday: the stack and the windows all run on this day's clock


async def mysql_ticks(settings: Settings, seg: str, sid: int) -> list[int]:
    pool = await create_pool(settings, maxsize=1)
    try:
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(
                "SELECT cum_volume FROM dhan_ticks WHERE exchange_segment=%s AND security_id=%s "
                "AND trade_date=%s ORDER BY cum_volume",
                (seg, sid, SESSION),
            )
            rows = await cur.fetchall()
            await conn.rollback()
            return [int(r[0]) for r in rows]
    finally:
        pool.close()
        await pool.wait_closed()


async def writer_idle(redis: aioredis.Redis, keys: Keys) -> bool:
    for kind in ("ticks", "quotes"):
        for g in await redis.xinfo_groups(keys.stream(kind)):
            if g["pending"] or g.get("lag"):
                return False
    return True


def test_windows_on_the_running_stack(sync_db: Settings, qt_state: Any) -> None:
    from feed.service import FeedService
    from feed.sim.server import SimServer
    from viz.windows.quote_board import QuoteBoardWindow
    from viz.windows.volume_profile import VolumeProfileWindow
    from writer.service import WriterService

    settings = make_settings(
        mysql_url=sync_db.mysql.url.get_secret_value(),
        key_prefix=sync_db.redis.key_prefix,
        writer_batch_ms=20,
        include_nifty50=False,
        nifty_strikes=2,
        banknifty_strikes=1,
    )

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        keys = Keys(settings.redis.key_prefix)
        clock = running_from(ist(SESSION.year, SESSION.month, SESSION.day, 9, 20), speed=20.0)
        sim = SimServer(settings, clock=clock, rate=150)
        await sim.start()
        feed, writer = FeedService(settings, today=SESSION), WriterService(settings, clock=clock)
        tasks = [asyncio.create_task(s.serve(), name=s.name) for s in (feed, writer)]
        try:
            async with (open_window(VolumeProfileWindow, settings, clock=clock) as vp,
                        open_window(QuoteBoardWindow, settings, clock=clock) as qb):
                await eventually(lambda: vp.loaded.is_set() and qb.loaded.is_set(), timeout_s=60)
                inst = vp.instrument
                assert inst is not None and inst.underlying == "NIFTY" and inst.instrument.startswith("FUT")
                start = len(vp.ticks)
                await eventually(lambda: len(vp.ticks) > start + 100, timeout_s=60, message="live trades flow")
                feed.stop("test")
                await asyncio.wait_for(tasks[0], 30)
                await eventually(lambda: writer_idle(redis, keys), timeout_s=60, message="writer drained")
                stored = await mysql_ticks(settings, inst.seg, inst.sid)
                await eventually(lambda: len(vp.ticks) >= len(stored), timeout_s=30)
                assert vp.ticks.cum_volume.tolist() == stored  # no gap, no double count, in order
                vp.frame()
                assert vp.stats is not None and vp.stats.total == int(vp.ticks.qty.sum())
                assert (vp.ticks.qty[1:] == vp.ticks.cum_volume[1:] - vp.ticks.cum_volume[:-1]).all()
                qb.frame()
                row = qb.board.rows[inst.key]
                assert row.volume == stored[-1]  # the board's day volume is the last trade's cumulative volume
        finally:
            for s in (feed, writer):
                s.stop("test")
            await asyncio.gather(*tasks, return_exceptions=True)
            await sim.stop()
            await redis.aclose()

    run_qt(scenario, timeout_s=240)
