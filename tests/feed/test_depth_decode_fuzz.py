"""Property tests of the depth feeds' decoder and validity check: hostile bytes never raise anything, every bad
frame is counted as one problem, and a book the check passes holds only usable prices."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from feed.protocol.depth import DepthDecoder, book_problem, side_bytes, side_problem
from feed.protocol.encode import pack_depth_disconnect, pack_depth_side
from shared.events import is_price

ROWS = [(25_000.0 - 0.05 * i, 65 * (i + 1), 1 + i % 7) for i in range(200)]
VALID = {
    20: [pack_depth_side(2, 35001, ROWS[:20], bid=True, sequence=5),
         pack_depth_side(1, 1333, ROWS[:20], bid=False, sequence=6), pack_depth_disconnect(807)],
    200: [pack_depth_side(2, 35001, ROWS, bid=True, levels=200),
          pack_depth_side(2, 35001, ROWS[:37], bid=False, levels=200),
          pack_depth_side(2, 35001, [], bid=False, levels=200), pack_depth_disconnect(805)],
}
levels_st = st.sampled_from([20, 200])


@settings(max_examples=400, deadline=None)
@given(levels_st, st.binary(max_size=4000))
def test_random_bytes_never_raise_and_count_at_most_one_problem(levels: int, frame: bytes) -> None:
    dec = DepthDecoder(levels)
    packets = dec.decode(frame)
    assert dec.stats.frames == 1 and dec.stats.bad <= 1
    assert dec.stats.packets == len(packets)
    for p in packets:
        assert p.code in (41, 51, 50) and len(p.rows) <= levels
        side_problem(p)  # never raises either


@settings(max_examples=400, deadline=None)
@given(levels_st, st.data(), st.integers(0, 255), st.integers(0, 4000))
def test_mutated_valid_frames_never_raise(levels: int, data: st.DataObject, byte: int, cut: int) -> None:
    frame = bytearray(data.draw(st.sampled_from(VALID[levels])))
    frame[data.draw(st.integers(0, len(frame) - 1))] = byte
    frame = frame[: max(0, len(frame) - cut % (len(frame) + 1))]
    dec = DepthDecoder(levels)
    packets = dec.decode(bytes(frame))
    # what decodes is returned; the first problem ends the frame and is counted once
    assert dec.stats.bad <= 1 and (packets or dec.stats.bad == 1)
    assert dec.stats.packets == len(packets)


@settings(max_examples=200, deadline=None)
@given(levels_st, st.data())
def test_concatenated_packets_all_decode(levels: int, data: st.DataObject) -> None:
    parts = data.draw(st.lists(st.sampled_from(VALID[levels]), min_size=1, max_size=10))
    dec = DepthDecoder(levels)
    packets = dec.decode(b"".join(parts))
    assert [p.code for p in packets] == [part[2] for part in parts]
    assert sum(side_bytes(len(p.rows)) for p in packets) == sum(map(len, parts))
    assert dec.stats.bad == 0


f64 = st.floats(allow_nan=True, allow_infinity=True)  # every float64: NaN, +-inf, subnormals, 1e308
u32 = st.integers(0, 2**32 - 1)
row = st.tuples(f64, u32, u32)


@settings(max_examples=400, deadline=None)
@given(levels_st, st.lists(row, max_size=20), st.lists(row, max_size=20), u32)
def test_any_field_values_are_either_named_bad_or_a_usable_book(
    levels: int, bids: list[tuple[float, int, int]], asks: list[tuple[float, int, int]], seq: int,
) -> None:
    frame = (pack_depth_side(2, 9, bids, bid=True, levels=levels, sequence=seq)
             + pack_depth_side(2, 9, asks, bid=False, levels=levels, sequence=seq))
    dec = DepthDecoder(levels)
    bid, ask = dec.decode(frame)
    assert dec.stats.bad == 0
    assert [r[1:] for r in bid.rows] == [r[1:] for r in bids]  # quantities and orders whole
    kind = book_problem(bid, ask)
    assert kind in (None, "price_nan", "price_inf", "price_range", "depth_crossed")
    if kind is None:
        assert all(is_price(r[0]) for r in bid.rows + ask.rows)
        assert not (bid.rows and ask.rows and bid.rows[0][0] > ask.rows[0][0] > 0.0)
    else:  # the named kind is really there
        prices = [r[0] for r in bid.rows + ask.rows]
        if kind == "depth_crossed":
            assert all(is_price(p) for p in prices) and bid.rows[0][0] > ask.rows[0][0]
        else:
            assert not all(is_price(p) for p in prices)


def test_a_length_that_is_negative_as_int16_is_a_bad_length_not_a_crash() -> None:
    frame = struct.pack("<hBBiI", -332, 41, 2, 1, 0) + bytes(320)
    dec = DepthDecoder(20)
    assert dec.decode(frame) == [] and dec.stats.bad_length + dec.stats.truncated == 1
