"""Codec round trips for every packet type, and decoding of hand-built bytes laid out per the protocol doc."""

from __future__ import annotations

import struct

import orjson
import pytest

from feed.protocol import Decoder, ResponseCode
from feed.protocol.decode import packet_as_dict
from feed.protocol.encode import (
    pack_depth_v1,
    pack_disconnect,
    pack_full,
    pack_market_status,
    pack_oi,
    pack_prev_close,
    pack_quote,
    pack_ticker,
)
from feed.protocol.requests import RequestError, build_requests, parse_request

DEPTH = (
    (100, 200, 3, 4, 25000.05, 25000.10),
    (110, 210, 5, 6, 25000.00, 25000.15),
    (120, 220, 7, 8, 24999.95, 25000.20),
    (130, 230, 9, 10, 24999.90, 25000.25),
    (140, 240, 11, 12, 24999.85, 25000.30),
)


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def test_ticker_from_hand_built_bytes() -> None:
    raw = bytes([2]) + (16).to_bytes(2, "little") + bytes([2]) + (35001).to_bytes(4, "little")
    raw += struct.pack("<f", 25012.5) + (1795598100).to_bytes(4, "little")
    [pkt] = Decoder().decode(raw)
    d = packet_as_dict(pkt)
    assert d == {"code": 2, "length": 16, "segment": 2, "security_id": 35001, "ltp": 25012.5, "ltt": 1795598100}


def test_full_from_hand_built_bytes_offsets() -> None:
    buf = bytearray(162)
    buf[0] = 8
    buf[1:3] = (162).to_bytes(2, "little")
    buf[3] = 2
    buf[4:8] = (52175).to_bytes(4, "little")
    struct.pack_into("<f", buf, 8, 123.45)       # LTP
    struct.pack_into("<H", buf, 12, 75)          # LTQ
    struct.pack_into("<I", buf, 14, 1795598100)  # LTT
    struct.pack_into("<f", buf, 18, 120.5)       # ATP
    struct.pack_into("<I", buf, 22, 987654)      # volume
    struct.pack_into("<I", buf, 26, 1111)        # total sell
    struct.pack_into("<I", buf, 30, 2222)        # total buy
    struct.pack_into("<I", buf, 34, 555000)      # OI
    struct.pack_into("<I", buf, 38, 560000)      # OI high
    struct.pack_into("<I", buf, 42, 540000)      # OI low
    struct.pack_into("<ffff", buf, 46, 110.0, 100.0, 130.0, 105.0)  # open close high low
    for i, lvl in enumerate(DEPTH):
        struct.pack_into("<IIHHff", buf, 62 + 20 * i, *lvl)
    [pkt] = Decoder().decode(bytes(buf))
    d = packet_as_dict(pkt)
    assert d["ltp"] == pytest.approx(123.45, abs=1e-4)
    got = (d["ltq"], d["ltt"], d["volume"], d["total_sell_qty"], d["total_buy_qty"])
    assert got == (75, 1795598100, 987654, 1111, 2222)
    assert (d["oi"], d["oi_high"], d["oi_low"]) == (555000, 560000, 540000)
    assert (d["open"], d["close"], d["high"], d["low"]) == (110.0, 100.0, 130.0, 105.0)
    assert (d["bid_qty1"], d["ask_qty1"], d["bid_orders1"], d["ask_orders1"]) == (100, 200, 3, 4)
    assert d["bid_price5"] == pytest.approx(24999.85, abs=1e-2)
    assert d["ask_price5"] == pytest.approx(25000.30, abs=1e-2)


