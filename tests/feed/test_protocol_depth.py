"""The 20- and 200-level depth codec: round trips, hand-built bytes per the layout, framing problems counted,
the validity check of a book, and the depth feeds' JSON requests."""

from __future__ import annotations

import math
import struct
from typing import Any

import orjson
import pytest

from feed.prices import BAD_VALUE_KINDS
from feed.protocol.depth import DepthDecoder, DepthPacket, book_problem, crossed, side_bytes, side_problem
from feed.protocol.encode import pack_depth_disconnect, pack_depth_side
from feed.protocol.requests import RequestError, build_depth_requests, parse_depth_request

BIDS = [(25_000.05 - 0.05 * i, 65 * (i + 1), i + 1) for i in range(20)]
ASKS = [(25_000.10 + 0.05 * i, 130 * (i + 1), 2 * i + 1) for i in range(20)]


def test_twenty_level_pair_round_trips_in_one_frame() -> None:
    frame = (pack_depth_side(2, 35001, BIDS, bid=True, sequence=77)
             + pack_depth_side(2, 35001, ASKS, bid=False, sequence=77))
    assert len(frame) == 2 * 332
    dec = DepthDecoder(20)
    bid, ask = dec.decode(frame)
    assert bid == DepthPacket(41, 2, 35001, 77, tuple(BIDS)) and bid.is_bid and not bid.is_disconnect
    assert ask == DepthPacket(51, 2, 35001, 77, tuple(ASKS)) and not ask.is_bid
    assert dec.stats.as_dict() == {"frames": 1, "packets": 2, "truncated": 0, "oversized": 0, "unknown": 0,
                                   "bad_length": 0, "empty": 0}
    assert dec.stats.by_code == {41: 1, 51: 1}


def test_hand_built_bytes_follow_the_documented_offsets() -> None:
    raw = struct.pack("<h", 12 + 2 * 16) + bytes([51, 1]) + struct.pack("<i", 1333) + struct.pack("<I", 9)
    raw += struct.pack("<dII", 1415.1, 10, 2) + struct.pack("<dII", 1415.2, 20, 3)
    [pkt] = DepthDecoder(20).decode(raw)  # a short 20-level side (2 rows) is taken, as the official client does
    assert pkt == DepthPacket(51, 1, 1333, 9, ((1415.1, 10, 2), (1415.2, 20, 3)))
    assert pack_depth_side(1, 1333, [(1415.1, 10, 2), (1415.2, 20, 3)], bid=False, sequence=9) == raw


def test_two_hundred_levels_carry_their_row_count() -> None:
    rows = [(100.0 + i * 0.05, i + 1, 1) for i in range(200)]
    side = pack_depth_side(2, 40001, rows, bid=False, levels=200)
    assert len(side) == side_bytes(200) == 3212
    assert struct.unpack_from("<hBBiI", side) == (3212, 51, 2, 40001, 200)
    [pkt] = DepthDecoder(200).decode(side)
    assert pkt.rows == tuple(rows) and pkt.sequence == 200
    short = pack_depth_side(2, 40001, rows[:9], bid=True, levels=200)
    empty = pack_depth_side(2, 40001, [], bid=False, levels=200)
    pkts = DepthDecoder(200).decode(short + empty)
    assert [(p.code, len(p.rows), p.sequence) for p in pkts] == [(41, 9, 9), (51, 0, 0)]
    with pytest.raises(ValueError, match="201 rows"):
        pack_depth_side(2, 1, [(1.0, 1, 1)] * 201, bid=True, levels=200)


def test_disconnect_packet_carries_the_reason_where_the_official_client_reads_it() -> None:
    raw = pack_depth_disconnect(805)
    assert struct.unpack("<hBBiI", raw) == (12, 50, 0, 0, 805)
    frame = pack_depth_side(2, 1, BIDS, bid=True) + raw
    bid, bye = DepthDecoder(20).decode(frame)
    assert bye.is_disconnect and bye.reason == 805 and bid.reason is None


@pytest.mark.parametrize("levels", [20, 200])
def test_framing_problems_are_counted_once_reported_and_never_raised(levels: int) -> None:
    problems: list[tuple[str, dict[str, Any]]] = []
    dec = DepthDecoder(levels, on_problem=lambda kind, info: problems.append((kind, info)), max_frame_bytes=8000)
    good = pack_depth_side(2, 7, BIDS, bid=True, levels=levels)
    assert dec.decode(b"") == []
    assert dec.decode(good + good[:40]) == [dec.decode(good)[0]]  # the whole one decodes, the cut one counts
    assert dec.decode(good[:8]) == []
    assert dec.decode(bytes([12, 0, 99, 2, 1, 0, 0, 0, 0, 0, 0, 0])) == []
    rows_off = bytearray(good)
    struct.pack_into("<H", rows_off, 0, len(good) - 8)  # not header + whole rows
    assert dec.decode(bytes(rows_off)) == []
    assert dec.decode(good * 30) == []  # beyond max_frame_bytes
    st = dec.stats
    assert (st.empty, st.truncated, st.unknown, st.bad_length, st.oversized) == (1, 2, 1, 1, 1)
    assert st.bad == 6 and st.frames == 7 and st.packets == 2
    assert [k for k, _ in problems] == ["empty", "truncated", "unknown", "bad_length", "oversized"]
    assert problems[2][1] == {"frame_bytes": 12, "offset": 0, "head_hex": "0c00630201000000" + "00000000"}


