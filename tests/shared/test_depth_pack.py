"""shared.depth_pack: the packed book format, byte by byte on a hand-worked case, and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.depth_pack import pack, pack_px4, unpack, unpack_px4


def test_a_small_book_packs_to_the_documented_bytes() -> None:
    # bids 100.00 x 75 (3 orders), 99.95 x 150 (1); asks 100.10 x 75 (2). Price unit: gcd of 1000000, 999500,
    # 1001000 ten-thousandths = 500; quantity unit 75. Prices in units: 2000, 1999, 2002 -> 2000, -1, +3.
    blob = pack([(100.0, 75, 3), (99.95, 150, 1)], [(100.1, 75, 2)])
    assert blob == bytes([
        1, 2, 1,  # version, bids, asks
        0xF4, 0x03,  # price unit 500 (varint: 500 = 0b11_1110100)
        75,  # quantity unit
        0xA0, 0x1F, 1, 6,  # zigzag(2000) = 4000 = 0xA0 0x1F; zigzag(-1) = 1; zigzag(3) = 6
        1, 2, 1,  # quantities in lots
        3, 1, 2,  # orders
    ])  # fmt: skip
    assert unpack(blob) == ([(100.0, 75, 3), (99.95, 150, 1)], [(100.1, 75, 2)])


def test_empty_and_one_sided_books() -> None:
    assert unpack(pack([], [])) == ([], [])
    assert unpack(pack([], [(5.0, 0, 0)])) == ([], [(5.0, 0, 0)])
    assert unpack(pack([(-3.25, 10, 1)], [])) == ([(-3.25, 10, 1)], [])  # negative prices (MCX 2020) too


def test_twenty_levels_of_005_ticks_are_about_four_bytes_a_level() -> None:
    bids = [(round(26000 - 0.05 * i, 2), 75 * (i + 1), i + 1) for i in range(20)]
    asks = [(round(26000.05 + 0.05 * i, 2), 75 * (20 - i), 20 - i) for i in range(20)]
    blob = pack(bids, asks)
    assert unpack(blob) == (bids, asks)
    assert len(blob) <= 4 * 40 + 10


@pytest.mark.parametrize(
    ("bids", "message"),
    [
        ([(1.0, -1, 1)], "bad bid quantity -1"),
        ([(1.0, 1, 2**32)], "bad bid orders"),
        ([(float("nan"), 1, 1)], "bad bid price nan"),
        ([(True, 1, 1)], "bad bid price True"),
        ([(1.0, 1)], "must be \\[price, qty, orders\\]"),
        ([(2e9, 1, 1)], "bad bid price"),
    ],
)
def test_values_it_cannot_hold_are_refused(bids: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pack(bids, [])


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "version None"),
        (b"\x02\x00\x00\x01\x01", "version 2"),
        (b"\x01\x01\x00\x01\x01", "truncated"),
        (b"\x01\x00\x00\x01\x01\x00", "trailing"),
        (b"\x01\x00\x00\x00\x01", "out of range"),
        (b"\x01" + b"\xff" * 12, "over-long"),
    ],
)
def test_bytes_that_are_not_a_book_are_refused(blob: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        unpack(blob)


_level = st.tuples(st.integers(-(10**12), 10**12), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))


@given(st.lists(_level, max_size=200), st.lists(_level, max_size=200))
def test_integer_books_round_trip_exactly(bids: list, asks: list) -> None:
    assert unpack_px4(pack_px4(bids, asks)) == (bids, asks)


@given(st.lists(st.tuples(st.integers(1, 10**8), st.integers(0, 10**6), st.integers(0, 500)), max_size=40))
def test_four_decimal_prices_round_trip_to_the_same_floats(levels: list) -> None:
    book = [(px4 / 10000, q, n) for px4, q, n in levels]
    assert unpack(pack(book, book[::-1])) == (book, book[::-1])
