"""``dhan viz straddle`` offscreen on real Redis and MariaDB: the day's stored trades (future path, then the
legs of the strikes it made ATM), the stored quotes and greeks, then live quotes, with no double count."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from shared.keys import Keys
from shared.settings import Settings
from tests.clocks import PinnedClock, ist
from tests.conftest import eventually
from tests.viz.helpers import (
    OPEN,
    greeks_event,
    open_window,
    quote,
    record,
    run_qt,
    store,
    tick,
    write_universe,
    xadd,
)

STRIKES = (25900.0, 26000.0, 26100.0)
FUT = 35001


def chain_records() -> list[dict[str, Any]]:
    out = [record("NSE_FNO", FUT, "NIFTY-FUT")]
    for i, k in enumerate(STRIKES):
        for j, t in enumerate(("CE", "PE")):
            out.append(record("NSE_FNO", 50 + 2 * i + j, f"NIFTY-{k:.0f}-{t}", role="option", instrument="OPTIDX",
                              strike=k, option_type=t))
    return out


async def store_day(settings: Settings, redis: aioredis.Redis) -> None:
    await write_universe(redis, Keys(settings.redis.key_prefix), chain_records())
    await store(settings, redis, "ticks", [
        tick("NSE_FNO", FUT, 100, 26040.0, 100, OPEN),  # ATM 26000
        tick("NSE_FNO", 52, 75, 120.0, 75, OPEN + 10),  # 26000 CE: no put price yet, volume not counted
        tick("NSE_FNO", 53, 75, 100.0, 75, OPEN + 12),  # 26000 PE: straddle 220, 75 counted
        tick("NSE_FNO", 50, 75, 200.0, 75, OPEN + 13),  # 25900 CE: never ATM
        tick("NSE_FNO", FUT, 200, 26090.0, 100, OPEN + 60),  # ATM 26100: a move
        tick("NSE_FNO", 54, 75, 90.0, 75, OPEN + 61),  # 26100 CE: no put price yet
        tick("NSE_FNO", 55, 150, 140.0, 150, OPEN + 62),  # 26100 PE: straddle 230, 150 counted
    ])
    # the latest stored quotes: the 26100 put's is older than its stored trade (the seam drops it)
    await store(settings, redis, "quotes", [quote("NSE_FNO", 54, 90.0, volume=75, ets=OPEN + 61),
                                            quote("NSE_FNO", 55, 999.0, volume=0, ets=OPEN + 30)])
    # yesterday's last quote of the 25900 call (its day volume 1e9): it must not block today's volume
    await store(settings, redis, "quotes", [quote("NSE_FNO", 50, 1.0, volume=10**9, ets=OPEN - 86_400)])
    await store(settings, redis, "greeks", [greeks_event("NSE_FNO", 54, 26100.0, "CE", 0.15, ets=OPEN + 65),
                                            greeks_event("NSE_FNO", 55, 26100.0, "PE", 0.17, ets=OPEN + 65)])


def test_straddle_window(sync_db: Settings, qt_state: Any) -> None:
    from viz.windows.straddle import StraddleWindow

    settings = sync_db

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        await store_day(settings, redis)
        async with open_window(StraddleWindow, settings, clock=PinnedClock(ist(2026, 5, 29, 12, 0))) as w:
            await eventually(lambda: w.loaded.is_set(), timeout_s=20)
            model = w.model
            s = model.series()
            assert model.atm() == 26100.0 and s.premium[-1] == 230.0
            assert s.vwap[-1] == (220.0 * 75 + 230.0 * 150) / 225
            assert int(s.moved.sum()) == 1 and s.ts[s.moved].tolist() == [OPEN + 60]
            assert abs(s.iv[-1] - 0.16) < 1e-12  # the stored greeks: (0.15 + 0.17) / 2
            assert w.history_rows == 6  # the future's 2 and the 4 legs of 26000 and 26100; not 25900's
            text = w.header.text()
            assert "ATM <b>26,100</b>" in text and "straddle <b>230.00</b>" in text and "ATM moved 1 times" in text
            assert "ATM IV 16.00%" in text
            _, ys = w.premium_curve.getData()
            assert ys[-1] == 230.0 and len(w.moves.getData()[0]) == 1
            # live: the put trades 150 more at 150 -> straddle 240, VWAP over 375
            await xadd(redis, w.keys.quotes, [quote("NSE_FNO", 55, 150.0, volume=300, ets=OPEN + 120)])
            await eventually(lambda: len(model) and model.series().premium[-1] == 240.0, message="live quote")
            assert model.series().vwap[-1] == (220.0 * 75 + 230.0 * 150 + 240.0 * 150) / 375
            await eventually(lambda: (w.frame(), w.premium_curve.getData()[1][-1])[1] == 240.0, message="painted")
            # a combination typed by the user: a short straddle at 26100, priced at the legs' last trades
            w.legs_edit.setText("S 26125 CE")
            w._legs_changed()
            assert w.strategy is None and "no 26125 CE in this chain" in w.legs_error
            w.legs_edit.setText("S 26100 CE 1, S 26100 PE 1")
            w._legs_changed()
            assert w.strategy is not None and w.strategy.net_premium() == -(90.0 + 150.0) * 75  # a credit
            await eventually(lambda: (w.frame(), w.payoff.breakevens)[1] == [25860.0, 26340.0], message="payoff")
            assert "credit (received)" in w.payoff.title.text() and "18,000" in w.payoff.title.text()
            await xadd(redis, w.keys.quotes, [quote("NSE_FNO", 54, 100.0, volume=150, ets=OPEN + 130)])
            await eventually(lambda: (w.frame(), w.payoff.breakevens)[1] == [25850.0, 26350.0], message="live legs")
            # the future falls to 25900: that straddle's volume counts from today's 0, not yesterday's 1e9
            await xadd(redis, w.keys.quotes, [
                quote("NSE_FNO", FUT, 25890.0, volume=300, ets=OPEN + 200),
                quote("NSE_FNO", 50, 210.0, volume=150, ets=OPEN + 201),  # no put price yet: not counted
                quote("NSE_FNO", 51, 190.0, volume=60, ets=OPEN + 202),  # straddle 400: 60 counted
                quote("NSE_FNO", 50, 212.0, volume=200, ets=OPEN + 203),  # straddle 402: 50 counted
            ])
            await eventually(lambda: model.series().premium[-1] == 402.0, message="ATM 25900 live")
            # (the legs' step traded the 26100 call 75 more at straddle 100 + 150)
            num = 220.0 * 75 + 230.0 * 150 + 240.0 * 150 + 250.0 * 75 + 400.0 * 60 + 402.0 * 50
            assert model.series().vwap[-1] == num / (375 + 75 + 60 + 50)
            assert int(model.series().moved.sum()) == 2 and model.atm() == 25900.0
        await redis.aclose()

    run_qt(scenario)
