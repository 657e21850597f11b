"""Closing OI (007_oi_close.sql): the writer keeps each IST day's last received OI per instrument, forward
in receive time; the OI window reads the previous session's from it (viz.data.history.fetch_closing_oi)."""

from __future__ import annotations

from datetime import date, timedelta

import redis.asyncio as aioredis

from shared.clock import day_bounds, ist_trading_day
from shared.db import create_pool
from shared.settings import Settings
from viz.data.history import fetch_closing_oi

from .conftest import BASE_TS, drain, query, quote, xadd

DAY1 = ist_trading_day(BASE_TS)  # BASE_TS is a Dhan epoch; as true epoch it lies in the same IST day here
DAY2 = DAY1 + timedelta(days=1)
OPEN1 = day_bounds(DAY1)[0] + 9.5 * 3600  # 09:30 IST of day 1, true epoch
OPEN2 = day_bounds(DAY2)[0] + 9.5 * 3600


async def _rows(settings: Settings) -> list[tuple[int, date, int]]:
    rows = await query(settings, "SELECT security_id, trade_date, oi FROM dhan_oi_close ORDER BY 1, 2")
    return [(int(r[0]), r[1], int(r[2])) for r in rows]


async def test_the_day_keeps_its_last_received_oi(wsettings: Settings, wredis: aioredis.Redis) -> None:
    await xadd(wredis, wsettings, "quotes", [quote(1, oi=1000, volume=10, recv_ts=OPEN1)])
    await drain(wsettings)
    await xadd(wredis, wsettings, "quotes", [quote(1, oi=1200, volume=20, ts=BASE_TS + 60, recv_ts=OPEN1 + 60)])
    await drain(wsettings)
    assert await _rows(wsettings) == [(1, DAY1, 1200)]
    # an older quote delivered late (journal replay) does not move the close back
    await xadd(wredis, wsettings, "quotes", [quote(1, oi=900, volume=15, recv_ts=OPEN1 + 30)])
    # the last second of day 1 in IST (18:29:59.5 UTC) is still day 1; a quote without OI makes no row
    await xadd(wredis, wsettings, "quotes", [quote(2, oi=700, recv_ts=day_bounds(DAY2)[0] - 0.5),
                                            quote(3, oi=None, recv_ts=OPEN1)])
    await drain(wsettings)
    assert await _rows(wsettings) == [(1, DAY1, 1200), (2, DAY1, 700)]
    # the next day gets its own row; day 1's close stays
    await xadd(wredis, wsettings, "quotes", [quote(1, oi=1500, volume=5, ts=BASE_TS + 86_400, recv_ts=OPEN2)])
    await drain(wsettings)
    assert await _rows(wsettings) == [(1, DAY1, 1200), (1, DAY2, 1500), (2, DAY1, 700)]


async def test_previous_close_is_the_last_stored_day_before(wsettings: Settings, wredis: aioredis.Redis) -> None:
    await xadd(wredis, wsettings, "quotes", [quote(1, oi=1200, recv_ts=OPEN1), quote(2, oi=700, recv_ts=OPEN1)])
    await drain(wsettings)
    await xadd(wredis, wsettings, "quotes", [quote(1, oi=1500, volume=50, ts=BASE_TS + 86_400, recv_ts=OPEN2)])
    await drain(wsettings)
    pool = await create_pool(wsettings)
    try:
        keys = [("NSE_FNO", 1), ("NSE_FNO", 2), ("NSE_FNO", 9)]
        assert await fetch_closing_oi(pool, keys, DAY2) == {"NSE_FNO:1": 1200, "NSE_FNO:2": 700}
        # a day later (day 2 was a session for sid 1 only): sid 2 falls back to its own last session
        assert await fetch_closing_oi(pool, keys, DAY2 + timedelta(days=1)) == {"NSE_FNO:1": 1500, "NSE_FNO:2": 700}
        assert await fetch_closing_oi(pool, keys, DAY1) == {}
        assert await fetch_closing_oi(pool, [], DAY2) == {}
    finally:
        pool.close()
        await pool.wait_closed()
