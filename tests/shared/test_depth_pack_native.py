"""shared._depthpack (the C packer) against shared.depth_pack.pack_py (the Python reference): the same bytes
for every plain book, and None, leaving the error to Python, for everything else."""

from __future__ import annotations

import math
import shutil
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import depth_pack
from shared.depth_pack import pack, pack_py

if not depth_pack.NATIVE:
    # The package builds it wherever a C compiler is (setup.py): missing there, the build is broken.
    assert shutil.which("cc") is None and shutil.which("gcc") is None, "shared._depthpack was not built"
    pytest.skip("no C compiler here: the native packer is not built", allow_module_level=True)

from shared._depthpack import pack as native  # after the skip above: absent where it was not built


def _py(bids: Any, asks: Any) -> bytes | None:
    """The reference's bytes, or None where it refuses the book."""
    try:
        return pack_py(bids, asks)
    except ValueError:
        return None


_price = st.one_of(
    st.floats(-1e9, 1e9, exclude_min=True, exclude_max=True, allow_nan=False),
    st.integers(-(10**9) + 1, 10**9 - 1),
    st.integers(1, 10**7).map(lambda t: t * 0.05),            # tick multiples with their float noise
    st.integers(1, 10**8).map(lambda px4: px4 / 10000),
    st.decimals(0, 10**6, places=5).map(float),               # half ten-thousandths: round half to even
)
_u32 = st.integers(0, 2**32 - 1)
_level = st.tuples(_price, _u32, _u32).flatmap(lambda lv: st.sampled_from([lv, list(lv)]))
_side = st.lists(_level, max_size=60).flatmap(lambda s: st.sampled_from([s, tuple(s)]))


@settings(max_examples=600)
@given(_side, _side)
def test_plain_books_pack_to_the_reference_bytes(bids: Any, asks: Any) -> None:
    want = pack_py(bids, asks)
    assert native(bids, asks) == want
    assert pack(bids, asks) == want


_anything = st.one_of(
    _price, _u32, st.booleans(), st.none(), st.text(max_size=2), st.integers(), st.sampled_from([
        math.nan, math.inf, -math.inf, 1e9, -1e9, 2**32, -1, 2**63, -(2**63) - 1, 2**64,
        999_999_999.99999, -999_999_999.99999, 0.00005, 0.00015, 0.00025, -0.00005,
    ]),
)
_odd_level = st.one_of(
    st.lists(_anything, max_size=4), st.tuples(_anything, _anything, _anything), st.tuples(_price, _u32, _anything),
    st.tuples(_anything, _u32, _u32), _anything,
)
_odd_side = st.one_of(st.lists(st.one_of(_level, _odd_level), max_size=6), _anything)


@settings(max_examples=800)
@given(_odd_side, _odd_side)
def test_anything_else_is_left_to_python(bids: Any, asks: Any) -> None:
    got = native(bids, asks)
    try:
        want = pack_py(bids, asks)
    except (ValueError, TypeError):           # refused by the reference: never packed natively
        assert got is None
        with pytest.raises((ValueError, TypeError)):
            pack(bids, asks)
        return
    assert got is None or got == want         # packed by the reference: natively the same, or left to it
    assert pack(bids, asks) == want


class _Float(float):
    pass


class _Int(int):
    pass


@pytest.mark.parametrize("level", [
    (_Float(1.0), 1, 1), (1.0, _Int(1), 1), (1.0, 1, True), (True, 1, 1), (1.0, 1.0, 1), (1e9, 1, 1),
    (-1e9, 1, 1), (10**9, 1, 1), (math.nan, 1, 1), (1.0, 2**32, 1), (1.0, -1, 1), [1.0, 1], (1.0, 1, 1, 1),
])
def test_what_python_must_judge_is_not_packed_natively(level: Any) -> None:
    assert native([level], []) is None
    assert native([], [level]) is None


def test_sides_over_the_limit_and_odd_containers_are_left_to_python() -> None:
    side = [(1.0, 1, 1)] * 1001
    assert native(side, []) is None
    with pytest.raises(ValueError, match="more than 1000 levels"):
        pack(side, [])
    assert native(side[:1000], side[:1000]) == pack_py(side[:1000], side[:1000])   # 2000 levels: on the heap
    assert native(iter(side[:2]), []) is None
    assert native([(1.0, 1, 1)], None) is None
    with pytest.raises(TypeError):
        native([])


@pytest.mark.parametrize("price", [0.00005, 0.00015, 0.00025, 2.50005, 26000.12345, -0.00015, 999_999_999.99995])
def test_rounding_to_ten_thousandths_is_pythons(price: float) -> None:
    assert native([(price, 1, 1)], []) == _py([(price, 1, 1)], [])
