"""Previous sessions in the price windows on real Redis and MariaDB: two earlier days written by the writer
(ticks and one-minute candles), today's history, then live trades."""

from __future__ import annotations

import asyncio
import random
from datetime import date
from typing import Any

import redis.asyncio as aioredis

from shared.db import create_pool
from shared.keys import Keys
from shared.settings import Settings
from tests.conftest import eventually
from tests.viz.helpers import DAY, OPEN, open_window, record, run_qt, store, tick, write_universe, xadd
from viz.data.history import fetch_ticks
from viz.data.prior import fetch_trade_bars
from viz.models.bars import Bars, TickBars
from viz.models.fmt import ist_time
from viz.models.sessions import PocLine, SessionLevels
from viz.models.vwap_track import VwapTrack

SEG, SID = "NSE_FNO", 35001
FUT = record(SEG, SID, "NIFTY-Jun2026-FUT", custom="NIFTY JUN FUT", tick_size=0.1)
A, B = date(2026, 5, 27), date(2026, 5, 28)  # the two sessions before DAY (2026-05-29)
A_OPEN, B_OPEN = OPEN - 2 * 86_400, OPEN - 86_400


def _run(start: int, trades: list[tuple[float, int]]) -> list[dict[str, Any]]:
    out, cum = [], 0
    for i, (price, qty) in enumerate(trades):
        cum += qty
        out.append(tick(SEG, SID, cum, price, qty, start + 20 * i))
    return out


# A: 100.0 x30 (three trades), 100.5 x5, 99.5 x2 -> POC 100.0 (row [100.0, 100.1) at one tick a row)
DAY_A = _run(A_OPEN, [(100.0, 10), (100.5, 5), (100.0, 10), (99.5, 2), (100.0, 10)])
# B: 101.0 x20, 101.1 x6, 100.9 x4 -> POC 101.0; 70 % of 30 = 21: the row above (6) before the one below (4):
# VAH 101.1, VAL 101.0. Its range 100.9..101.1 does not reach A's 100.0, so A's POC is naked.
DAY_B = _run(B_OPEN, [(101.0, 10), (101.1, 6), (100.9, 4), (101.0, 10)])
TODAY = _run(OPEN, [(102.0, 5), (102.2, 5), (101.8, 5), (102.1, 5)] * 3)  # 12 trades, far from 100.0


async def _seed(settings: Settings, redis: aioredis.Redis) -> None:
    await write_universe(redis, Keys(settings.redis.key_prefix), [FUT])
    await store(settings, redis, "ticks", DAY_A + DAY_B + TODAY)


def test_volume_profile_chart_draws_yesterday_and_naked_pocs(sync_db: Settings, qt_state: Any) -> None:
    from viz.windows.volume_profile_chart import VolumeProfileChartWindow

    settings = sync_db

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        await _seed(settings, redis)
        async with open_window(VolumeProfileChartWindow, settings) as w:
            await eventually(lambda: w.loaded.is_set(), timeout_s=20)
            assert w.session_day == DAY // 86_400 and w.prior.days.n == 3  # settings.viz.prior_days
            w.rows_spin.setValue(1)  # one tick a row, as worked out above
            await eventually(lambda: w.prior.sessions is not None, message="previous sessions loaded")
            assert w.prior.days.days == [A, B]  # only two sessions before today
            sessions = w.prior.sessions
            assert sessions.yesterday == SessionLevels(B, 101.0, 101.1, 101.0, 101.1, 100.9)
            assert sessions.naked_lines() == [PocLine(A, 100.0)]
            w.frame()
            starts = [p.start_ts for p, _, _ in w.model.period_stats()]
            lines = w.prior.lines(starts, 10.0, 2)
            assert [(round(x.y, 3), x.x1, x.kind, x.label) for x in lines] == [
                (101.043, 10.0, "poc", "yPOC 101.00"),  # mid-row, as the chart's own POC (bars fill 0.86 of 0.1)
                (101.186, 10.0, "value", "yVAH 101.10"),  # the VAH row's top
                (101.0, 10.0, "value", "yVAL 101.00"),
                (100.043, 10.0, "naked", "nPOC 27 May 100.00"),
            ]
            # the view holds yesterday's value area, and a naked POC within one range of today's
            assert w.prior.y_range(101.8, 102.3) == (101.0, 102.3)  # 100.0 is over 0.5 below 101.8
            assert w.prior.y_range(100.2, 102.2) == (100.0, 102.2)
            touch = tick(SEG, SID, TODAY[-1]["volume"] + 5, 100.0, 5, OPEN + 11 * 60)  # 09:26
            await xadd(redis, Keys(settings.redis.key_prefix).ticks, [touch])
            await eventually(lambda: len(w.ticks) == len(TODAY) + 1, message="live trade")
            assert sessions.naked_lines() == [PocLine(A, 100.0, OPEN + 11 * 60)]
            w.frame()
            starts = [p.start_ts for p, _, _ in w.model.period_stats()]
            # columns: 09:15 (today's first 12 trades) and 09:25 (nothing traded 09:20-09:25): the line ends with
            # the second, the touching trade's
            assert [round(x) for x in starts] == [OPEN, OPEN + 600]
            assert w.prior.lines(starts, 10.0, 2)[-1].x1 == 2.0
            w.prior.days.box.set_value(1)  # yesterday only: no earlier session for a naked POC
            await eventually(lambda: w.prior.days.days == [B], message="reloaded")
            assert w.prior.sessions.naked_lines() == [] and w.recall("prior_days") in (1, "1")
        await redis.aclose()

    run_qt(scenario)


