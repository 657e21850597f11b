"""feed/fields.py: each named position reads the value the encoder put in that field (every field distinct)."""

from __future__ import annotations

import feed.fields as f
from feed.protocol.decode import Decoder
from feed.protocol.encode import (
    pack_depth_v1,
    pack_disconnect,
    pack_full,
    pack_oi,
    pack_prev_close,
    pack_quote,
    pack_ticker,
)

# level n: bid qty, ask qty, bid orders, ask orders, bid price, ask price; every value distinct
DEPTH = tuple((100 * n + 1, 100 * n + 2, 100 * n + 3, 100 * n + 4, 1000.0 + n, 2000.0 + n) for n in range(1, 6))


def _one(frame: bytes) -> tuple[object, ...]:
    (packet,) = Decoder().decode(frame)
    return packet


def test_header_ticker_oi_prev_close_and_disconnect() -> None:
    p = _one(pack_ticker(1, 2885, 1234.5, 1_795_598_100))
    assert (p[f.CODE], p[f.SEGMENT], p[f.SECURITY_ID]) == (2, 1, 2885)
    assert (p[f.TICKER_LTP], p[f.TICKER_LTT]) == (1234.5, 1_795_598_100)
    assert _one(pack_oi(2, 7, 5_000_000))[f.OI_OI] == 5_000_000
    p = _one(pack_prev_close(2, 7, 99.5, 4_000_000))
    assert (p[f.PREV_CLOSE_PREV_CLOSE], p[f.PREV_CLOSE_PREV_OI]) == (99.5, 4_000_000)
    assert _one(pack_disconnect(807))[f.DISCONNECT_REASON] == 807


def test_quote() -> None:
    p = _one(pack_quote(1, 2885, ltp=11.5, ltq=12, ltt=13, atp=14.5, volume=15, total_sell_qty=16,
                        total_buy_qty=17, open=18.5, close=19.5, high=20.5, low=21.5))
    got = (p[f.QUOTE_LTP], p[f.QUOTE_LTQ], p[f.QUOTE_LTT], p[f.QUOTE_ATP], p[f.QUOTE_VOLUME],
           p[f.QUOTE_TOTAL_SELL_QTY], p[f.QUOTE_TOTAL_BUY_QTY], p[f.QUOTE_OPEN], p[f.QUOTE_CLOSE],
           p[f.QUOTE_HIGH], p[f.QUOTE_LOW])
    assert got == (11.5, 12, 13, 14.5, 15, 16, 17, 18.5, 19.5, 20.5, 21.5)


def test_full_and_its_five_levels() -> None:
    p = _one(pack_full(2, 7, ltp=11.5, ltq=12, ltt=13, atp=14.5, volume=15, total_sell_qty=16, total_buy_qty=17,
                       oi=18, oi_high=19, oi_low=20, open=21.5, close=22.5, high=23.5, low=24.5, depth=DEPTH))
    got = (p[f.FULL_LTP], p[f.FULL_LTQ], p[f.FULL_LTT], p[f.FULL_ATP], p[f.FULL_VOLUME], p[f.FULL_TOTAL_SELL_QTY],
           p[f.FULL_TOTAL_BUY_QTY], p[f.FULL_OI], p[f.FULL_OI_HIGH], p[f.FULL_OI_LOW], p[f.FULL_OPEN],
           p[f.FULL_CLOSE], p[f.FULL_HIGH], p[f.FULL_LOW])
    assert got == (11.5, 12, 13, 14.5, 15, 16, 17, 18, 19, 20, 21.5, 22.5, 23.5, 24.5)
    for n, level in enumerate(DEPTH, 1):
        names = ("BID_QTY", "ASK_QTY", "BID_ORDERS", "ASK_ORDERS", "BID_PRICE", "ASK_PRICE")
        assert tuple(p[getattr(f, f"FULL_{name}{n}")] for name in names) == level, n


def test_v1_depth_levels_read_price_qty_orders_best_first() -> None:
    p = _one(pack_depth_v1(2, 7, 11.5, DEPTH))
    assert p[f.DEPTH_LTP] == 11.5
    assert [tuple(p[i] for i in level) for level in f.DEPTH_BIDS] == [(lv[4], lv[0], lv[2]) for lv in DEPTH]
    assert [tuple(p[i] for i in level) for level in f.DEPTH_ASKS] == [(lv[5], lv[1], lv[3]) for lv in DEPTH]
    first = DEPTH[0]
    assert (p[f.DEPTH_BID_QTY1], p[f.DEPTH_ASK_QTY1], p[f.DEPTH_BID_PRICE1], p[f.DEPTH_ASK_PRICE1]) == (
        first[0], first[1], first[4], first[5])
