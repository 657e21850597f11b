"""Gap ledger bands on the charts, offscreen on real Redis and MariaDB: rows in ``dhan_gaps`` become shaded
regions on the tick chart, the volume-profile chart and the market breadth line, at the right x."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pyqtgraph as pg
import pytest
import redis.asyncio as aioredis

from shared.clock import IST_OFFSET_S
from shared.keys import Keys
from shared.settings import Settings
from tests.clocks import PinnedClock, ist
from tests.conftest import eventually
from tests.viz.helpers import OPEN, open_window, quote, run_qt, store, tick, write_universe
from tests.viz.test_windows_latest import STOCKS, stock_record
from tests.viz.test_windows_price import FUT, OTHER, SEG, SID, walk

STEP_S = 7  # seconds between the seeded trades (helpers.ticks_run)


async def insert_gaps(settings: Settings, rows: list[tuple[Any, ...]]) -> None:
    """``(gap_key, seg, sid, conn, kind, start_ts, end_ts)`` rows, times in true epoch seconds."""
    import aiomysql

    conn = await aiomysql.connect(**settings.mysql.target.connect_kwargs())
    try:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO dhan_gaps (gap_key, exchange_segment, security_id, conn, kind, start_ts, end_ts, reason) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, 'test')", rows)
        await conn.commit()
    finally:
        conn.close()


def _true(exchange_ts: float) -> float:
    return exchange_ts - IST_OFFSET_S


def bands_of(plot: pg.PlotItem) -> list[tuple[float, float]]:
    return sorted(tuple(item.getRegion()) for item in plot.items
                  if isinstance(item, pg.LinearRegionItem) and item.isVisible())


def _shots() -> Path | None:
    """Where to keep the PNGs for a person to look at (``DHAN_TEST_SHOTS``), else nowhere."""
    where = os.environ.get("DHAN_TEST_SHOTS")
    return Path(where) if where else None


async def grab(w: Any, path: Path) -> None:
    w.frame()
    w.refresh_status()
    for _ in range(3):  # the loop runs Qt's layout and paint events meanwhile
        await asyncio.sleep(0.05)
    assert w.grab().save(str(path))


def test_tick_chart_and_profile_chart_shade_the_ledgers_gaps(sync_db: Settings, qt_state: Any) -> None:
    from viz.windows.tick_chart import TickChartWindow
    from viz.windows.volume_profile_chart import VolumeProfileChartWindow

    settings = sync_db
    trades = [tick(SEG, SID, 50 * (i + 1), p, 50, OPEN + i * STEP_S, "BS"[i % 2]) for i, p in enumerate(walk(200))]
    # no trade for 10 minutes after the 100th: the feed was down (a closed disconnect between two bars)
    for t in trades[100:]:
        t["exchange_ts"] += 600
    last_ets = trades[-1]["exchange_ts"]

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        await write_universe(redis, Keys(settings.redis.key_prefix), [FUT, OTHER])
        await store(settings, redis, "ticks", trades)
        hole = (_true(trades[99]["exchange_ts"] + 2.5), _true(trades[100]["exchange_ts"] - 1.5))
        await insert_gaps(settings, [
            ("t-hole", None, None, 0, "disconnect", *hole),
            ("t-out", SEG, SID, None, "universe_out", _true(last_ets + 30), None),   # open: out since then
            ("t-other", SEG, 35002, None, "universe_out", _true(OPEN + 100), _true(OPEN + 200)),  # not ours
            ("t-in", SEG, SID, None, "universe_in", _true(OPEN + 50), _true(OPEN + 50)),  # a marker, not a hole
        ])
        clock = PinnedClock(ist(2026, 6, 3, 10, 30))  # days after the session; nothing traded today
        async with open_window(TickChartWindow, settings, instrument="NIFTY JUN FUT", clock=clock) as w:
            w.n_box.set_value(25)
            await eventually(lambda: w.loaded.is_set() and len(w.gaps) == 3, timeout_s=20, message="gaps read")
            w.frame()
            (seam_lo, seam_hi), (open_lo, open_hi) = bands_of(w.price_plot)
            assert (seam_lo + seam_hi) / 2 == pytest.approx(3.5)  # trade 99 ends bar 3, trade 100 starts bar 4
            assert seam_hi - seam_lo == pytest.approx(0.3)        # narrow, between the bodies
            assert open_lo == pytest.approx(7.5) and open_hi > 7.5 + 10  # past the last bar (7), to "now"
            assert bands_of(w.volume_plot) == bands_of(w.price_plot)
            labels = sorted(label.toPlainText() for label in w.gap_bands.labels if label.isVisible())
            assert labels == ["disconnect", "universe_out (OPEN)"]
            # the status line speaks of today: of the shown session's gaps only the open one reaches it, and
            # only today's part of it counts (midnight to 10:30)
            assert w.status_model.gaps == "GAPS today: 1 (37,800 s), last universe_out 09:48:43-now (OPEN)"
            if (shots := _shots()) is not None:
                w.price_plot.setXRange(-0.6, 10, padding=0)
                w.following = False
                w.resize(1100, 640)
                await grab(w, shots / "tick-chart-gaps.png")
        async with open_window(VolumeProfileChartWindow, settings, instrument="NIFTY JUN FUT") as w:
            w.period_box.set_value(5)
            await eventually(lambda: w.loaded.is_set() and len(w.gaps) == 3, timeout_s=20, message="gaps read")
            w.frame()
            starts = [p.start_ts - OPEN for p in w.model.periods]
            assert starts == [0, 300, 600, 1200, 1500, 1800]  # 09:30 had no trade: columns 2 and 3 meet at x = 3
            # 695.5 s is 95.5 s into the 09:25 column (x 2-3), 1298.5 s is 98.5 s into 09:35's (x 3-4); the
            # open gap from 2023 s (223 s into the last column) runs to its right edge, left of the session profile
            (seam_lo, seam_hi), (open_lo, open_hi) = bands_of(w.plot)
            assert (seam_lo, seam_hi) == pytest.approx((2 + 95.5 / 300, 3 + 98.5 / 300))
            assert (open_lo, open_hi) == pytest.approx((5 + 223 / 300, 6.0))
            assert open_hi < w.session_x()
            if (shots := _shots()) is not None:
                await grab(w, shots / "volume-profile-chart-gaps.png")
        await redis.aclose()

    run_qt(scenario)


def test_market_breadth_shades_the_feeds_outages(sync_db: Settings, qt_state: Any) -> None:
    from viz.windows.market_breadth import MarketBreadthWindow

    settings = sync_db

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        await write_universe(redis, Keys(settings.redis.key_prefix), [stock_record(*s) for s in STOCKS])
        await store(settings, redis, "ticks", [tick("NSE_EQ", 100 + m % 3, 10 * (m + 1), 100.0 + m % 5, 10,
                                                      OPEN + 60 * m + 5) for m in range(30)])
        await store(settings, redis, "quotes", [quote("NSE_EQ", 100 + i, 101.0, close=100.0, ets=OPEN + 1805)
                                                for i in range(3)])
        today = ist(2026, 6, 3)  # days after the line's session
        await insert_gaps(settings, [
            ("b-stall", None, None, 1, "stall", _true(OPEN + 600), _true(OPEN + 720)),
            ("b-inst", SEG, SID, None, "universe_out", _true(OPEN + 300), _true(OPEN + 400)),  # not feed-wide
            ("b-today", None, None, 0, "disconnect", today + 36_000, today + 36_060),  # 10:00 IST today
        ])
        async with open_window(MarketBreadthWindow, settings, clock=PinnedClock(today + 37_800)) as w:
            # before the line has minutes it is today's; then the line's day's stall
            await eventually(lambda: w.loaded.is_set() and [g.kind for g in w.gaps] == ["stall"], timeout_s=20,
                             message="the line's day's gaps read")
            w.frame()
            assert bands_of(w.plot) == [(OPEN + 600, OPEN + 720)]  # on the exchange-time axis: the line's day
            assert w.status_model.gaps == "GAPS today: 1 (60 s), last disconnect 10:00:00-10:01:00"
            if (shots := _shots()) is not None:
                await grab(w, shots / "market-breadth-gaps.png")
        await redis.aclose()

    run_qt(scenario)
