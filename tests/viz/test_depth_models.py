"""viz.models.ladder and viz.models.liquidity, pure, on small hand-worked books."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from shared.clock import IST_OFFSET_S
from viz.models.depth_view import STALE_S, DepthView
from viz.models.ladder import Book, Ladder, book_from_event
from viz.models.liquidity import LiquidityMap, focus_range, trade_bubbles


def _book(t: float, bids: list[tuple[float, int, int]], asks: list[tuple[float, int, int]], seq: int = 0) -> Book:
    ev = {"recv_ts": 1.0, "seq": seq, "levels": 20, "bids": [list(b) for b in bids],
          "asks": [list(a) for a in asks]}  # fmt: skip
    book = book_from_event(ev)
    assert book is not None
    return replace(book, t=t)  # at Dhan-clock time t


def test_events_become_books_without_padding_or_bad_levels() -> None:
    ev = {"recv_ts": 1000.5, "seq": 9, "levels": 20,
          "bids": [[100.0, 75, 3], [99.95, 150, 1], [0.0, 0, 0], ["x", 1, 1]], "asks": [[100.05, 75, 2], [1e300, 1, 1]]}
    book = book_from_event(ev)
    assert book is not None
    assert (book.t, book.seq, book.levels) == (1000.5 + IST_OFFSET_S, 9, 20)
    assert book.bid_px.tolist() == [100.0, 99.95] and book.bid_qty.tolist() == [75, 150]
    assert book.ask_px.tolist() == [100.05] and book.ask_orders.tolist() == [2]
    five = book_from_event({"recv_ts": 5.0, "exchange_ts": 7, "bids": [[1.0, 2, 3]], "asks": []})
    assert five is not None and five.levels == 5 and five.best_ask is None  # a dhan:depth event
    assert book_from_event({"recv_ts": float("nan"), "bids": [], "asks": []}) is None
    assert book_from_event({"recv_ts": 5.0, "levels": 7, "bids": [], "asks": []}) is None


def test_ladder_rows_by_hand() -> None:
    # tick 0.05; bids 100.00 x 75, 99.95 x 150, 99.85 x 20 (a hole at 99.90); asks 100.05 x 60, 100.10 x 10.
    book = _book(0.0, [(100.0, 75, 3), (99.95, 150, 1), (99.85, 20, 2)], [(100.05, 60, 2), (100.1, 10, 1)])
    ladder = Ladder(0.05, 8)
    rows = ladder.rows(book, last_price=100.05)
    # centre = (2000 + 2001) // 2 = 2000; top = 2000 + 4 = 2004 (100.20) ... row 7 = 1997 (99.85)
    assert rows.top == 2004 and rows.price(0) == pytest.approx(100.2) and rows.price(7) == pytest.approx(99.85)
    assert rows.ask_qty.tolist() == [0, 0, 10, 60, 0, 0, 0, 0]
    assert rows.bid_qty.tolist() == [0, 0, 0, 0, 75, 150, 0, 20]
    assert rows.bid_orders.tolist() == [0, 0, 0, 0, 3, 1, 0, 2]
    assert (rows.best_ask_row, rows.best_bid_row, rows.last_row, rows.max_qty) == (3, 4, 3, 150)
    # the touch moves one tick up: still in the middle half, the rows stay where they are
    up = _book(1.0, [(100.05, 5, 1)], [(100.1, 7, 1)])
    assert ladder.rows(up).top == 2004
    # up two more ticks: centre 2003 is above the middle half (rows 2..5 = ticks 2002..1999): re-centred
    away = _book(2.0, [(100.15, 5, 1)], [(100.2, 7, 1)])
    moved = ladder.rows(away, last_price=90.0)
    assert moved.top == 2003 + 4 and moved.best_bid_row == 4 and moved.last_row == -1


def test_ladder_of_a_one_sided_book_centres_on_that_side() -> None:
    rows = Ladder(1.0, 5).rows(_book(0.0, [], [(10.0, 4, 1), (11.0, 5, 1)]))
    assert rows.top == 12 and rows.ask_qty.tolist() == [0, 5, 4, 0, 0] and rows.best_bid_row == -1


def test_liquidity_columns_keep_their_first_book_and_scroll() -> None:
    m = LiquidityMap(tick=0.5, col_s=1.0, cols=3)
    assert m.image() is None
    assert m.add_book(_book(10.2, [(10.0, 4, 1)], [(10.5, 6, 1)]))
    assert not m.add_book(_book(10.9, [(10.0, 99, 1)], [(10.5, 99, 1)]))  # same column: the first stays
    assert m.add_book(_book(12.0, [(9.5, 2, 1)], [(11.0, 8, 1)]))  # column 12 (11 stays empty)
    heat = m.image()
    assert heat is not None
    # columns 10..12, rows from tick 19 (9.5) to 22 (11.0)
    assert (heat.t0, heat.tick_lo) == (10.0, 19)
    assert heat.image.tolist() == [[0, 4, 6, 0], [0, 0, 0, 0], [2, 0, 0, 8]]
    assert heat.x.tolist() == [10.5, 11.5, 12.5]
    assert np.isnan(heat.best_bid[1]) and heat.best_bid[[0, 2]].tolist() == [10.0, 9.5]
    assert focus_range(heat, 2, 1) == (9.0, 11.5)  # touch 9.5 .. 11.0 in the last two columns, a tick beyond
    assert focus_range(heat, 1, 0) == (9.5, 11.0)
    assert m.add_book(_book(13.5, [(10.0, 1, 1)], []))  # column 13: column 10 leaves the 3-column window
    assert m.span() == (12.0, 14.0) and len(m) == 2
    assert not m.add_book(_book(12.5, [(10.0, 1, 1)], []))  # older than the newest column: ignored


def test_colour_scale_ignores_one_huge_order() -> None:
    m = LiquidityMap(tick=1.0, col_s=1.0, cols=100)
    for t in range(50):
        m.add_book(_book(float(t), [(100.0, 10, 1), (99.0, 20, 1)], [(101.0, 10_000_000 if t == 7 else 10, 1)]))
    heat = m.image()
    assert heat is not None and heat.scale == 20.0


def test_trade_bubbles_by_hand() -> None:
    # columns of 2 s from t0 = 100: [100, 102), [102, 104), [104, 106); a trade at second s counts at s + 0.5
    ts = np.array([99, 100, 101, 101, 103, 105, 109], np.int64)
    price = np.array([1.0, 10.0, 11.0, 12.0, 9.0, 9.5, 1.0])
    qty = np.array([5, 100, 100, 200, 25, 0, 7], np.int64)
    side = np.array([1, 1, 1, 2, 1, 0, 1], np.int8)
    b = trade_bubbles(ts, price, qty, side, 100.0, 2.0, 3, max_px=20.0, min_px=2.0)
    # column 0: buys 100 @ 10 + 100 @ 11 -> 200 @ 10.5; sell 200 @ 12. Column 1: buy 25 @ 9. Column 2: a zero
    # quantity (no bubble). 99 is before the first column, 109 after the last.
    assert b.x.tolist() == [101.0, 101.0, 103.0] and b.side.tolist() == [1, 2, 1]
    assert b.y.tolist() == [10.5, 12.0, 9.0] and b.qty.tolist() == [200, 200, 25]
    assert b.size.tolist() == [20.0, 20.0, 20.0 * (25 / 200) ** 0.5]
    empty = trade_bubbles(ts[:0], price[:0], qty[:0], side[:0], 100.0, 2.0, 3)
    assert len(empty.x) == 0 and len(empty.size) == 0


def test_depth_view_prefers_the_deepest_feed_until_it_goes_quiet() -> None:
    def b(t: float, levels: int, seq: int = 0) -> Book:
        return replace(_book(t, [(100.0, levels, 1)], [(100.5, 1, 1)], seq=seq), levels=levels)

    view = DepthView(0.5, col_s=1.0, cols=10, ladder_rows=5)
    assert view.ladder_rows(None) is None
    assert view.add(b(0.0, 5)) and view.levels == 5
    assert view.add(b(1.0, 20)) and view.levels == 20  # a deeper feed takes over at once
    assert not view.add(b(2.0, 5))  # ... and the shallower one is ignored while it lives
    assert not view.add(b(0.5, 20))  # older than the shown book
    assert view.add(b(1.0, 20, seq=3)) and view.book is not None and view.book.seq == 3  # same time, later seq
    assert view.add(b(1.0 + STALE_S, 5)) and view.levels == 5  # the 20-level feed went quiet: back to 5
    view.reset([b(9.0, 20), b(3.0, 20)])  # history, in any order
    assert view.book is not None and view.book.t == 9.0 and len(view.liquidity) == 2
    rows = view.ladder_rows(100.0)
    assert rows is not None and rows.bid_qty[rows.best_bid_row] == 20 and rows.last_row == rows.best_bid_row