def test_tick_chart_shows_the_previous_sessions_bars(sync_db: Settings, qt_state: Any) -> None:
    from viz.windows.tick_chart import TickChartWindow

    settings = sync_db

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        await _seed(settings, redis)
        async with open_window(TickChartWindow, settings) as w:
            w.n_box.set_value(10)
            await eventually(lambda: w.loaded.is_set(), timeout_s=20)
            await eventually(lambda: len(w.days_bars.prior) == 2, message="previous sessions loaded")
            w.frame()
            # A: 5 trades (1 bar), B: 4 trades (1 bar), today: 12 trades (2 bars, the last forming)
            assert len(w._bars) == 4 and w._bars.volume.tolist() == [37, 30, 50, 10]
            assert [k for k, _ in w.days_bars.starts(w.tick_bars)] == [0, 1, 2]
            assert len(w.tick_bars.bars()) == 2  # today's own bars unchanged
            # An anchored VWAP needs every trade from its anchor: on an earlier session's bar it is refused, an
            # anchor saved on an earlier day is listed as not drawn, and today's bar takes one as before.
            assert w.vwap.anchor_at(1.0) is None and not w.vwap.anchors  # B's bar
            assert w.vwap.anchor_at(2.0) is True  # today's first bar
            w.vwap.anchors[B_OPEN] = VwapTrack(anchor_ts=B_OPEN)  # as loaded from QSettings on a later day
            w.vwap.rebuild(w.ticks)
            w.frame()
            drawn = [lb.toPlainText() for lb in w.vwap.labels if lb.isVisible()]
            assert [t for t in drawn if t.startswith("AVWAP ")] == [f"AVWAP {ist_time(OPEN)[:5]}"], drawn
            menu = [a.text() for a in w.vwap.menu.actions()]
            assert f"Remove anchor from {ist_time(B_OPEN)} (an earlier session: not drawn)" in menu, menu
            w.vwap.clear_anchors()
            w.n_box.set_value(25)  # the previous sessions' bars are made again for 25 trades
            await eventually(lambda: w.days_bars.trades_per_bar == 25, message="reloaded for N = 25")
            w.frame()
            assert w._bars.volume.tolist() == [37, 30, 60] and w._bars.count.tolist() == [5, 4, 12]
            w.prior_days.box.set_value(0)
            await eventually(lambda: not w.days_bars.prior, message="today only")
            w.frame()
            assert len(w._bars) == 1
        await redis.aclose()

    run_qt(scenario)


def test_trade_bars_made_in_mysql_equal_the_tick_bars(sync_db: Settings) -> None:
    settings = sync_db

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        rng = random.Random(4)
        trades = [(round(100 + rng.randrange(-20, 20) * 0.1, 1), rng.randrange(1, 50)) for _ in range(237)]
        day = _run(A_OPEN, trades)
        for i, ev in enumerate(day):
            ev["side"], ev["exchange_ts"] = "BS "[i % 3].strip(), A_OPEN + i // 3  # three trades a second
        await _seed(settings, redis)
        await store(settings, redis, "ticks", [{**ev, "sid": 7} for ev in day])
        pool = await create_pool(settings)
        try:
            ticks = await fetch_ticks(pool, SEG, 7, A)
            for n in (1, 10, 100, 500):
                made = await fetch_trade_bars(pool, SEG, 7, A, n)
                want = TickBars(ticks, n).bars()
                for name in Bars.__dataclass_fields__:
                    assert getattr(made, name).tolist() == getattr(want, name).tolist(), (n, name)
            assert len(await fetch_trade_bars(pool, SEG, 7, B, 10)) == 0
        finally:
            pool.close()
            await pool.wait_closed()
        await redis.aclose()

    asyncio.run(scenario())
