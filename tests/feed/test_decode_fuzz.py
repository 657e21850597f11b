"""Property tests: the decoder and normaliser never raise on arbitrary or mutated frames; bad ones are counted."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from feed.normalise import Normaliser
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
