"""MySQL history reads, on rows stored through the writer's own path."""

from __future__ import annotations

import redis.asyncio as aioredis

from shared.db import create_pool
from shared.settings import Settings
from tests.viz.helpers import OPEN, depth_event, greeks_event, quote, store, tick
from viz.data import history
from viz.data.seam import date_day

Env = tuple[Settings, aioredis.Redis]


async def test_quotes_greeks_depth(viz_db: Env) -> None:
    settings, redis = viz_db
    await store(
        settings,
        redis,
        "quotes",
        [
            quote("NSE_EQ", 11, 101.5, close=100.0, volume=500, bid=101.45, ask=101.55),
            quote("NSE_EQ", 12, 55.25, close=56.0, oi=None),
            quote("NSE_FNO", 11, 26010.3, close=25990.0, oi=1000, prev_oi=900),
        ],
    )
    pool = await create_pool(settings, maxsize=1)
    try:
        q = await history.fetch_quotes(pool)
        assert set(q) == {"NSE_EQ:11", "NSE_EQ:12", "NSE_FNO:11"}  # the same id in two segments
        assert q["NSE_EQ:11"]["ltp"] == 101.5 and q["NSE_EQ:11"]["prev_close"] == 100.0
        assert q["NSE_EQ:11"]["bid"] == 101.45 and q["NSE_FNO:11"]["oi"] == 1000 and q["NSE_FNO:11"]["prev_oi"] == 900
        some = await history.fetch_quotes(pool, [("NSE_FNO", 11)])
        assert list(some) == ["NSE_FNO:11"] and await history.fetch_quotes(pool, []) == {}

        await store(settings, redis, "greeks", [greeks_event("NSE_FNO", 50, 26000.0, "CE", 0.1234)])
        g = await history.fetch_greeks(pool, [("NSE_FNO", 50), ("NSE_FNO", 51)])
        assert list(g) == ["NSE_FNO:50"] and g["NSE_FNO:50"]["iv"] == 0.1234
        assert g["NSE_FNO:50"]["strike"] == 26000.0 and g["NSE_FNO:50"]["expiry"] == "2026-06-25"

        await store(settings, redis, "depth", [depth_event("NSE_FNO", 11, 26010.0)])
        d = await history.fetch_depth(pool, "NSE_FNO", 11)
        assert d is not None and d["bids"][0] == [26009.95, 100, 1] and d["asks"][4] == [26010.25, 450, 6]
        assert await history.fetch_depth(pool, "NSE_FNO", 99) is None
    finally:
        pool.close()
        await pool.wait_closed()


async def test_breadth_minutes_and_trade_dates(viz_db: Env) -> None:
    settings, redis = viz_db
    await store(
        settings,
        redis,
        "ticks",
        [
            tick("NSE_EQ", 1, 10, 100.0, 10, OPEN + 5),
            tick("NSE_EQ", 1, 20, 101.0, 10, OPEN + 50),
            tick("NSE_EQ", 1, 30, 99.0, 10, OPEN + 61),
            tick("NSE_EQ", 2, 5, 50.0, 5, OPEN + 10),
            tick("NSE_EQ", 3, 5, 70.0, 5, OPEN + 10),
        ],
    )
    pool = await create_pool(settings, maxsize=1)
    try:
        day = await history.latest_trade_date(pool, "NSE_EQ", 1)
        assert day is not None and date_day(day) == OPEN // 86_400
        assert await history.latest_trade_date(pool, "NSE_EQ", 9) is None
        rows = await history.fetch_breadth_minutes(pool, [("NSE_EQ", 1), ("NSE_EQ", 2)], day)
        minute0 = OPEN - OPEN % 60
        assert sorted(rows) == [
            ("NSE_EQ:1", minute0, 101.0),
            ("NSE_EQ:1", minute0 + 60, 99.0),
            ("NSE_EQ:2", minute0, 50.0),
        ]
        ticks = await history.fetch_ticks(pool, "NSE_EQ", 1, day)
        assert ticks.cum_volume.tolist() == [10, 20, 30] and ticks.price.tolist() == [100.0, 101.0, 99.0]
    finally:
        pool.close()
        await pool.wait_closed()
