"""Price windows offscreen on real Redis and MariaDB: history through the seam, live updates, controls, state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pytest
import redis.asyncio as aioredis

from shared.clock import IST
from shared.keys import Keys
from shared.settings import Settings
from tests.clocks import PinnedClock, ist
from tests.conftest import eventually
from tests.viz.helpers import DAY, StepWriter, open_window, record, run_qt, ticks_run, write_universe, xadd
from viz.models.profile import PriceLadder
from viz.models.ticks import SIDE_CODES

SEG, SID = "NSE_FNO", 35001
FUT = record(SEG, SID, "NIFTY-Jun2026-FUT", custom="NIFTY JUN FUT", tick_size=0.1)
OTHER = record(SEG, 35002, "BANKNIFTY-Jun2026-FUT", underlying="BANKNIFTY", custom="BANKNIFTY JUN FUT")


def walk(n: int, seed: int = 7) -> list[float]:
    rng = np.random.default_rng(seed)
    return [round(26000 + 0.1 * float(x), 1) for x in np.cumsum(rng.integers(-3, 4, n))]


async def seed_seam(settings: Settings, redis: aioredis.Redis, n: int = 300) -> list[dict[str, Any]]:
    """Trades in every state at once: committed, pending in the writer, not yet delivered."""
    keys = Keys(settings.redis.key_prefix)
    await write_universe(redis, keys, [FUT, OTHER])
    mine = ticks_run(SEG, SID, walk(n))
    other = ticks_run(SEG, 35002, walk(n, 9))
    events = [e for pair in zip(mine, other, strict=True) for e in pair]
    await xadd(redis, keys.ticks, events)
    async with StepWriter(settings, redis) as w:
        await w.commit(await w.deliver(n))  # half of mine in MySQL
        await w.deliver(n // 2)  # a quarter pending
    return mine


def expected_ladder(events: list[dict[str, Any]], tick: float = 0.1) -> PriceLadder:
    ladder = PriceLadder(tick)
    for e in events:
        ladder.add(e["ltp"], e["qty"], SIDE_CODES[e["side"]])
    return ladder


def test_volume_profile_window(sync_db: Settings, qt_state: Any) -> None:
    from viz.windows.volume_profile import VolumeProfileWindow

    settings = sync_db

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        keys = Keys(settings.redis.key_prefix)
        mine = await seed_seam(settings, redis)
        async with open_window(VolumeProfileWindow, settings) as w:
            await eventually(lambda: w.loaded.is_set(), timeout_s=20, message="history loaded")
            assert w.instrument.key == f"{SEG}:{SID}"  # the NIFTY near future by default
            assert w.session_day == DAY // 86_400  # nothing today in MySQL: the last session
            assert w.ticks.cum_volume.tolist() == [e["volume"] for e in mine]  # every trade once, in order
            exp = expected_ladder(mine).profile(w.rows_spin.value())
            assert w.profile is not None and w.profile.total.tolist() == exp.total.tolist()
            stats = exp.stats(0.70, "cbot")
            assert (w.stats.poc, w.stats.vah, w.stats.val) == (stats.poc, stats.vah, stats.val)
            assert "CBOT" in w.header.text() and w.status_model.phase == "live"
            assert w.poc_line.value() > stats.poc  # drawn through the middle of the POC row

            more = ticks_run(SEG, SID, walk(60, 11), start_cum=mine[-1]["volume"], ets=mine[-1]["exchange_ts"] + 1)
            await xadd(redis, keys.ticks, more[:30] + more[20:30] + more[30:])  # with a resent stretch
            await eventually(lambda: len(w.ticks) == len(mine) + 60, message="live trades")
            w.frame()
            exp = expected_ladder(mine + more).profile(w.rows_spin.value())
            assert w.profile.total.tolist() == exp.total.tolist()
            assert w.status_model.meter.total == 60

            w.method_box.set_value("greedy")
            w.set_rows(5)
            w.frame()
            g = expected_ladder(mine + more).profile(5).stats(0.70, "greedy")
            assert (w.stats.vah, w.stats.val) == (g.vah, g.val)
            assert "one row at a time" in w.header.text() and len(w.profile.price) == len(
                expected_ladder(mine + more).profile(5).price
            )
        async with open_window(VolumeProfileWindow, settings) as w2:  # choices were remembered
            assert w2.method_box.value() == "greedy"
            await eventually(lambda: w2.loaded.is_set(), timeout_s=20)
            assert w2.rows_spin.value() == 5
        await redis.aclose()

    run_qt(scenario)


def test_tick_chart_window(sync_db: Settings, qt_state: Any) -> None:
    from viz.windows.tick_chart import TickChartWindow

    settings = sync_db

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        keys = Keys(settings.redis.key_prefix)
        mine = await seed_seam(settings, redis, 205)
        async with open_window(TickChartWindow, settings, instrument="NIFTY JUN FUT", theme="light") as w:
            w.n_box.set_value(10)
            await eventually(lambda: w.loaded.is_set(), timeout_s=20)
            w.frame()
            bars = w.tick_bars.bars()
            assert len(bars) == 21 and w.tick_bars.forming and int(bars.count[-1]) == 5
            assert bars.volume.sum() == sum(e["qty"] for e in mine)
            assert bars.open[0] == mine[0]["ltp"] and bars.close[-1] == mine[-1]["ltp"]
            assert "forming 5/10" in w.header.text() and w.theme.name == "light"
            assert w.forming_item.boundingRect().width() > 0 and w.closed_item.boundingRect().width() > 0
            more = ticks_run(SEG, SID, walk(5, 3), start_cum=mine[-1]["volume"], ets=mine[-1]["exchange_ts"] + 1)
            await xadd(redis, keys.ticks, more)
            await eventually(lambda: len(w.ticks) == 210)
            w.frame()
            assert len(w.tick_bars.bars()) == 21 and not w.tick_bars.forming
            assert "complete" in w.header.text()
            w.n_box.set_value(100)
            w.frame()
            assert len(w.tick_bars.bars()) == 3 and w.recall("trades_per_bar") in (100, "100")
        await redis.aclose()

    run_qt(scenario)


def test_volume_profile_chart_window(sync_db: Settings, qt_state: Any) -> None:
    from viz.models.periods import PeriodProfiles
    from viz.windows.volume_profile_chart import VolumeProfileChartWindow

    settings = sync_db

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        keys = Keys(settings.redis.key_prefix)
        mine = await seed_seam(settings, redis, 400)  # 7 s apart: 400 trades span ~47 minutes
        async with open_window(VolumeProfileChartWindow, settings) as w:
            await eventually(lambda: w.loaded.is_set(), timeout_s=20)
            w.frame()
            ref = PeriodProfiles(0.1, period_s=300, ticks_per_row=w.rows_spin.value())
            for e in mine:
                ref.add(e["ltp"], e["qty"], SIDE_CODES[e["side"]], e["exchange_ts"])
            assert [p.start_ts for p in w.model.periods] == [p.start_ts for p in ref.periods]
            assert len(w.model.periods) == 10
            assert w.model.developing_poc() == ref.developing_poc()
            assert [s.poc for _, _, s in w.model.period_stats()] == [s.poc for _, _, s in ref.period_stats()]
            xs, ys = w.dpoc.getData()
            assert len(xs) == 11 and len(ys) == 10  # a step per period
            assert w.session_item.boundingRect().width() > 0
            assert w.plot.getAxis("bottom").tickStrings([w.session_x()], 1, 1)[0].strip() == "Session profile"
            w.period_box.set_value(15)
            w.frame()
            assert len(w.model.periods) == 4
            w.candles_box.setChecked(False)
            more = ticks_run(SEG, SID, walk(3, 5), start_cum=mine[-1]["volume"], ets=mine[-1]["exchange_ts"] + 1200)
            await xadd(redis, keys.ticks, more)
            await eventually(lambda: len(w.ticks) == 403)
            w.frame()
            assert len(w.model.periods) == 5 and w.model.periods[-1].trades == 3
        await redis.aclose()

    run_qt(scenario)


@pytest.mark.parametrize(("now", "expected"), [
    (ist(2026, 6, 1, 10, 30), "GAPS today: 1 (60 s), last disconnect 10:28:30-10:29:30"),
    (ist(2026, 6, 2, 0, 1), "GAPS today: 1 (30 s), last disconnect 23:59:30-00:00:30"),  # today's half
    (ist(2026, 6, 1, 23, 59, 59), "GAPS today: 1 (60 s), last disconnect 23:58:29-23:59:29"),
], ids=["midday", "00:01", "23:59:59"])
def test_price_windows_show_todays_gaps_from_the_ledger(
    sync_db: Settings, qt_state: Any, now: float, expected: str
) -> None:
    import aiomysql

    from viz.windows.tick_chart import TickChartWindow

    settings = sync_db
    midnight = ist(*datetime.fromtimestamp(now, IST).timetuple()[:3])

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        await seed_seam(settings, redis, 20)
        conn = await aiomysql.connect(**settings.mysql.target.connect_kwargs())
        async with conn.cursor() as cur:  # a feed-wide disconnect a minute long that ended 30 s ago; yesterday's
            await cur.executemany(
                "INSERT INTO dhan_gaps (gap_key, exchange_segment, security_id, conn, kind, start_ts, end_ts, reason) "
                "VALUES (%s, NULL, NULL, 0, 'disconnect', %s, %s, 'test')",
                [("t-1", now - 90, now - 30), ("t-0", midnight - 200, midnight - 100)])
        await conn.commit()
        conn.close()
        async with open_window(TickChartWindow, settings, instrument="NIFTY JUN FUT", clock=PinnedClock(now)) as w:
            await eventually(lambda: w.status_model.gaps != "", timeout_s=20, message="gaps read")
            assert w.status_model.gaps == expected
        await redis.aclose()

    run_qt(scenario)
