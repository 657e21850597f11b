"""The option chain's lower pane switched to GEX: by strike from the chain's OI and gamma, the convention shown."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from shared.keys import Keys
from shared.settings import Settings
from tests.clocks import PinnedClock, ist
from tests.conftest import eventually
from tests.viz.helpers import OPEN, greeks_event, open_window, quote, record, run_qt, store, write_universe, xadd

STRIKES = (25900.0, 26000.0, 26100.0)
F = 26040.0
UNIT = 0.001 * F * F * 0.01  # gamma 0.001 (greeks_event) x F^2 x 1 %: GEX of one unit of OI


def test_gex_pane(sync_db: Settings, qt_state: Any) -> None:
    from viz.windows.option_chain import OptionChainWindow

    settings = sync_db

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        keys = Keys(settings.redis.key_prefix)
        opts = [record("NSE_FNO", 50 + 2 * i + j, f"NIFTY-{k:.0f}-{t}", role="option", instrument="OPTIDX", strike=k,
                       option_type=t) for i, k in enumerate(STRIKES) for j, t in enumerate(("CE", "PE"))]
        await write_universe(redis, keys, [record("NSE_FNO", 35001, "NIFTY-FUT"), *opts])
        # calls 3,000 units at each strike; puts 1,000, 2,000 and (no quote: left out) at 26100
        ois = {50: 3000, 51: 1000, 52: 3000, 53: 2000, 54: 3000}
        await store(settings, redis, "quotes", [quote("NSE_FNO", 35001, F, close=26000.0)]
                    + [quote("NSE_FNO", sid, 100.0, oi=oi) for sid, oi in ois.items()])
        await store(settings, redis, "greeks", [greeks_event("NSE_FNO", o["sid"], o["strike"], o["option_type"], 0.15,
                                                             underlying_price=F) for o in opts])
        clock = PinnedClock(ist(2026, 5, 29, 12, 0))
        async with open_window(OptionChainWindow, settings, clock=clock) as w:
            await eventually(lambda: w.loaded.is_set(), timeout_s=20)
            assert w.lower_pane.currentIndex() == 0  # the smile by default
            w.pane_box.set_value("gex")
            await eventually(lambda: (w.frame(), w.gex.profile)[1] is not None, message="GEX painted")
            profile = w.gex.profile
            assert profile is not None and w.lower_pane.currentIndex() == 1
            assert profile.strikes.tolist() == list(STRIKES) and profile.missing == 1
            assert [round(v / UNIT) for v in profile.net_by_strike] == [2000, 1000, 3000]  # calls +, puts -
            assert round(profile.net / UNIT) == 6000
            title = w.gex.title.text()
            assert "net GEX" in title and "dealers long calls (+), short puts (-)" in title
            assert "Zero gamma: the future price" in w.gex.widget.toolTip()
            # live: the 26100 put's OI arrives (4,000 > the call's 3,000): that strike turns negative
            await xadd(redis, keys.quotes, [quote("NSE_FNO", 55, 90.0, oi=4000, ets=OPEN + 5)])
            await eventually(lambda: (w.frame(), round(w.gex.profile.net_by_strike[2] / UNIT))[1] == -1000)
        async with open_window(OptionChainWindow, settings, clock=clock) as w2:
            assert w2.pane_box.value() == "gex" and w2.lower_pane.currentIndex() == 1  # remembered
        await redis.aclose()

    run_qt(scenario)