def test_row_count_must_match_the_200_level_header_and_stay_within_200() -> None:
    side = bytearray(pack_depth_side(2, 7, [(1.0, 1, 1)] * 3, bid=True, levels=200))
    struct.pack_into("<I", side, 8, 4)
    dec = DepthDecoder(200)
    assert dec.decode(bytes(side)) == [] and dec.stats.bad_length == 1
    big = struct.pack("<HBBII", 12 + 201 * 16, 41, 2, 7, 201) + bytes(201 * 16)
    assert dec.decode(big) == [] and dec.stats.bad_length == 2
    assert DepthDecoder(20).decode(pack_depth_side(2, 7, [(1.0, 1, 1)] * 21, bid=True, levels=200)) == []
    with pytest.raises(ValueError):
        DepthDecoder(5)


# --- validity ---
def _side(prices: list[float], bid: bool = True) -> DepthPacket:
    return DepthPacket(41 if bid else 51, 2, 1, 0, tuple((p, 10, 1) for p in prices))


@pytest.mark.parametrize("price,kind", [
    (math.nan, "price_nan"), (math.inf, "price_inf"), (-math.inf, "price_inf"), (-0.05, "price_range"),
    (1e9, "price_range"), (1e300, "price_range"),
])
def test_bad_prices_anywhere_in_a_side_are_named_like_the_normaliser(price: float, kind: str) -> None:
    assert kind in BAD_VALUE_KINDS
    assert side_problem(_side([100.0, 99.95, price, 99.85])) == kind
    assert book_problem(_side([100.0]), _side([100.05, price], bid=False)) == kind


def test_crossed_locked_and_empty_books() -> None:
    assert book_problem(_side([100.10, 100.0]), _side([100.05, 100.10], bid=False)) == "depth_crossed"
    assert crossed(_side([100.10]), _side([100.05], bid=False))
    assert book_problem(_side([100.05]), _side([100.05], bid=False)) is None  # locked: an auction, valid
    assert book_problem(_side([0.0, 0.0]), _side([0.0], bid=False)) is None  # empty levels: zeros
    assert book_problem(_side([]), _side([100.0], bid=False)) is None  # a 200-level side with no rows
    assert book_problem(_side([100.0, 0.0]), _side([0.0], bid=False)) is None  # no offers at all


# --- requests ---
def test_depth_requests_are_built_within_the_limits() -> None:
    items = [("NSE_FNO", 40_000 + i) for i in range(120)]
    frames = [orjson.loads(f) for f in build_depth_requests(items)]
    assert [f["InstrumentCount"] for f in frames] == [50, 50, 20]
    assert {f["RequestCode"] for f in frames} == {23}
    assert frames[0]["InstrumentList"][0] == {"ExchangeSegment": "NSE_FNO", "SecurityId": "40000"}
    two = [orjson.loads(f) for f in build_depth_requests(items[:2], 200, subscribe=False)]
    assert [(f["RequestCode"], f["InstrumentCount"]) for f in two] == [(24, 1), (24, 1)]
    with pytest.raises(ValueError):
        build_depth_requests(items, 5)


def test_depth_requests_parse_both_shapes_and_both_unsubscribe_codes() -> None:
    listed = parse_depth_request(build_depth_requests([("NSE_EQ", 1333), ("NSE_FNO", 52175)])[0])
    assert (listed.code, listed.instruments) == (23, (("NSE_EQ", 1333), ("NSE_FNO", 52175)))
    inline = parse_depth_request('{"RequestCode": 23, "ExchangeSegment": "NSE_FNO", "SecurityId": "52175"}', 200)
    assert (inline.code, inline.instruments) == (23, (("NSE_FNO", 52175),))
    for code in (24, 25):
        req = parse_depth_request(f'{{"RequestCode": {code}, "InstrumentCount": 1, "InstrumentList": '
                                  '[{"ExchangeSegment": "NSE_EQ", "SecurityId": "1333"}]}')
        assert req.code == code and req.instruments == (("NSE_EQ", 1333),)
    assert parse_depth_request('{"RequestCode": 12}').instruments == ()


@pytest.mark.parametrize("text,levels,why", [
    ('{"RequestCode": 15, "InstrumentList": []}', 20, "unknown RequestCode 15"),
    ('{"RequestCode": 21, "InstrumentList": []}', 20, "unknown RequestCode 21"),
    (orjson.dumps({"RequestCode": 23, "InstrumentList": [{"ExchangeSegment": "NSE_EQ", "SecurityId": str(i)}
                                                          for i in range(51)]}).decode(), 20, "limit is 50"),
    (build_depth_requests([("NSE_EQ", 1), ("NSE_EQ", 2)])[0], 200, "limit is 1"),
    ('{"RequestCode": 23, "ExchangeSegment": "NSE_FNO", "SecurityId": "x1"}', 200, "not a valid id"),
    ('{"RequestCode": 23, "ExchangeSegment": "NOPE", "SecurityId": "1"}', 200, "unknown ExchangeSegment"),
    ("[23]", 20, "JSON object"),
])
def test_bad_depth_requests_get_one_line_reasons(text: str, levels: int, why: str) -> None:
    with pytest.raises(RequestError, match=why) as info:
        parse_depth_request(text, levels)
    assert "\n" not in str(info.value)
