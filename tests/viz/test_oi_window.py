"""``dhan viz oi`` offscreen on real Redis and MariaDB: the previous close from our own table, the day's
trades replayed by minute, the stored quotes, then live quotes through the seam; the lots toggle."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from shared.keys import Keys
from shared.settings import Settings
from tests.clocks import PinnedClock, ist
from tests.conftest import eventually
from tests.viz.helpers import OPEN, open_window, quote, record, run_qt, store, tick, write_universe, xadd

STRIKES = (25900.0, 26000.0, 26100.0)
FUT = 35001
YESTERDAY_CLOSE = OPEN - 86_400 + 6 * 3600  # 15:15 IST the day before


def chain_records() -> list[dict[str, Any]]:
    out = [record("NSE_FNO", FUT, "NIFTY-FUT", custom="NIFTY JUN FUT")]
    for i, k in enumerate(STRIKES):
        for j, t in enumerate(("CE", "PE")):
            out.append(record("NSE_FNO", 50 + 2 * i + j, f"NIFTY-{k:.0f}-{t}", role="option", instrument="OPTIDX",
                              strike=k, option_type=t, custom=f"NIFTY {k:.0f} {t}"))
    return out


def with_oi(ev: dict[str, Any], oi: int) -> dict[str, Any]:
    ev["oi"] = oi
    return ev


async def store_day(settings: Settings, redis: aioredis.Redis) -> None:
    """Yesterday's closes (none for the 26100 put), today's trades, today's latest quotes."""
    opts = chain_records()[1:]
    await write_universe(redis, Keys(settings.redis.key_prefix), chain_records())
    await store(settings, redis, "quotes", [
        quote("NSE_FNO", o["sid"], 100.0, ets=YESTERDAY_CLOSE, oi=7500 if o["option_type"] == "CE" else 15000)
        for o in opts if o["sid"] != 55
    ])
    ticks = []
    for o in opts:  # two trades each: minute 1 and minute 2 of the session
        ticks.append(with_oi(tick("NSE_FNO", o["sid"], 75, 101.0, 75, OPEN + 60), 9000))
        ticks.append(with_oi(tick("NSE_FNO", o["sid"], 150, 102.0, 75, OPEN + 125),
                             15000 if o["option_type"] == "CE" else 12000))
    await store(settings, redis, "ticks", ticks)
    await store(settings, redis, "quotes", [quote("NSE_FNO", FUT, 26040.0, close=26000.0, ets=OPEN + 130)] + [
        quote("NSE_FNO", o["sid"], 120.0 if o["option_type"] == "CE" else 80.0, close=100.0, volume=150,
              ets=OPEN + 125, oi=15000 if o["option_type"] == "CE" else 12000, prev_oi=3700)
        for o in opts
    ])


def test_oi_window(sync_db: Settings, qt_state: Any) -> None:
    from viz.windows.oi import OiWindow

    settings = sync_db

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        await store_day(settings, redis)
        clock = PinnedClock(ist(2026, 5, 29, 12, 0))
        async with open_window(OiWindow, settings, clock=clock) as w:
            await eventually(lambda: w.loaded.is_set(), timeout_s=20)
            table = w.model.table("quantity")
            assert table.strikes.tolist() == list(STRIKES)
            # from our stored close (7,500), not the exchange's prev_oi (3,700) nor today's first trade (9,000)
            assert table.call_change.tolist() == [7500.0] * 3 and table.call_change_pct.tolist() == [100.0] * 3
            assert table.put_change.tolist() == [-3000.0, -3000.0, 12000 - 3700]  # 26100 put: no stored close
            assert table.put_base_source == ("stored", "stored", "exchange")
            text = w.header.text()
            assert "PCR (OI) <b>0.80</b>" in text and "ATM 26,000" in text  # 36,000 / 45,000
            assert "from our stored close: 5, from the exchange's previous OI: 1" in text
            cells = [w.table_model.rows[1][c][0] for c in range(9)]
            assert cells == ["long build-up", "15,000", "+7,500", "+100.00%", "26,000", "-20.00%", "-3,000", "12,000",
                             "long unwinding"]
            # the day so far: minutes 1 and 2 from the trades (PCR 1.00 then 0.80), the quotes' minute after
            assert w.day.minutes[:2] == [OPEN + 60, OPEN + 120]
            assert w.day.pcr_oi[:2] == [1.0, 0.8]
            # lots (lot size 75 from the universe)
            w.unit_box.set_value("lots")
            await eventually(lambda: (w.frame(), w.table_model.rows[1][2][0])[1] == "+100", message="lots shown")
            # live: the 26000 call's OI doubles from the close
            await xadd(redis, w.keys.quotes, [quote("NSE_FNO", 52, 130.0, close=100.0, volume=300,
                                                    ets=OPEN + 3600, oi=22500)])
            await eventually(lambda: (w.frame(), w.table_model.rows[1][2][0])[1] == "+200", message="live OI shown")
            assert w.day.minutes[-1] == OPEN + 3600 and w.day.pcr_oi[-1] == 36000 / 52500
            # a quote dated tomorrow while the clock still says today changes no session
            first = w.model
            await xadd(redis, w.keys.quotes, [quote("NSE_FNO", 54, 1.0, volume=1, ets=OPEN + 86_400, oi=1)])
            await eventually(lambda: w.model.sides["NSE_FNO:54"].oi == 1, message="tomorrow's quote applied")
            assert w.model is first and w.day.minutes[-1] == OPEN + 3600
            # the next morning: the next day's first quote starts the window on the new session
            clock.set(ist(2026, 5, 30, 9, 16))
            await xadd(redis, w.keys.quotes, [quote("NSE_FNO", 54, 2.0, volume=2, ets=OPEN + 86_400 + 60, oi=2)])
            await eventually(lambda: w.model is not first and w.loaded.is_set(), message="new session")
            assert w._day == OPEN // 86_400 + 1
        await redis.aclose()

    run_qt(scenario)
