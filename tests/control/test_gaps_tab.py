"""The Control Center's Gaps tab: today's gap ledger across the feed (offscreen, real MariaDB and Redis)."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from control.center.gaps_feed import fmt_duration, gap_rows
from control.center.ui.gaps_tab import gaps_title
from shared.clock import IST, day_bounds
from shared.gaps import Gap
from shared.keys import Keys
from shared.settings import Settings
from tests.clocks import PinnedClock, ist
from tests.conftest import eventually


def _hms(ts: float) -> str:
    return datetime.fromtimestamp(ts, IST).strftime("%H:%M:%S")


def test_rows_name_instruments_mark_open_gaps_and_count_to_now() -> None:
    now = 1_795_600_000.0
    gaps = [
        Gap(seg=None, sid=None, conn=0, kind="disconnect", start_ts=now - 100, end_ts=now - 85, reason="805"),
        Gap(seg="NSE_FNO", sid=7, conn=None, kind="universe_out", start_ts=now - 4000, end_ts=None, reason="atm"),
        Gap(seg=None, sid=None, conn=1, kind="stall", start_ts=now - 30, end_ts=None, reason=None),
    ]
    rows = gap_rows(gaps, now, {"NSE_FNO:7": {"symbol": "NIFTY-Jun2026-26000-CE"}})
    assert [r.cells() for r in rows] == [
        ("stall", "whole feed", "conn 1", _hms(now - 30), "OPEN", "30 s so far", ""),
        ("disconnect", "whole feed", "conn 0", _hms(now - 100), _hms(now - 85), "15 s", "805"),
        ("universe_out", "NIFTY-Jun2026-26000-CE (NSE_FNO:7)", "", _hms(now - 4000), "OPEN", "1 h 06 min so far",
         "atm"),
    ]  # fmt: skip
    assert [r.is_open for r in rows] == [True, False, True]
    assert gap_rows([gaps[1]], now, {})[0].instrument == "NSE_FNO:7"  # not in the universe any more
    assert [fmt_duration(v) for v in (0.42, 9.96, 59.6, 125, 3600)] == [
        "0.4 s", "10 s", "1 min 00 s", "2 min 05 s", "1 h 00 min"]
    assert (gaps_title(0, 0), gaps_title(3, 0), gaps_title(3, 1)) == ("Gaps", "Gaps (3)", "Gaps (3, 1 OPEN)")


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("now", "market_open"), [(ist(2026, 6, 2, 0, 20), False), (ist(2026, 6, 2, 14, 0), True)],
                         ids=["00:20", "14:00"])  # a Tuesday
def test_gaps_tab_lists_todays_gaps_newest_first(
    db_settings: Settings, tmp_path: Path, now: float, market_open: bool
) -> None:
    import qasync
    from PyQt6.QtWidgets import QApplication

    from control.center.engine import ControlCenter
    from control.center.ui.main_window import ControlWindow
    from shared.db import init_schema

    app = QApplication.instance() or QApplication(["test"])
    QApplication.setQuitOnLastWindowClosed(False)
    s = db_settings
    midnight, _ = day_bounds(datetime.fromtimestamp(now, IST).date())
    t = max(midnight + 1, now - 3 * 3600)  # every start today, also just after midnight
    rows: list[tuple[Any, ...]] = [
        ("c-1", None, None, 0, "disconnect", t, t + 20, "server_closed; 805 too many connections"),
        ("c-2", "NSE_FNO", 35001, None, "universe_out", t + 60, t + 660, "atm_shift"),
        ("c-3", "NSE_FNO", 35002, None, "universe_out", t + 120, None, "atm_shift"),
        ("c-4", "NSE_FNO", 35003, None, "universe_in", t + 120, t + 120, "atm_shift"),   # a marker: not listed
        ("c-5", None, None, 1, "stall", t + 300, None, "stall"),
        ("c-6", None, None, 0, "disconnect", midnight - 900, midnight - 600, "yesterday"),  # not today
        ("c-7", None, None, 1, "disconnect", midnight - 120, midnight + 30, "across midnight"),  # today's too
    ]

    async def scenario() -> None:
        import aiomysql

        await init_schema(s)
        conn = await aiomysql.connect(**s.mysql.target.connect_kwargs())
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO dhan_gaps (gap_key, exchange_segment, security_id, conn, kind, start_ts, end_ts, reason) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", rows)
        await conn.commit()
        conn.close()
        redis: aioredis.Redis = aioredis.Redis.from_url(s.redis.url.get_secret_value())
        await redis.hset(Keys(s.redis.key_prefix).universe, "NSE_FNO:35001",
                         orjson.dumps({"seg": "NSE_FNO", "sid": 35001, "symbol": "NIFTY-Jun2026-FUT"}))
        await redis.aclose()
        center = ControlCenter(s, log_dir=tmp_path / "log", env_path=tmp_path / ".env", clock=PinnedClock(now))
        window = ControlWindow(center)
        window.show()
        try:
            await center.start()
            window.tabs.setCurrentWidget(window.gaps)
            tab = window.gaps
            await eventually(lambda: tab.model.rowCount() == 5, timeout_s=30, message="today's gaps listed")
            cells = [tuple(r) for r in tab.model.rows]
            assert [(c[0], c[1], c[4]) for c in cells] == [
                ("stall", "whole feed", "OPEN"),
                ("universe_out", "NSE_FNO:35002", "OPEN"),
                ("universe_out", "NIFTY-Jun2026-FUT (NSE_FNO:35001)", _hms(t + 660)),
                ("disconnect", "whole feed", _hms(t + 20)),
                ("disconnect", "whole feed", "00:00:30"),
            ]  # fmt: skip
            assert cells[0][5] == fmt_duration(now - t - 300) + " so far"  # open: counted to the pinned now
            assert cells[2][5] == "10 min 00 s" and cells[3][2] == "conn 0" and cells[3][6].endswith("connections")
            assert cells[4][3] == "23:58:00" and cells[4][5] == "2 min 30 s"
            assert tab.model.backgrounds[:2] == [tab.model.backgrounds[0]] * 2 and tab.model.backgrounds[0]
            assert tab.model.backgrounds[2:] == [None, None, None]  # open ones highlighted, closed ones plain
            assert window.tabs.tabText(window.tabs.indexOf(tab)) == "Gaps (5, 2 OPEN)"
            assert tab.summary.text().startswith("5 gaps today, 2 open")
            await eventually(lambda: center.snapshot is not None, message="center refreshed")
            assert center.snapshot is not None and center.snapshot.market_open is market_open  # the same clock
            if where := os.environ.get("DHAN_TEST_SHOTS"):
                window.resize(1400, 500)
                for _ in range(3):  # the loop runs Qt's layout and paint events meanwhile
                    await asyncio.sleep(0.05)
                assert window.grab().save(str(Path(where) / "control-gaps-test.png"))
        finally:
            window.close()
            await center.stop()

    try:
        with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
            runner.run(asyncio.wait_for(scenario(), 90))
    finally:
        import redis as sync_redis

        r = sync_redis.Redis.from_url(s.redis.url.get_secret_value())
        keys = list(r.scan_iter(match=f"{s.redis.key_prefix}*", count=1000))
        if keys:
            r.delete(*keys)
        r.close()
