"""writer._rowfmt (the C field renderer) against writer.values (the Python checks): the same literals for every
plain value, None for every value the checks refuse; and a quote row is the same text either way."""

from __future__ import annotations

import math
import shutil
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import writer.batch as batch_module
from writer import values
from writer.batch import BatchBuilder, Entry
from writer.values import NPRICE, NU32, NU64, PRICE, TS6, U32_KIND, nprice, nu32, nu64, price, ts6, u32

from .conftest import depth, quote

if values.native_fields is None:
    # The package builds it wherever a C compiler is (setup.py): missing there, the build is broken.
    assert shutil.which("cc") is None and shutil.which("gcc") is None, "writer._rowfmt was not built"
    pytest.skip("no C compiler here: the native renderer is not built", allow_module_level=True)

native = values.native_fields
native_levels = values.native_levels
assert native is not None and native_levels is not None

_PYTHON = {NU32: lambda x: nu32(x, "x"), NU64: lambda x: nu64(x, "x"), NPRICE: lambda x: nprice(x, "x"), TS6: ts6,
           PRICE: price, U32_KIND: lambda x: f"{u32(x, 'x'):d}"}
_MISSING = object()

_value = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(2**70), 2**70), st.integers(0, 2**64),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(-1e15, 1e15), st.floats(0, 2e11),
    st.integers(1, 10**9).map(lambda t: t * 0.05), st.decimals(-(10**6), 10**6, places=5).map(float),
    st.text(max_size=3), st.lists(st.integers(), max_size=1), st.just(_MISSING),
    st.sampled_from([
        2**32 - 1, 2**32, 2**64 - 1, 2**64, -1, 0, 1e14, -1e14, 99_999_999_999_999.99, 1e11, 0.0, -0.0, 5e-324,
        math.nan, 2**53, 2**53 + 1, -(2**53), 99_999_999_999_999, 0.00005, 0.00015, 1.0000005, 1795578300.1234565,
    ]),
)  # fmt: skip
_kind = st.sampled_from([NU32, NU64, NPRICE, TS6, PRICE, U32_KIND])


def _python(ev: dict[str, Any], spec: tuple[tuple[str, int], ...]) -> str | None:
    """The literals as writer.values renders them, or None where a check refuses a value."""
    out = []
    for key, kind in spec:
        if key not in ev and kind in (TS6, PRICE, U32_KIND):     # required: ev[key] raises KeyError
            return None
        try:
            out.append(_PYTHON[kind](ev.get(key)))
        except (TypeError, ValueError):
            return None
    return ",".join(out)


@settings(max_examples=1500)
@given(st.lists(st.tuples(_value, _kind), min_size=1, max_size=6))
def test_every_kind_renders_as_the_python_checks_do(fields: list[tuple[Any, int]]) -> None:
    ev = {f"f{i}": v for i, (v, _) in enumerate(fields) if v is not _MISSING}
    spec = tuple((f"f{i}", kind) for i, (_, kind) in enumerate(fields))
    assert native(ev, spec) == _python(ev, spec)


def test_bad_arguments_are_a_type_error() -> None:
    with pytest.raises(TypeError):
        native([], ())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        native({}, (("a",),))
    with pytest.raises(ValueError, match="unknown field kind"):
        native({"a": 1}, (("a", 9),))


_quote_field = st.one_of(st.floats(-1e15, 1e15), st.integers(-5, 2**64 - 1),  # orjson writes 64 bits at most
                          st.none(), st.booleans(), st.just(math.nan))


@settings(max_examples=400)
@given(st.dictionaries(st.sampled_from(["ltp", "ltq", "exchange_ts", "atp", "volume", "oi", "open", "bid", "ask",
                                        "recv_ts", "prev_oi", "high"]), _quote_field, max_size=4))
def test_a_quote_row_is_the_same_text_with_or_without_the_native_renderer(changes: dict[str, Any]) -> None:
    ev = {**quote(7, ltp=24_512.35), **changes}
    _same_either_way("quotes", orjson.dumps(ev), "native_fields")  # (a NaN is written as null)


def _same_either_way(kind: str, payload: bytes, native_name: str) -> None:
    """The rows and poison reasons of one entry, built with writer.batch's ``native_name`` and without it."""
    entries = [Entry(kind, b"1-0", payload)]

    def build() -> tuple[list[str], list[str]]:
        b = BatchBuilder().build(entries)
        return getattr(b, kind), [p.reason for p in b.poison]

    with_native = build()
    saved = getattr(batch_module, native_name)
    assert saved is not None
    setattr(batch_module, native_name, None)
    try:
        python_only = build()
    finally:
        setattr(batch_module, native_name, saved)
    assert with_native == python_only


def _python_levels(side: Any, max_levels: int) -> str | None:
    """A depth side as BatchBuilder._depth renders it in Python, or None where it refuses the side."""
    if type(side) is not list or len(side) > max_levels:
        return None
    out = []
    for level in side:
        if type(level) is not list or len(level) != 3:
            return None
        try:
            out.append(f"{price(level[0])},{u32(level[1], 'q'):d},{u32(level[2], 'o'):d}")
        except (TypeError, ValueError):
            return None
    return ",".join(out)


_depth_level = st.one_of(
    st.lists(_value.filter(lambda v: v is not _MISSING), min_size=3, max_size=3),
    st.tuples(st.floats(0, 1e5), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)).map(list),
    st.lists(st.integers(0, 9), max_size=4), st.tuples(st.floats(0, 9), st.integers(0, 9), st.integers(0, 9)),
)
_depth_side = st.one_of(st.lists(_depth_level, max_size=7), st.tuples(_depth_level), st.none(), st.integers())


@settings(max_examples=1000)
@given(_depth_side, st.integers(0, 6))
def test_a_depth_side_renders_as_the_python_checks_do(side: Any, max_levels: int) -> None:
    assert native_levels(side, max_levels) == _python_levels(side, max_levels)


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["bids", "asks"]), _depth_side.filter(lambda s: not isinstance(s, tuple)),
                       max_size=2), st.booleans())
def test_a_depth_row_is_the_same_text_with_or_without_the_native_renderer(changes: dict[str, Any],
                                                                         drop: bool) -> None:
    ev = {**depth(9, mid=24_512.35), **changes}
    if drop:
        ev.pop("asks")                      # a missing side: "missing field" either way
    try:
        payload = orjson.dumps(ev)
    except TypeError:                       # over 64 bits: no feed can send it
        return
    _same_either_way("depth", payload, "native_levels")
