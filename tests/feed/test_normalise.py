"""Normaliser: merged quote state, trades from cumulative volume, depth, tick rounding."""

from __future__ import annotations

import orjson

from feed.normalise import Normaliser, price_rounder
from feed.protocol.decode import Decoder
from feed.protocol.encode import pack_full, pack_oi, pack_prev_close, pack_quote, pack_ticker

DEPTH = tuple((100 + i, 200 + i, 3, 4, 100.0 - 0.05 * i, 100.05 + 0.05 * i) for i in range(5))


def full(vol: int, ltp: float, *, sid: int = 7, ltt: int = 1795598100, depth=DEPTH) -> bytes:
    return pack_full(2, sid, ltp=ltp, ltq=75, ltt=ltt, atp=100.0, volume=vol, total_sell_qty=10,
                     total_buy_qty=20, oi=1000, oi_high=1100, oi_low=900, open=99.0, close=98.0, high=101.0,
                     low=97.0, depth=depth)


def run(frames: list[bytes], norm: Normaliser | None = None) -> tuple[list, list, list]:
    norm = norm or Normaliser({(2, 7): 0.05})
    dec = Decoder()
    q: list[bytes] = []
    t: list[bytes] = []
    d: list[bytes] = []
    for i, f in enumerate(frames):
        norm.process(dec.decode(f), 1000.0 + i, q, t, d)
    return [orjson.loads(x) for x in q], [orjson.loads(x) for x in t], [orjson.loads(x) for x in d]


def test_rounder_snaps_float32_noise_to_tick() -> None:
    r = price_rounder(0.05)
    assert r(25000.05078125) == 25000.05
    assert r(24999.974) == 24999.95
    assert price_rounder(0.0025)(83.25250244) == 83.2525
    assert price_rounder(1.0)(72345.6) == 72346.0


def test_trades_only_when_cumulative_volume_rises() -> None:
    quotes, ticks, depth = run([full(1000, 100.05), full(1000, 100.05), full(1150, 100.10), full(1225, 99.95)])
    assert len(quotes) == 4 and len(depth) == 4
    # first packet is the baseline; repeat without volume change is no trade
    assert [(t["qty"], t["volume"], t["ltp"]) for t in ticks] == [(150, 1150, 100.1), (75, 1225, 99.95)]
    # 100.10 >= previous ask 100.05 -> buyer; 99.95 <= previous bid 100.0 -> seller
    assert [t["side"] for t in ticks] == ["B", "S"]
    assert ticks[0]["exchange_ts"] == 1795598100 and ticks[0]["recv_ts"] == 1002.0


def test_quote_state_merges_prev_close_and_oi() -> None:
    quotes, _, _ = run([
        pack_prev_close(2, 7, 97.5, 800),
        pack_quote(2, 7, ltp=100.0, ltq=75, ltt=5, atp=99.5, volume=75, total_sell_qty=1, total_buy_qty=2,
                   open=99.0, close=97.5, high=100.0, low=98.0),
        pack_oi(2, 7, 1234),
        pack_ticker(2, 7, 100.25, 6),
    ])
    last = quotes[-1]
    got = (last["prev_close"], last["prev_oi"], last["oi"], last["ltp"], last["volume"])
    assert got == (97.5, 800, 1234, 100.25, 75)
    assert last["exchange_ts"] == 6 and last["seg"] == "NSE_FNO" and last["sid"] == 7 and last["v"] == 1
    assert quotes[0]["ltp"] is None and quotes[0]["prev_close"] == 97.5


def test_depth_event_levels() -> None:
    _, _, depth = run([full(1, 100.0)])
    d = depth[0]
    assert d["bids"][0] == [100.0, 100, 3] and d["asks"][4] == [100.25, 204, 4]
    assert len(d["bids"]) == len(d["asks"]) == 5


def test_empty_book_sides_are_null() -> None:
    empty = ((0, 0, 0, 0, 0.0, 0.0),) * 5
    quotes, _, _ = run([full(1, 100.0, depth=empty)])
    assert quotes[0]["bid"] is None and quotes[0]["ask"] is None


def test_market_status_and_disconnect_recorded() -> None:
    from feed.protocol.encode import pack_disconnect, pack_market_status

    norm = Normaliser()
    q, _, _ = run([pack_market_status(), pack_disconnect(807)], norm)
    assert q == [] and norm.status_packets == 1 and norm.disconnect_reasons == [807]
