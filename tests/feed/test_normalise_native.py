"""The native full-packet path produces the same events as the pure-Python reference path."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feed.normalise import FAST_PATH_AVAILABLE, Normaliser
from feed.protocol.decode import Decoder
from feed.protocol.encode import pack_full, pack_prev_close

pytestmark = pytest.mark.skipif(not FAST_PATH_AVAILABLE, reason="native fast path not built (no C compiler)")

TICKS = {0.05: 0.05, 0.1: 0.1, 1.0: 1.0, 0.0025: 0.0025, 0.01: 0.01}

level = st.tuples(
    st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 65535), st.integers(0, 65535),
    st.integers(0, 4_000_000), st.integers(0, 4_000_000),
)
packet = st.fixed_dictionaries({
    "ltp": st.integers(0, 4_000_000), "ltq": st.integers(0, 65535), "ltt": st.integers(0, 2**32 - 1),
    "atp": st.integers(0, 4_000_000), "volume": st.integers(0, 2**32 - 1),
    "tsq": st.integers(0, 2**32 - 1), "tbq": st.integers(0, 2**32 - 1), "oi": st.integers(0, 2**32 - 1),
    "ohlc": st.tuples(*[st.integers(0, 4_000_000)] * 4), "depth": st.lists(level, min_size=5, max_size=5),
})


def _frame(d: dict, tick: float, sid: int) -> bytes:
    px = lambda n: n * tick  # noqa: E731 - prices on the tick grid, as the exchange sends them
    depth = [(a, b, c, e, px(f) if f % 7 else 0.0, px(g)) for a, b, c, e, f, g in d["depth"]]
    o, c, h, lo = (px(x) for x in d["ohlc"])
    return pack_full(2, sid, ltp=px(d["ltp"]), ltq=d["ltq"], ltt=d["ltt"], atp=px(d["atp"]), volume=d["volume"],
                     total_sell_qty=d["tsq"], total_buy_qty=d["tbq"], oi=d["oi"], oi_high=d["oi"], oi_low=0,
                     open=o, close=c, high=h, low=lo, depth=depth)


def _events(frames: list[bytes], tick: float, fast: bool) -> tuple[list, list, list]:
    norm = Normaliser({(2, 9): tick}, fast=fast)
    dec = Decoder()
    q: list[bytes] = []
    t: list[bytes] = []
    d: list[bytes] = []
    for i, f in enumerate(frames):
        norm.feed_frame(dec, f, 1795578300.0 + i * 0.001234, q, t, d)
    return ([orjson.loads(x) for x in q], [orjson.loads(x) for x in t], [orjson.loads(x) for x in d])


@settings(max_examples=150, deadline=None)
@given(st.lists(packet, min_size=1, max_size=6), st.sampled_from(sorted(TICKS)), st.booleans())
def test_native_equals_python(packets: list[dict], tick: float, prev: bool) -> None:
    frames = ([pack_prev_close(2, 9, 100 * tick, 1234)] if prev else []) + [_frame(p, tick, 9) for p in packets]
    assert _events(frames, tick, True) == _events(frames, tick, False)
