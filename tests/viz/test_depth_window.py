"""The depth window offscreen on real Redis and MariaDB: books from dhan_depth20_history, the seam, live
books and trades, and the fallback to the 5-level depth."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from shared.clock import IST_OFFSET_S
from shared.keys import Keys
from shared.settings import Settings
from tests.conftest import eventually
from tests.viz.helpers import OPEN, open_window, record, run_qt, store, ticks_run, write_universe, xadd

SEG, SID = "NSE_FNO", 35001
FUT = record(SEG, SID, "NIFTY-Jun2026-FUT", custom="NIFTY JUN FUT", tick_size=0.1)
RECV0 = OPEN - IST_OFFSET_S  # 09:15 IST as a true epoch


def book(t: float, mid_ticks: int, *, seq: int, levels: int = 20, n: int = 20) -> dict[str, Any]:
    """A book at receive time ``RECV0 + t`` with the best bid at ``mid_ticks`` x 0.1."""
    return {
        "v": 1, "seg": SEG, "sid": SID, "levels": levels, "seq": seq, "recv_ts": RECV0 + t,
        "bids": [[round((mid_ticks - i) * 0.1, 1), 75 * (i + 1), i + 1] for i in range(n)],
        "asks": [[round((mid_ticks + 1 + i) * 0.1, 1), 50 * (i + 1), i + 1] for i in range(n)],
    }  # fmt: skip


def test_depth_window_history_seam_and_live(sync_db: Settings, qt_state: Any) -> None:
    from viz.windows.depth_ladder import DepthLadderWindow

    settings = sync_db
    # 40 s of books, 4 a second; the writer keeps the first of each second. The first 30 s are committed,
    # the rest is still in the stream (the seam's catch-up); prices walk up one tick a second.
    books = [book(i / 4, 260_000 + i // 4, seq=i) for i in range(160)]
    trades = ticks_run(SEG, SID, [26000.1 + 0.1 * i for i in range(20)], step_s=2)

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        keys = Keys(settings.redis.key_prefix)
        await write_universe(redis, keys, [FUT])
        await store(settings, redis, "depth20", books[:120])
        await store(settings, redis, "ticks", trades)
        await xadd(redis, keys.depth20, books[120:])
        async with open_window(DepthLadderWindow, settings, instrument=f"{SEG}:{SID}") as w:
            await eventually(lambda: w.loaded.is_set(), timeout_s=20, message="history loaded")
            w.frame()
            view = w.view
            assert view is not None and view.levels == 20
            assert view.book is not None and view.book.seq == 159  # the newest, from the catch-up
            heat = view.liquidity.image()
            assert heat is not None and heat.image.shape[0] == 40  # one column a second, none missing
            first = w.books_source.history_rows
            assert first == 31  # 30 sampled seconds + the latest stored book
            # column k holds the first book of second k: its best bid is (260000 + k) ticks
            assert heat.best_bid.tolist() == [round((260_000 + k) * 0.1, 1) for k in range(40)]
            rows = w.ladder.rows
            assert rows is not None and rows.price(rows.best_bid_row) == round(260_039 * 0.1, 1)
            assert int(rows.bid_qty[rows.best_bid_row]) == 75 and rows.last_row == -1  # the last trade is far away
            assert "20-level depth" in w.header.text() and f"&times; {trades[-1]['qty']}" in w.header.text()
            assert sum(len(item.data) for item in w.bubbles.values()) > 0

            # live: a book two seconds later and a trade at its best ask
            await xadd(redis, keys.depth20, [book(42.0, 260_050, seq=200)])
            more = ticks_run(SEG, SID, [26005.1], start_cum=trades[-1]["volume"], ets=OPEN + 42)
            await xadd(redis, keys.ticks, more)
            await eventually(lambda: view.book.seq == 200 and len(w.ticks) == 21, message="live book and trade")
            w.frame()
            rows = w.ladder.rows
            assert rows is not None and rows.last_row == rows.best_ask_row
            assert view.liquidity.image().image.shape[0] == 43  # seconds 40 and 41 stay empty columns
            w.span_box.set_value(5 * 60)
            assert w.recall("span_s") in (300, "300")
        await redis.aclose()

    run_qt(scenario)


def test_depth_window_falls_back_to_five_levels(sync_db: Settings, qt_state: Any) -> None:
    from viz.windows.depth_ladder import DepthLadderWindow

    settings = sync_db
    five = {"v": 1, "seg": SEG, "sid": SID, "exchange_ts": OPEN, "recv_ts": RECV0,
            "bids": [[26000.0 - 0.1 * i, 10 + i, 1] for i in range(5)],
            "asks": [[26000.1 + 0.1 * i, 20 + i, 2] for i in range(5)]}  # fmt: skip

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        keys = Keys(settings.redis.key_prefix)
        await write_universe(redis, keys, [FUT])
        await store(settings, redis, "depth", [five])
        async with open_window(DepthLadderWindow, settings, instrument=f"{SEG}:{SID}") as w:
            await eventually(lambda: w.loaded.is_set(), timeout_s=20, message="loaded")
            w.frame()
            assert w.view is not None and w.view.levels == 5
            assert "5-level depth" in w.header.text()
            rows = w.ladder.rows
            assert rows is not None and int(rows.ask_qty[rows.best_ask_row]) == 20
            await xadd(redis, keys.depth, [{**five, "recv_ts": RECV0 + 1, "bids": [[26000.0, 99, 3]]}])
            await eventually(lambda: w.view.book.bid_qty.tolist() == [99], message="live 5-level book")
            await xadd(redis, keys.depth20, [book(2.0, 260_001, seq=5)])  # the 20-level feed comes on
            await eventually(lambda: w.view.levels == 20, message="switched to 20 levels")
            await xadd(redis, keys.depth, [{**five, "recv_ts": RECV0 + 3}])  # 5-level books are ignored now
            await eventually(lambda: w.books_source.live_books == 3, message="the last 5-level book read")
            w.frame()
            assert w.view.levels == 20 and "20-level depth" in w.header.text()
        await redis.aclose()

    run_qt(scenario)
