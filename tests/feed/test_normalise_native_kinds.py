"""The native path equals the pure-Python reference on every packet kind it takes (ticker, quote, OI, previous
close, full), mixed per instrument and with hostile frames between them: bad prices, LTTs and volumes, short and
long frames, several packets in one frame, kinds it leaves to Python, tick changes. Same events, same counts."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from feed.normalise import FAST_PATH_AVAILABLE, Normaliser
from feed.protocol.decode import Decoder
from feed.protocol.encode import (
    pack_depth_v1,
    pack_full,
    pack_market_status,
    pack_oi,
    pack_prev_close,
    pack_quote,
    pack_ticker,
)

pytestmark = pytest.mark.skipif(not FAST_PATH_AVAILABLE, reason="native fast path not built (no C compiler)")

RECV0 = 1795578300.0
LTT = 1795598100  # RECV0 in Dhan's epoch
SIDS = (9, 10)
TICKS = (0.05, 1.0, 0.0025, 0.3, 2.5e-6)
SPECIAL = (math.nan, math.inf, -math.inf, 3e38, 1e9, -1.0, 0.0, -0.0, 2.5, 0.125)

# mostly prices on a narrow grid (so trades meet the book and the last trade price), sometimes anything
price = st.one_of(*[st.integers(95, 105)] * 12, st.integers(1, 40_000), st.sampled_from(SPECIAL),
                  st.floats(width=32))
ltt = st.one_of(*[st.integers(LTT - 2, LTT + 6)] * 6, st.integers(LTT + 86_400 - 2, LTT + 86_400),
                st.sampled_from([0, 5, LTT - 3 * 86_400, LTT + 2 * 86_400, 2**32 - 1]))
volume = st.one_of(*[st.integers(0, 6)] * 4, st.integers(0, 2**32 - 1))
# the ask mostly a spread above the bid (an uncrossed book), sometimes any price
ask = st.one_of(st.integers(0, 2).map(lambda k: ("spread", k)), st.integers(0, 2).map(lambda k: ("spread", k)),
                price)
level = st.tuples(st.integers(0, 9), st.integers(0, 9), st.integers(0, 3), st.integers(0, 3), price, ask)

ticker = st.builds(lambda sid, p, t: ("ticker", sid, p, t), st.sampled_from(SIDS), price, ltt)
quote = st.tuples(st.just("quote"), st.sampled_from(SIDS), price, st.integers(0, 65535), ltt, price, volume,
                  st.integers(0, 2**32 - 1), st.tuples(price, price, price, price))
oi = st.tuples(st.just("oi"), st.sampled_from(SIDS), st.integers(0, 2**32 - 1))
prev = st.tuples(st.just("prev"), st.sampled_from(SIDS), price, st.integers(0, 2**32 - 1))
full = st.tuples(st.just("full"), st.sampled_from(SIDS), price, st.integers(0, 65535), ltt, price, volume,
                 st.integers(0, 2**32 - 1), st.tuples(price, price, price, price), st.lists(level, min_size=5,
                                                                                             max_size=5))
other = st.tuples(st.sampled_from(["depth_v1", "status", "short", "long", "pair", "retick"]), st.sampled_from(SIDS),
                  st.sampled_from(TICKS))
op = st.one_of(ticker, ticker, quote, quote, oi, prev, full, full, other)


def _px(x: int | float, tick: float) -> float:
    return x * tick if isinstance(x, int) else x


def _ask(bid: int | float, ask: int | float | tuple[str, int], tick: float) -> float:
    if isinstance(ask, tuple):
        return _px(bid, tick) + ask[1] * tick
    return _px(ask, tick)


def _frame(o: tuple, tick: float) -> bytes:
    kind, sid = o[0], o[1]
    if kind == "ticker":
        return pack_ticker(2, sid, _px(o[2], tick), o[3])
    if kind == "oi":
        return pack_oi(2, sid, o[2])
    if kind == "prev":
        return pack_prev_close(2, sid, _px(o[2], tick), o[3])
    p, ltq, ltt_, atp, vol, qty, ohlc = o[2:9]
    op_, cl, hi, lo = (_px(x, tick) for x in ohlc)
    if kind == "quote":
        return pack_quote(2, sid, ltp=_px(p, tick), ltq=ltq, ltt=ltt_, atp=_px(atp, tick), volume=vol,
                          total_sell_qty=qty, total_buy_qty=1, open=op_, close=cl, high=hi, low=lo)
    depth = [(a, b, c, d, _px(bp, tick), _ask(bp, ap, tick)) for a, b, c, d, bp, ap in o[9]]
    return pack_full(2, sid, ltp=_px(p, tick), ltq=ltq, ltt=ltt_, atp=_px(atp, tick), volume=vol,
                     total_sell_qty=qty, total_buy_qty=2, oi=qty // 3, oi_high=qty // 2, oi_low=1, open=op_,
                     close=cl, high=hi, low=lo, depth=depth)


def _other(o: tuple, last: bytes) -> bytes | None:
    kind, sid, tick = o
    if kind == "depth_v1":
        return pack_depth_v1(2, sid, 100 * tick, [(1, 1, 1, 1, 99 * tick, 101 * tick)] * 5)
    if kind == "status":
        return pack_market_status()
    if kind == "short":
        return last[:-1]
    if kind == "long":
        return last + b"\x00"
    if kind == "pair":  # two packets in one frame: the decoder's loop, then the Python path
        return last + pack_oi(2, sid, 77)
    return None


def _run(ops: list[tuple], tick: float, fast: bool) -> tuple:
    norm = Normaliser({(2, sid): tick for sid in SIDS}, fast=fast)
    dec = Decoder()
    q: list[bytes] = []
    t: list[bytes] = []
    d: list[bytes] = []
    last = pack_oi(2, 9, 1)
    for i, o in enumerate(ops):
        if len(o) == 3 and o[0] in ("depth_v1", "status", "short", "long", "pair", "retick"):
            frame = _other(o, last)
            if frame is None:  # retick
                norm.set_tick_sizes({(2, o[1]): o[2]})
                continue
        else:
            frame = last = _frame(o, tick)
        norm.feed_frame(dec, frame, RECV0 + i * 0.001234, q, t, d)
    states = [(norm.quote_state(2, sid), norm.last_price(2, sid)) for sid in SIDS]
    return ([orjson.loads(x) for x in q], [orjson.loads(x) for x in t], [orjson.loads(x) for x in d],
            norm.bad_values, dec.stats.as_dict(), norm.status_packets, repr(states))


BOOK = [(5, 5, 1, 1, 99, 101)] * 5


def _q(ltp: int, ltt_: int, vol: int) -> tuple:
    return ("quote", 9, ltp, 1, ltt_, 100, vol, 1, (100, 100, 100, 100))


@settings(max_examples=600, deadline=None)
@given(st.lists(op, min_size=1, max_size=25), st.sampled_from(TICKS))
# a trade at the ask just below the last trade: a buy, not the tick rule's sell
@example([("full", 9, 102, 1, LTT, 100, 1, 1, (1, 1, 1, 1), BOOK), ("full", 9, 101, 1, LTT, 100, 2, 1,
                                                                     (1, 1, 1, 1), BOOK)], 0.05)
# a trade on the next day moves the baseline's day: a lower volume that day goes back, no new session
@example([_q(100, LTT, 1), _q(100, LTT + 86_400, 2), _q(100, LTT + 86_400, 1)], 0.05)
# a book update (same volume) with an LTT below the floor is ltt_past; 0 (no trade yet) passes
@example([_q(100, LTT, 3), _q(100, 5, 3), _q(100, 0, 3)], 0.05)
def test_native_equals_python_on_every_kind(ops: list[tuple], tick: float) -> None:
    assert _run(ops, tick, True) == _run(ops, tick, False)


def test_a_quote_mode_session_runs_native_after_each_instruments_first_packet() -> None:
    frames = [pack_prev_close(2, 9, 99.5, 10), pack_oi(2, 9, 500)]
    frames += [pack_quote(2, 9, ltp=100.0 + i * 0.05, ltq=1, ltt=LTT + i, atp=100.0, volume=10 + i,
                          total_sell_qty=1, total_buy_qty=1, open=1.0, close=1.0, high=1.0, low=1.0)
               for i in range(5)]
    frames += [pack_ticker(2, 9, 101.0, LTT + 9)]
    norm = Normaliser({(2, 9): 0.05})
    out: tuple[list, list, list] = ([], [], [])
    native = []
    for i, f in enumerate(frames):
        native.append(norm._core.feed(f, RECV0 + i, *out))
        if not native[-1]:
            norm.feed_frame(Decoder(), f, RECV0 + i, *out)
    assert native == [False, True, False, True, True, True, True, True]  # firsts: the instrument, the baseline
    last = orjson.loads(out[0][-1])
    assert (last["ltp"], last["prev_close"], last["oi"], last["volume"], last["src"]) == (101.0, 99.5, 500, 14, 2)
    assert [orjson.loads(x)["qty"] for x in out[1]] == [1, 1, 1, 1]


def test_turning_the_native_path_off_hands_the_state_to_python() -> None:
    frames = [pack_prev_close(2, 9, 99.5, 10), pack_oi(2, 9, 500)]
    frames += [pack_quote(2, 9, ltp=100.0 + i * 0.05, ltq=1, ltt=LTT + i, atp=100.0, volume=10 + i,
                          total_sell_qty=1, total_buy_qty=1, open=1.0, close=1.0, high=1.0, low=1.0)
               for i in range(6)]
    runs = []
    for switch_at in (None, 4):
        norm = Normaliser({(2, 9): 0.05}, fast=switch_at is not None)
        out: tuple[list, list, list] = ([], [], [])
        for i, f in enumerate(frames):
            if i == switch_at:
                norm.fast = False
                assert norm._core is None and not norm.fast
            norm.feed_frame(Decoder(), f, RECV0 + i, *out)
        runs.append(([orjson.loads(x) for x in out[0]], [orjson.loads(x) for x in out[1]], norm.quote_state(2, 9)))
    assert runs[0] == runs[1] and len(runs[0][1]) == 5  # the trades after the switch counted from the same baseline
