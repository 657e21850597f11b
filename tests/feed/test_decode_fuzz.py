"""Property tests: the decoder and normaliser never raise on arbitrary or mutated frames; bad ones are counted."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from feed.normalise import LTT_FLOOR, TRADE_LTT_BEHIND_MAX_S, Normaliser
from feed.protocol.decode import PACKET_SIZES_BY_CODE, Decoder
from feed.protocol.encode import pack_full, pack_oi, pack_prev_close, pack_quote, pack_ticker

VALID = [
    pack_ticker(1, 2885, 1500.5, 1795598100),
    pack_quote(2, 35001, ltp=100.0, ltq=75, ltt=1, atp=99.0, volume=10, total_sell_qty=1, total_buy_qty=2,
               open=1.0, close=2.0, high=3.0, low=0.5),
    pack_oi(2, 35001, 5),
    pack_prev_close(2, 35001, 99.5, 4),
    pack_full(2, 35001, ltp=100.0, ltq=75, ltt=1, atp=99.0, volume=10, total_sell_qty=1, total_buy_qty=2,
              oi=3, oi_high=4, oi_low=2, open=1.0, close=2.0, high=3.0, low=0.5),
]


def _run(frame: bytes) -> Decoder:
    dec = Decoder()
    norm = Normaliser()
    q: list[bytes] = []
    norm.process(dec.decode(frame), 1.0, q, [], [])
    return dec


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_raise(frame: bytes) -> None:
    dec = _run(frame)
    st_ = dec.stats
    assert st_.frames == 1
    assert st_.packets >= 0 and st_.bad <= 1


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(VALID), st.integers(min_value=0, max_value=161), st.integers(min_value=0, max_value=255),
       st.integers(min_value=0, max_value=200))
def test_mutated_valid_frames_never_raise(frame: bytes, pos: int, byte: int, cut: int) -> None:
    mutated = bytearray(frame)
    mutated[pos % len(mutated)] = byte
    dec = _run(bytes(mutated[: max(0, len(mutated) - cut % (len(mutated) + 1))]))
    st_ = dec.stats
    # every byte is either inside a decoded packet or counted as one problem
    assert st_.packets > 0 or st_.bad == 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(VALID), min_size=1, max_size=8))
def test_concatenated_packets_all_decode(frames: list[bytes]) -> None:
    dec = Decoder()
    pkts = dec.decode(b"".join(frames))
    assert [p[0] for p in pkts] == [f[0] for f in frames]
    assert sum(PACKET_SIZES_BY_CODE[p[0]] for p in pkts) == sum(map(len, frames))
    assert dec.stats.bad == 0


f32 = st.floats(width=32)  # every float32: NaN, +-inf, subnormals, huge
u32 = st.integers(0, 2**32 - 1)
RECV_TS = 1795578300.0  # 09:15 IST; LTTs around it are valid, the rest of u32 is far off


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(
    st.builds(pack_full, st.just(2), st.integers(1, 3), ltp=f32, ltq=st.integers(0, 65535),
              ltt=st.one_of(u32, st.integers(1795598000, 1795598200)), atp=f32, volume=u32, total_sell_qty=u32,
              total_buy_qty=u32, oi=u32, oi_high=u32, oi_low=u32, open=f32, close=f32, high=f32, low=f32,
              depth=st.lists(st.tuples(u32, u32, st.integers(0, 65535), st.integers(0, 65535), f32, f32),
                             min_size=5, max_size=5)),
    st.builds(pack_quote, st.just(2), st.integers(1, 3), ltp=f32, ltq=st.integers(0, 65535), ltt=u32, atp=f32,
              volume=u32, total_sell_qty=u32, total_buy_qty=u32, open=f32, close=f32, high=f32, low=f32),
    st.builds(pack_ticker, st.just(2), st.integers(1, 3), f32, u32),
    st.builds(pack_prev_close, st.just(2), st.integers(1, 3), f32, u32),
    st.builds(pack_oi, st.just(2), st.integers(1, 3), u32),
), min_size=1, max_size=12), st.booleans())
def test_any_field_values_never_raise_nor_reach_an_event(frames: list[bytes], fast: bool) -> None:
    """Every packet is either dropped and counted, or makes events whose prices are all usable."""
    import orjson

    from shared.events import is_price

    norm = Normaliser({(2, 1): 0.05, (2, 2): 0.0025, (2, 3): 2.5e-6}, fast=fast)
    dec = Decoder()
    quotes: list[bytes] = []
    ticks: list[bytes] = []
    depth: list[bytes] = []
    for i, frame in enumerate(frames):
        norm.feed_frame(dec, frame, RECV_TS + i, quotes, ticks, depth)
    assert len(quotes) + norm.bad_total == len(frames)  # one quote event per accepted packet
    for q in map(orjson.loads, quotes):
        assert all(q[k] is None or is_price(q[k]) for k in ("ltp", "atp", "open", "close", "high", "low",
                                                             "prev_close", "bid", "ask"))
    newest = 0
    for t in map(orjson.loads, ticks):  # in order: each within a day of the newest exchange time before it
        assert is_price(t["ltp"]) and t["qty"] > 0 and LTT_FLOOR <= t["exchange_ts"] < RECV_TS + 19_800 + 86_400 + 12
        assert t["exchange_ts"] >= newest - TRADE_LTT_BEHIND_MAX_S
        newest = max(newest, t["exchange_ts"])
    for d in map(orjson.loads, depth):
        assert all(is_price(lv[0]) for lv in d["bids"] + d["asks"])