@pytest.mark.parametrize(
    ("packet", "code", "expected"),
    [
        (pack_ticker(1, 2885, 1500.5, 1795598100), 2, {"ltp": 1500.5, "ltt": 1795598100}),
        (
            pack_quote(1, 1333, ltp=1000.25, ltq=10, ltt=1795598101, atp=999.5, volume=12345, total_sell_qty=7,
                       total_buy_qty=8, open=990.0, close=980.0, high=1005.0, low=985.0),
            4,
            {"ltp": 1000.25, "ltq": 10, "volume": 12345, "open": 990.0, "close": 980.0, "high": 1005.0, "low": 985.0},
        ),
        (pack_oi(2, 35001, 1234567), 5, {"oi": 1234567}),
        (pack_prev_close(2, 35001, 24900.5, 1200000), 6, {"prev_close": 24900.5, "prev_oi": 1200000}),
        (pack_market_status(), 7, {}),
        (pack_disconnect(807), 50, {"reason": 807}),
        (pack_depth_v1(1, 2885, 1500.0, DEPTH), 3, {"ltp": 1500.0, "bid_qty1": 100, "ask_orders5": 12}),
        (
            pack_full(2, 35001, ltp=25000.1, ltq=75, ltt=1795598102, atp=24990.0, volume=10, total_sell_qty=1,
                      total_buy_qty=2, oi=3, oi_high=4, oi_low=5, open=1.0, close=2.0, high=3.0, low=0.5, depth=DEPTH),
            8,
            {"oi": 3, "oi_high": 4, "oi_low": 5, "bid_qty3": 120, "ask_price1": _f32(25000.10)},
        ),
    ],
)
def test_round_trip_every_packet(packet: bytes, code: int, expected: dict[str, object]) -> None:
    [pkt] = Decoder().decode(packet)
    d = packet_as_dict(pkt)
    assert d["code"] == code and d["length"] == len(packet)
    for key, value in expected.items():
        assert d[key] == pytest.approx(value, abs=1e-3), key


def test_several_packets_in_one_frame_and_truncated_tail_counted() -> None:
    problems: list[str] = []
    dec = Decoder(lambda kind, info: problems.append(kind))
    frame = pack_ticker(1, 1, 10.0, 1) + pack_oi(2, 2, 5) + pack_full(2, 3, ltp=1, ltq=1, ltt=1, atp=1, volume=1,
        total_sell_qty=1, total_buy_qty=1, oi=1, oi_high=1, oi_low=1, open=1, close=1, high=1, low=1)[:100]
    pkts = dec.decode(frame)
    assert [p[0] for p in pkts] == [ResponseCode.TICKER, ResponseCode.OI]
    assert dec.stats.truncated == 1 and problems == ["truncated"]
    dec.decode(pack_ticker(1, 1, 10.0, 1)[:9])
    assert dec.stats.truncated == 2 and problems == ["truncated"]  # logged once per kind


def test_unknown_empty_oversized_counted_never_raise() -> None:
    dec = Decoder(max_frame_bytes=1000)
    assert dec.decode(b"") == []
    assert dec.decode(bytes([99]) + bytes(20)) == []
    assert dec.decode(pack_ticker(1, 1, 1.0, 1) * 100) == []
    assert (dec.stats.empty, dec.stats.unknown, dec.stats.oversized) == (1, 1, 1)


def test_subscribe_requests_respect_dhan_limits() -> None:
    instruments = [("NSE_FNO", i) for i in range(250)]
    frames = build_requests(instruments, "full")
    assert len(frames) == 3
    msgs = [orjson.loads(f) for f in frames]
    assert [m["InstrumentCount"] for m in msgs] == [100, 100, 50]
    assert all(m["RequestCode"] == 21 for m in msgs)
    assert msgs[0]["InstrumentList"][0] == {"ExchangeSegment": "NSE_FNO", "SecurityId": "0"}
    unsub = orjson.loads(build_requests(instruments[:1], "quote", subscribe=False)[0])
    assert unsub["RequestCode"] == 18


def test_parse_request_round_trip_and_rejections() -> None:
    req = parse_request(build_requests([("NSE_EQ", 1333), ("IDX_I", 13)], "ticker")[0])
    assert req.code == 15 and req.mode == "ticker" and req.is_subscribe
    assert req.instruments == (("NSE_EQ", 1333), ("IDX_I", 13))
    for bad in [
        b"not json", b"[]", b'{"RequestCode": 99}', b'{"RequestCode": 15, "InstrumentList": 5}',
        b'{"RequestCode": 15, "InstrumentList": [{"ExchangeSegment": "XX", "SecurityId": "1"}]}',
        b'{"RequestCode": 15, "InstrumentList": [{"ExchangeSegment": "NSE_EQ", "SecurityId": "1a"}]}',
        b'{"RequestCode": 15, "InstrumentCount": 3, "InstrumentList": []}',
    ]:
        with pytest.raises(RequestError):
            parse_request(bad)
    too_many = orjson.dumps({"RequestCode": 15, "InstrumentList": [
        {"ExchangeSegment": "NSE_EQ", "SecurityId": str(i)} for i in range(101)]})
    with pytest.raises(RequestError, match="limit is 100"):
        parse_request(too_many)
