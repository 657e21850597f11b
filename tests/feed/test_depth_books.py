"""Merging the bid (41) and ask (51) halves of the depth feeds into one book event per instrument."""

from __future__ import annotations

import math
from typing import Any

import orjson

from feed.fulldepth.books import BookMerger
from feed.protocol.depth import DepthDecoder
from feed.protocol.encode import pack_depth_disconnect, pack_depth_side

BIDS = [(250.05 - 0.05 * i, 65 * (i + 1), i + 1) for i in range(20)]
ASKS = [(250.10 + 0.05 * i, 130 * (i + 1), 2 * i + 1) for i in range(20)]
NIFTY_FUT = (2, 35001)
OPTION = (2, 40007)


def side(key: tuple[int, int], rows: list[Any], *, bid: bool, seq: int = 1, levels: int = 20) -> bytes:
    return pack_depth_side(key[0], key[1], rows, bid=bid, levels=levels, sequence=seq)


def merge(merger: BookMerger, frame: bytes, ts: float = 1.0) -> list[dict[str, Any]]:
    return [orjson.loads(e) for e in merger.feed(DepthDecoder(merger.levels).decode(frame), ts)]


def test_a_pair_in_one_frame_is_one_book() -> None:
    m = BookMerger(20, tick_sizes={NIFTY_FUT: 0.05})
    [book] = merge(m, side(NIFTY_FUT, BIDS, bid=True, seq=7) + side(NIFTY_FUT, ASKS, bid=False, seq=7), 12.5)
    assert book == {
        "v": 1, "seg": "NSE_FNO", "sid": 35001, "levels": 20, "seq": 7, "recv_ts": 12.5,
        "bids": [[round(p, 2), q, o] for p, q, o in BIDS], "asks": [[round(p, 2), q, o] for p, q, o in ASKS],
    }
    assert m.books == 1 and m.bad_total == 0


def test_one_side_alone_waits_for_the_other_then_updates_with_the_side_known() -> None:
    m = BookMerger(20)
    assert merge(m, side(OPTION, BIDS, bid=True, seq=1)) == []  # the ask side is not known yet
    [first] = merge(m, side(OPTION, ASKS, bid=False, seq=1))
    assert first["bids"][0] == [250.05, 65, 1] and first["asks"][0] == [250.1, 130, 1]
    # a later bid alone: the book is the new bid side with the ask side already known
    newer = [(250.0, 999, 9), *BIDS[1:]]
    [second] = merge(m, side(OPTION, newer, bid=True, seq=2))
    assert second["bids"][0] == [250.0, 999, 9] and second["asks"] == first["asks"] and second["seq"] == 2


def test_several_instruments_in_one_frame_each_get_one_book_when_complete() -> None:
    m = BookMerger(20)
    frame = (side(OPTION, BIDS, bid=True) + side(NIFTY_FUT, BIDS, bid=True)
             + side(NIFTY_FUT, ASKS, bid=False) + side(OPTION, ASKS, bid=False))
    books = merge(m, frame)
    assert [(b["seg"], b["sid"]) for b in books] == [("NSE_FNO", 35001), ("NSE_FNO", 40007)]


def test_two_updates_of_one_instrument_in_a_frame_are_two_books() -> None:
    m = BookMerger(20)
    later = [(250.0, 999, 9), *BIDS[1:]]
    frame = (side(OPTION, BIDS, bid=True, seq=1) + side(OPTION, ASKS, bid=False, seq=1)
             + side(OPTION, later, bid=True, seq=2) + side(OPTION, ASKS, bid=False, seq=2))
    books = merge(m, frame)
    assert [(b["seq"], b["bids"][0]) for b in books] == [(1, [250.05, 65, 1]), (2, [250.0, 999, 9])]
    # an ask alone after a pair: a book with the bid already known
    [alone] = merge(m, side(OPTION, ASKS[1:], bid=False, seq=3))
    assert alone["asks"][0] == [250.15, 260, 3] and alone["bids"][0] == [250.0, 999, 9]


def test_a_bad_second_half_lets_the_first_half_out() -> None:
    m = BookMerger(20)
    merge(m, side(OPTION, BIDS, bid=True) + side(OPTION, ASKS, bid=False))
    newer = [(250.0, 999, 9), *BIDS[1:]]
    bad_asks = [(math.inf, 1, 1), *ASKS[1:]]
    [book] = merge(m, side(OPTION, newer, bid=True, seq=2) + side(OPTION, bad_asks, bid=False, seq=2))
    assert book["bids"][0] == [250.0, 999, 9] and book["asks"][0] == [250.1, 130, 1]  # the good ask kept
    assert m.bad_values["price_inf"] == 1


def test_empty_rows_are_left_out_and_the_200_level_seq_is_zero() -> None:
    m = BookMerger(200)
    rows = [(100.0 + 0.05 * i, 10, 1) for i in range(150)]
    books = merge(m, side(OPTION, rows[:9], bid=True, levels=200) + side(OPTION, rows, bid=False, levels=200))
    assert [(len(b["bids"]), len(b["asks"]), b["seq"], b["levels"]) for b in books] == [(9, 150, 0, 200)]
    m20 = BookMerger(20)
    padded = BIDS[:3] + [(0.0, 0, 0)] * 17
    [book] = merge(m20, side(OPTION, padded, bid=True) + side(OPTION, ASKS, bid=False))
    assert len(book["bids"]) == 3


def test_bad_sides_and_crossed_books_are_dropped_and_counted() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    m = BookMerger(20, on_bad=lambda kind, info: seen.append((kind, info)))
    nan_bids = [(math.nan, 1, 1), *BIDS[1:]]
    assert merge(m, side(OPTION, nan_bids, bid=True) + side(OPTION, ASKS, bid=False)) == []
    assert m.bad_values["price_nan"] == 1
    # the bad bid never became the latest: a good one completes the book
    assert len(merge(m, side(OPTION, BIDS, bid=True))) == 1
    crossed = [(999.0, 1, 1), *BIDS[1:]]
    assert merge(m, side(OPTION, crossed, bid=True)) == []
    assert merge(m, side(OPTION, crossed, bid=True)) == []
    assert m.bad_values["depth_crossed"] == 2 and m.bad_total == 3
    assert [k for k, _ in seen] == ["price_nan", "depth_crossed"]  # reported once per kind
    assert seen[0][1] == {"levels": 20, "seg": 2, "sid": 40007, "code": 41}


def test_forget_and_disconnect_packets() -> None:
    m = BookMerger(20)
    merge(m, side(OPTION, BIDS, bid=True) + side(OPTION, ASKS, bid=False))
    m.forget(OPTION)
    assert merge(m, side(OPTION, BIDS, bid=True)) == []  # the ask side went with the subscription
    assert merge(m, pack_depth_disconnect(807)) == []
    merge(m, side(NIFTY_FUT, ASKS, bid=False))
    m.forget()
    assert merge(m, side(NIFTY_FUT, BIDS, bid=True)) == []
