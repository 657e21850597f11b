"""Latest-state windows offscreen on real Redis and MariaDB: stored rows, the catch-up, live, and controls."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from PyQt6.QtCore import Qt

from shared.keys import Keys
from shared.settings import Settings
from tests.clocks import PinnedClock, ist
from tests.conftest import eventually
from tests.viz.helpers import (
    OPEN,
    depth_event,
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

STOCKS = [("NSE_EQ", 100 + i, sym) for i, sym in enumerate(("AAA", "BBB", "CCC", "DDD"))]


def stock_record(seg: str, sid: int, sym: str) -> dict[str, Any]:
    return record(seg, sid, sym, role="equity", underlying=sym, instrument="EQUITY", expiry=None, custom=f"{sym} Ltd")


def test_market_breadth_window(sync_db: Settings, qt_state: Any) -> None:
    from viz.windows.market_breadth import MarketBreadthWindow

    settings = sync_db

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        keys = Keys(settings.redis.key_prefix)
        await write_universe(redis, keys, [stock_record(*s) for s in STOCKS] + [record("NSE_FNO", 1, "NIFTY-FUT")])
        # minute 0: AAA up; minute 1: BBB down, CCC up; DDD never trades
        await store(
            settings,
            redis,
            "ticks",
            [
                tick("NSE_EQ", 100, 10, 101.0, 10, OPEN + 5),
                tick("NSE_EQ", 101, 10, 99.0, 10, OPEN + 65),
                tick("NSE_EQ", 102, 10, 100.5, 10, OPEN + 70),
            ],
        )
        await store(
            settings,
            redis,
            "quotes",
            [
                quote("NSE_EQ", 100, 101.0, close=100.0, ets=OPEN + 5),
                quote("NSE_EQ", 101, 99.0, close=100.0, ets=OPEN + 65),
                quote("NSE_EQ", 102, 100.5, close=100.0, ets=OPEN + 70),
            ],
        )
        await xadd(redis, keys.quotes, [quote("NSE_EQ", 103, 100.0, close=100.0, ets=OPEN + 80)])  # not written yet
        async with open_window(MarketBreadthWindow, settings) as w:
            await eventually(lambda: w.loaded.is_set(), timeout_s=20)
            w.frame()
            c = w.breadth.counts()
            assert (c.advances, c.declines, c.unchanged, c.not_traded) == (2, 1, 1, 0)  # DDD from the catch-up
            assert w.breadth.line()[1].tolist() == [1, 1]  # 09:15 AAA up; 09:16 CCC up, BBB down, DDD unchanged
            assert "Advances <b>2</b>" in w.header.text() and "A/D ratio <b>2.00</b>" in w.header.text()
            assert [s.symbol for s in w.heatmap.stocks] == ["AAA", "CCC", "DDD", "BBB"]
            (x0, x1), (y0, y1) = w.plot.getViewBox().viewRange()  # the view follows the line (no auto-range)
            assert x0 <= OPEN and x1 >= OPEN + 120 and y0 <= 0 and y1 >= 2
            drawn = w.net_curve.yData
            await xadd(redis, keys.quotes, [quote("NSE_EQ", 100, 103.0, volume=100, close=100.0, ets=OPEN + 85)])
            await eventually(lambda: w.breadth.stocks["NSE_EQ:100"].ltp == 103.0)
            w.mark_dirty()
            w.frame()  # AAA was up and stays up: the heatmap moves, the A/D chart is not redrawn
            assert w.net_curve.yData is drawn and w.heatmap.stocks[0].ltp == 103.0
            await xadd(redis, keys.quotes, [quote("NSE_EQ", 101, 102.0, volume=200, close=100.0, ets=OPEN + 130)])
            await eventually(lambda: w.breadth.counts().advances == 3)
            w.frame()
            assert w.breadth.line()[1].tolist() == [1, 1, 3] and w.breadth.counts().ratio is None
            assert w.net_curve.yData.tolist() == [1, 1, 3]
            (x0, x1), (y0, y1) = w.plot.getViewBox().viewRange()
            assert x1 >= OPEN + 180 and y0 <= 0 and y1 >= 3
            assert "all up" in w.header.text()
            w.sort_box.set_value("symbol")
            w.frame()
            assert [s.symbol for s in w.heatmap.stocks] == ["AAA", "BBB", "CCC", "DDD"]
        await redis.aclose()

    run_qt(scenario)


def test_quote_board_window_and_depth(sync_db: Settings, qt_state: Any) -> None:
    from viz.widgets.board_table import SORT_ROLE
    from viz.windows.quote_board import QuoteBoardWindow

    settings = sync_db

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        keys = Keys(settings.redis.key_prefix)
        fut = record("NSE_FNO", 35001, "NIFTY-FUT", custom="NIFTY JUN FUT", tick_size=0.1)
        await write_universe(redis, keys, [fut, stock_record("NSE_EQ", 100, "AAA"), stock_record("NSE_EQ", 101, "BBB")])
        await store(
            settings,
            redis,
            "quotes",
            [
                quote("NSE_FNO", 35001, 26010.0, close=26000.0, oi=1000, prev_oi=900, bid=26009.9, ask=26010.0),
                quote("NSE_EQ", 100, 101.0, close=100.0),
                quote("NSE_EQ", 101, 50.0, close=50.5),
            ],
        )
        await store(settings, redis, "depth", [depth_event("NSE_FNO", 35001, 26010.0)])
        async with open_window(QuoteBoardWindow, settings) as w:
            await eventually(lambda: w.loaded.is_set(), timeout_s=20)
            w.frame()
            model = w.table_model
            assert model.rowCount() == 3 and model.visible[0] == "NSE_FNO:35001"
            assert [model.index(0, c).data() for c in range(5)] == [
                "NIFTY JUN FUT",
                "26,010.00",
                "+10.00",
                "+0.04%",
                "100",
            ]
            assert model.index(0, 6).data() == "+100" and model.index(1, 5).data() == "-"  # stocks carry no OI
            # sort by % change, descending: AAA +1 %, FUT +0.04 %, BBB -0.99 %
            w.view.sortByColumn(3, Qt.SortOrder.DescendingOrder)
            assert [model.index(r, 0).data() for r in range(3)] == ["AAA", "NIFTY JUN FUT", "BBB"]
            w.filter_edit.setText("nifty")
            assert model.rowCount() == 1
            w.filter_edit.setText("")
            w.role_box.set_value("equity")
            assert model.rowCount() == 2
            w.role_box.set_value("")
            w.view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # back to the listed order
            # live: the future ticks down -> its LTP cell flashes red
            await xadd(redis, keys.quotes, [quote("NSE_FNO", 35001, 26005.0, volume=150, close=26000.0, ets=OPEN + 1)])
            await eventually(lambda: w.board.rows["NSE_FNO:35001"].ltp == 26005.0)
            w.frame()
            text, _, flash_bg, _, _ = model.cell(model.index(0, 1))
            assert text == "26,005.00" and flash_bg is not None and flash_bg.name() == w.theme.flash_down
            _, change_fg, _, _, _ = model.cell(model.index(0, 2))
            assert change_fg is not None and change_fg.name() == w.theme.up
            assert model.data(model.index(0, 2), SORT_ROLE) == 5.0
            # depth: stored book, then live
            dialog = w.open_depth("NSE_FNO:35001")
            await eventually(lambda: dialog.book is not None, timeout_s=10)
            assert dialog.table.item(0, 2).text() == "26,009.95" and dialog.table.item(0, 3).text() == "26,010.05"
            await xadd(redis, keys.depth, [depth_event("NSE_FNO", 35001, 26020.0, ets=OPEN + 9)])
            await eventually(lambda: dialog.table.item(0, 2).text() == "26,019.95")
            assert "spread 0.10" in dialog.footer.text() and "total bid 1,500" in dialog.footer.text()
            dialog.close()
            assert "depth:NSE_FNO:35001" not in w.tasks
        await redis.aclose()

    run_qt(scenario)


def test_option_chain_window(sync_db: Settings, qt_state: Any) -> None:
    from viz.windows.option_chain import OptionChainWindow

    settings = sync_db

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        keys = Keys(settings.redis.key_prefix)
        strikes = [25900.0, 26000.0, 26100.0]
        opts = []
        for i, k in enumerate(strikes):
            for j, t in enumerate(("CE", "PE")):
                opts.append(
                    record(
                        "NSE_FNO",
                        50 + 2 * i + j,
                        f"NIFTY-Jun2026-{k:.0f}-{t}",
                        role="option",
                        instrument="OPTIDX",
                        strike=k,
                        option_type=t,
                        custom=f"NIFTY {k:.0f} {t}",
                    )
                )
        fut = record("NSE_FNO", 35001, "NIFTY-FUT", custom="NIFTY JUN FUT")
        await write_universe(redis, keys, [fut, *opts])
        await store(
            settings,
            redis,
            "quotes",
            [quote("NSE_FNO", 35001, 26040.0, close=26000.0)]
            + [quote("NSE_FNO", o["sid"], 100.0 + o["sid"], oi=1000 + o["sid"], prev_oi=1000, volume=75) for o in opts],
        )
        await store(
            settings,
            redis,
            "greeks",
            [
                greeks_event(
                    "NSE_FNO",
                    o["sid"],
                    o["strike"],
                    o["option_type"],
                    0.12 + 0.01 * abs(o["strike"] - 26000) / 100,
                    underlying_price=26040.0,
                )
                for o in opts
            ],
        )
        async with open_window(OptionChainWindow, settings) as w:
            await eventually(lambda: w.loaded.is_set(), timeout_s=20)
            w.frame()
            chain = w.chain
            assert (chain.underlying, chain.expiry, chain.strikes) == ("NIFTY", "2026-06-25", strikes)
            assert chain.atm_strike() == 26000.0 and w.table_model.rowCount() == 3
            cols = [c[2] for c in w.table_model.columns]
            strike_col = cols.index("Strike")
            assert w.table_model.index(1, strike_col).data() == "26,000"
            ce_ltp = strike_col - 1
            assert w.table_model.index(1, ce_ltp).data() == "152.00"  # sid 52: 100 + 52
            assert w.table_model.index(1, strike_col + 1).data() == "153.00"
            iv_col = strike_col + 5
            assert w.table_model.index(0, iv_col).data() == "13.00"
            assert w.table_model.data(w.table_model.index(1, 0), Qt.ItemDataRole.BackgroundRole) is not None  # ATM
            xs, ys = w.ce_curve.getData()
            assert xs.tolist() == strikes and [round(y, 2) for y in ys] == [13.0, 12.0, 13.0]
            assert "ATM 26,000" in w.header.text() and "PCR (OI) 1.00" in w.header.text()
            # live: the future moves up, new greeks for a call
            await xadd(redis, keys.quotes, [quote("NSE_FNO", 35001, 26090.0, volume=500, close=26000.0, ets=OPEN + 5)])
            await xadd(
                redis,
                keys.greeks,
                [greeks_event("NSE_FNO", 54, 26100.0, "CE", 0.2, ets=OPEN + 5, underlying_price=26090.0)],
            )
            await eventually(lambda: chain.atm_strike() == 26100.0 and chain.by_strike[26100.0]["CE"].iv == 0.2)
            w.frame()
            assert "ATM 26,100" in w.header.text()
            await eventually(lambda: w.ce_curve.getData()[1][-1] == 20.0)  # the smile follows at SMILE_HZ
        await redis.aclose()

    run_qt(scenario)


def test_window_remembers_geometry_theme_and_choices(sync_db: Settings, qt_state: Any) -> None:
    from viz.windows.quote_board import QuoteBoardWindow

    settings = sync_db

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        await write_universe(redis, Keys(settings.redis.key_prefix), [record("NSE_FNO", 1, "NIFTY-FUT")])
        async with open_window(QuoteBoardWindow, settings) as w:
            assert w.theme.name == "dark"
            w.resize(700, 500)
            w._theme_action.trigger()  # the toolbar's theme switch
            w.filter_edit.setText("nifty")
            w.view.sortByColumn(3, Qt.SortOrder.DescendingOrder)
            assert w.theme.name == "light"
        async with open_window(QuoteBoardWindow, settings) as w2:
            assert (w2.width(), w2.height()) == (700, 500)
            assert w2.theme.name == "light" and w2.filter_edit.text() == "nifty"
            assert w2.table_model.sort_column == 3 and w2.table_model.descending
        async with open_window(QuoteBoardWindow, settings, theme="dark") as w3:
            assert w3.theme.name == "dark"  # --theme wins over the remembered one
        await redis.aclose()

    run_qt(scenario)


def test_option_chain_defaults_to_the_nearest_expiry_not_past_on_the_ist_day(sync_db: Settings, qt_state: Any) -> None:
    """At 00:01 IST on 2 Jun (still 1 Jun in UTC) the 1 Jun expiry is over: the chain opens on 8 Jun's."""
    from viz.windows.option_chain import OptionChainWindow

    settings = sync_db

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        opts = [
            record("NSE_FNO", 60 + 2 * i + j, f"NIFTY-{expiry}-26000-{t}", role="option", instrument="OPTIDX",
                   expiry=expiry, strike=26000.0, option_type=t)
            for i, expiry in enumerate(("2026-06-01", "2026-06-08")) for j, t in enumerate(("CE", "PE"))
        ]
        await write_universe(redis, Keys(settings.redis.key_prefix), [record("NSE_FNO", 35001, "NIFTY-FUT"), *opts])
        async with open_window(OptionChainWindow, settings, clock=PinnedClock(ist(2026, 6, 2, 0, 1))) as w:
            await eventually(lambda: w.chain.expiry != "", timeout_s=20, message="expiry chosen")
            assert w.chain.expiry == "2026-06-08"
            w.frame()
            assert "expiry 2026-06-08 (6 days)" in w.header.text()
        await redis.aclose()

    run_qt(scenario)
