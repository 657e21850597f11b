"""feed._fastfeed.book_rows (C) against feed.fulldepth.books.book_rows (Python): the same rows, the same
rounder calls' outcome (a refused price raises the same error), None for what it leaves to Python; and a book
event is the same bytes either way."""

from __future__ import annotations

import math
import shutil
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import feed.fulldepth.books as books_module
from feed.fulldepth.books import BookMerger, book_rows
from feed.prices import BadValue, price_rounder, shared_rounder_memo
from feed.protocol.depth import DepthDecoder
from feed.protocol.encode import pack_depth_side

native = books_module._native_rows
if native is None:
    # setup.py builds feed._fastfeed wherever a C compiler is: missing there, the build is broken.
    assert shutil.which("cc") is None and shutil.which("gcc") is None, "feed._fastfeed was not built"
    pytest.skip("no C compiler here: the native depth rows are not built", allow_module_level=True)
assert native is not None


def _f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


_price = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.just(0.0), st.just(-0.0),
    st.integers(0, 10**7).map(lambda t: t * 0.05), st.integers(0, 10**6).map(lambda t: _f32(t * 0.05)),
    st.floats(0, 1e6).map(_f32),
)  # fmt: skip
_u32 = st.integers(0, 2**32 - 1)
_row = st.tuples(_price, st.one_of(st.just(0), _u32), _u32)
_tick = st.sampled_from([None, 0.05, 0.01, 0.0025, 0.5, 1.0, 0.25])


def _python(rows: Any, rnd: Any) -> tuple[str, Any]:
    try:
        return "rows", book_rows(rows, rnd)
    except BadValue as exc:
        return "error", (exc.kind, repr(exc.value))


def _native(rows: Any, rnd: Any, memo: Any) -> tuple[str, Any]:
    try:
        return "rows", native(rows, rnd, memo)
    except BadValue as exc:
        return "error", (exc.kind, repr(exc.value))


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN included (a NaN price passes through the no-tick rounder)."""
    return repr(a) == repr(b)


@settings(max_examples=600)
@given(st.lists(_row, max_size=25), _tick, st.booleans())
def test_rows_are_the_python_rows(rows: list[tuple[float, int, int]], tick: float | None, warm: bool) -> None:
    rows_t = tuple(rows)
    if tick is None:
        rnd, memo = books_module._plain, None
    else:
        memo = {}
        rnd = price_rounder(tick, memo)
        if warm:                                   # some prices memoised before: hits and misses mixed
            for p, _, _ in rows[::2]:
                if 0.0 <= p < 1e9:
                    rnd(p)
    expected = _python(rows_t, rnd)
    assert _same(_native(rows_t, rnd, memo), expected)


def test_what_it_leaves_to_python() -> None:
    rnd, memo = shared_rounder_memo(0.05)
    assert native([(1.0, 1, 1)], rnd, memo) is None             # a list, not a tuple
    assert native(((1.0, 1),), rnd, memo) is None                # a short row
    assert native(((1, 1, 1),), rnd, memo) is None               # an int price: not what the decoder makes
    assert native(((1.0, 1, 1),), rnd, {1.0: 1.0}.items()) is None
    with pytest.raises(TypeError):
        native((), rnd)  # type: ignore[call-arg]
    assert native((), rnd, memo) == []


def test_a_refused_price_raises_as_in_python() -> None:
    rnd, memo = shared_rounder_memo(0.05)
    for bad in (math.nan, math.inf, -0.05, 2e9):
        with pytest.raises(BadValue) as py:
            book_rows(((bad, 1, 1),), rnd)
        with pytest.raises(BadValue) as c:
            native(((bad, 1, 1),), rnd, memo)
        assert c.value.kind == py.value.kind


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 400_000).map(lambda t: t * 0.05), _u32, st.integers(0, 5000)),
                min_size=0, max_size=20), st.integers(0, 20), _tick)
def test_a_book_event_is_the_same_bytes_with_or_without_the_native_rows(
        levels: list[tuple[float, int, int]], empty: int, tick: float | None) -> None:
    bids = sorted(levels, reverse=True) + [(0.0, 0, 0)] * min(empty, 20 - len(levels))
    asks = [(p + 1000.0, q, n) for p, q, n in sorted(levels)] + [(0.0, 0, 0)] * min(empty, 20 - len(levels))
    frame = (pack_depth_side(2, 41, bids, bid=True, levels=20, sequence=3)
             + pack_depth_side(2, 41, asks, bid=False, levels=20, sequence=4))
    ticks = {} if tick is None else {(2, 41): tick}

    def events() -> list[bytes]:
        return BookMerger(20, tick_sizes=ticks).feed(DepthDecoder(20).decode(frame), 1_795_578_300.25)

    with_native = events()
    saved = books_module._native_rows
    books_module._native_rows = None
    try:
        python_only = events()
    finally:
        books_module._native_rows = saved
    assert with_native == python_only
