"""feed._fastfeed.resp_batch (C) against feed.publisher.resp_batch_py (Python): the same bytes for every
batch, None for what it leaves to Python; and those bytes are the commands the publisher means, read back by
hiredis (an oracle that is neither of the two)."""

from __future__ import annotations

import shutil
from typing import Any

import hiredis
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import feed.publisher as publisher_module
from feed.publisher import resp_batch, resp_batch_py

native = publisher_module._native_batch
if native is None:
    # setup.py builds feed._fastfeed wherever a C compiler is: missing there, the build is broken.
    assert shutil.which("cc") is None and shutil.which("gcc") is None, "feed._fastfeed was not built"
    pytest.skip("no C compiler here: the native batch is not built", allow_module_level=True)
assert native is not None

STREAMS = [b"p:quotes", b"p:ticks", b"p:depth", b"p:greeks", b"p:depth20"]
XADD = [b"*8\r\n$4\r\nXADD\r\n$%d\r\n%s\r\n$6\r\nMAXLEN\r\n$1\r\n~\r\n$3\r\n100\r\n$1\r\n*\r\n$1\r\nd\r\n" % (len(s), s)
        for s in STREAMS]  # fmt: skip
PUB = [b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n" % (len(s), s) for s in STREAMS]

_payload = st.one_of(
    st.binary(max_size=40),
    st.builds(
        orjson.dumps,
        st.dictionaries(st.text(max_size=5), st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)),
    ),
)
_chunk = st.lists(st.tuples(st.integers(0, len(STREAMS) - 1), _payload), max_size=60)


def _commands(data: bytes) -> list[Any]:
    reader = hiredis.Reader()
    reader.feed(data)
    out = []
    while (command := reader.gets()) is not False:
        out.append(command)
    return out


@settings(max_examples=300, deadline=None)
@given(chunk=_chunk, publish=st.booleans())
def test_native_batch_is_the_python_batch_byte_for_byte(chunk: list[tuple[int, bytes]], publish: bool) -> None:
    pub = PUB if publish else None
    assert native(chunk, XADD, pub) == resp_batch_py(chunk, XADD, pub)


@pytest.mark.parametrize("publish", [True, False])
def test_the_batch_is_one_xadd_per_event_then_a_publish_per_kind(publish: bool) -> None:
    big = b"x" * 70_000  # a length of five digits, past any small buffer
    chunk = [(1, b'{"a":1}'), (0, b""), (1, big), (3, b"[]"), (1, b"q")]
    data, counts = resp_batch(chunk, XADD, PUB if publish else None)
    assert counts == [1, 3, 0, 1, 0]
    xadds = [[b"XADD", STREAMS[k], b"MAXLEN", b"~", b"100", b"*", b"d", p] for k, p in chunk]
    publishes = [
        [b"PUBLISH", STREAMS[0], b"[]"],  # the empty payload stays an element: "[" + "" + "]"
        [b"PUBLISH", STREAMS[1], b'[{"a":1},' + big + b",q]"],
        [b"PUBLISH", STREAMS[3], b"[[]]"],
    ]
    assert _commands(data) == xadds + (publishes if publish else [])
    assert (data, counts) == resp_batch_py(chunk, XADD, PUB if publish else None)


def test_an_empty_batch_is_no_command() -> None:
    assert native([], XADD, PUB) == (b"", [0, 0, 0, 0, 0])


@pytest.mark.parametrize(
    "chunk",
    [
        [(5, b"x")],  # a kind past the prefixes
        [(-1, b"x")],
        [(2**70, b"x")],
        [(True, b"x")],  # not exactly an int
        [(0, "x")],  # a payload not bytes
        [(0, bytearray(b"x"))],
        [[0, b"x"]],  # an item not a tuple
        [(0, b"x", 1)],
    ],
)
def test_what_is_not_plain_is_left_to_python(chunk: list[Any]) -> None:
    assert native(chunk, XADD, PUB) is None
    try:
        expected: Any = resp_batch_py(chunk, XADD, PUB)
    except Exception as exc:  # whatever Python says of it, resp_batch says the same
        with pytest.raises(type(exc)):
            resp_batch(chunk, XADD, PUB)
    else:
        assert resp_batch(chunk, XADD, PUB) == expected


def test_prefixes_that_are_not_plain_are_left_to_python() -> None:
    chunk = [(0, b"x")]
    assert native(chunk, tuple(XADD), PUB) is None
    assert native(chunk, XADD, PUB[:2]) is None
    assert native(chunk, [*XADD[:4], "s"], PUB) is None
    assert native(chunk, XADD * 4, None) is None  # more kinds than the C side keeps counts for
