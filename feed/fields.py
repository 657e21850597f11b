"""Names for the positions of a decoded packet's fields (``Normaliser.process`` reads ``p[QUOTE_LTP]``).

A decoded packet is the plain tuple ``struct.unpack`` returns (:mod:`feed.protocol.decode`, no per-packet
object on the hot path). Each index here is looked up once, at import, in the decoder's own field names
(``FIELDS``), so it follows the layouts there. A module constant costs the normaliser about what a literal
index does (bench/decode.py). They may move next to the decoder, in feed/protocol/decode.py.

Constants are ``<PACKET>_<FIELD>`` after the response code, with the field as ``FIELDS`` names it; the four
header fields every packet starts with have no prefix.
"""

from __future__ import annotations

from feed.protocol.constants import ResponseCode
from feed.protocol.decode import FIELDS

__all__ = [
    "CODE", "DEPTH_ASKS", "DEPTH_BIDS", "DEPTH_LTP", "DISCONNECT_REASON", "FULL_ASK_ORDERS1", "FULL_ASK_ORDERS2",
    "FULL_ASK_ORDERS3", "FULL_ASK_ORDERS4", "FULL_ASK_ORDERS5", "FULL_ASK_PRICE1", "FULL_ASK_PRICE2",
    "FULL_ASK_PRICE3", "FULL_ASK_PRICE4", "FULL_ASK_PRICE5", "FULL_ASK_QTY1", "FULL_ASK_QTY2", "FULL_ASK_QTY3",
    "FULL_ASK_QTY4", "FULL_ASK_QTY5", "FULL_ATP", "FULL_BID_ORDERS1", "FULL_BID_ORDERS2", "FULL_BID_ORDERS3",
    "FULL_BID_ORDERS4", "FULL_BID_ORDERS5", "FULL_BID_PRICE1", "FULL_BID_PRICE2", "FULL_BID_PRICE3",
    "FULL_BID_PRICE4", "FULL_BID_PRICE5", "FULL_BID_QTY1", "FULL_BID_QTY2", "FULL_BID_QTY3", "FULL_BID_QTY4",
    "FULL_BID_QTY5", "FULL_CLOSE", "FULL_HIGH", "FULL_LOW", "FULL_LTP", "FULL_LTQ", "FULL_LTT", "FULL_OI",
    "FULL_OI_HIGH", "FULL_OI_LOW", "FULL_OPEN", "FULL_TOTAL_BUY_QTY", "FULL_TOTAL_SELL_QTY", "FULL_VOLUME",
    "OI_OI", "PREV_CLOSE_PREV_CLOSE", "PREV_CLOSE_PREV_OI", "QUOTE_ATP", "QUOTE_CLOSE", "QUOTE_HIGH",
    "QUOTE_LOW", "QUOTE_LTP", "QUOTE_LTQ", "QUOTE_LTT", "QUOTE_OPEN", "QUOTE_TOTAL_BUY_QTY",
    "QUOTE_TOTAL_SELL_QTY", "QUOTE_VOLUME", "SECURITY_ID", "SEGMENT", "TICKER_LTP", "TICKER_LTT",
]


def _at(code: ResponseCode, name: str) -> int:
    return FIELDS[code].index(name)


def _level(code: ResponseCode, n: int) -> tuple[int, int, int, int, int, int]:
    """Depth level ``n`` (1-5): bid qty, ask qty, bid orders, ask orders, bid price, ask price."""
    names = ("bid_qty", "ask_qty", "bid_orders", "ask_orders", "bid_price", "ask_price")
    q_bid, q_ask, o_bid, o_ask, p_bid, p_ask = (_at(code, f"{name}{n}") for name in names)
    return q_bid, q_ask, o_bid, o_ask, p_bid, p_ask


_TICKER, _QUOTE, _FULL = ResponseCode.TICKER, ResponseCode.QUOTE, ResponseCode.FULL

# every packet
CODE = _at(_TICKER, "code")
SEGMENT = _at(_TICKER, "segment")
SECURITY_ID = _at(_TICKER, "security_id")

TICKER_LTP = _at(_TICKER, "ltp")
TICKER_LTT = _at(_TICKER, "ltt")

QUOTE_LTP = _at(_QUOTE, "ltp")
QUOTE_LTQ = _at(_QUOTE, "ltq")
QUOTE_LTT = _at(_QUOTE, "ltt")
QUOTE_ATP = _at(_QUOTE, "atp")
QUOTE_VOLUME = _at(_QUOTE, "volume")
QUOTE_TOTAL_SELL_QTY = _at(_QUOTE, "total_sell_qty")
QUOTE_TOTAL_BUY_QTY = _at(_QUOTE, "total_buy_qty")
QUOTE_OPEN = _at(_QUOTE, "open")
QUOTE_CLOSE = _at(_QUOTE, "close")
QUOTE_HIGH = _at(_QUOTE, "high")
QUOTE_LOW = _at(_QUOTE, "low")

OI_OI = _at(ResponseCode.OI, "oi")

PREV_CLOSE_PREV_CLOSE = _at(ResponseCode.PREV_CLOSE, "prev_close")
PREV_CLOSE_PREV_OI = _at(ResponseCode.PREV_CLOSE, "prev_oi")

DISCONNECT_REASON = _at(ResponseCode.DISCONNECT, "reason")

FULL_LTP = _at(_FULL, "ltp")
FULL_LTQ = _at(_FULL, "ltq")
FULL_LTT = _at(_FULL, "ltt")
FULL_ATP = _at(_FULL, "atp")
FULL_VOLUME = _at(_FULL, "volume")
FULL_TOTAL_SELL_QTY = _at(_FULL, "total_sell_qty")
FULL_TOTAL_BUY_QTY = _at(_FULL, "total_buy_qty")
FULL_OI = _at(_FULL, "oi")
FULL_OI_HIGH = _at(_FULL, "oi_high")
FULL_OI_LOW = _at(_FULL, "oi_low")
FULL_OPEN = _at(_FULL, "open")
FULL_CLOSE = _at(_FULL, "close")
FULL_HIGH = _at(_FULL, "high")
FULL_LOW = _at(_FULL, "low")
FULL_BID_QTY1, FULL_ASK_QTY1, FULL_BID_ORDERS1, FULL_ASK_ORDERS1, FULL_BID_PRICE1, FULL_ASK_PRICE1 = _level(_FULL, 1)
FULL_BID_QTY2, FULL_ASK_QTY2, FULL_BID_ORDERS2, FULL_ASK_ORDERS2, FULL_BID_PRICE2, FULL_ASK_PRICE2 = _level(_FULL, 2)
FULL_BID_QTY3, FULL_ASK_QTY3, FULL_BID_ORDERS3, FULL_ASK_ORDERS3, FULL_BID_PRICE3, FULL_ASK_PRICE3 = _level(_FULL, 3)
FULL_BID_QTY4, FULL_ASK_QTY4, FULL_BID_ORDERS4, FULL_ASK_ORDERS4, FULL_BID_PRICE4, FULL_ASK_PRICE4 = _level(_FULL, 4)
FULL_BID_QTY5, FULL_ASK_QTY5, FULL_BID_ORDERS5, FULL_ASK_ORDERS5, FULL_BID_PRICE5, FULL_ASK_PRICE5 = _level(_FULL, 5)

# the v1 market-depth packet (code 3): per level, best first, (price, qty, orders) of each side
DEPTH_LTP = _at(ResponseCode.MARKET_DEPTH, "ltp")
_DEPTH_LEVELS = [_level(ResponseCode.MARKET_DEPTH, n) for n in range(1, 6)]
DEPTH_BIDS = tuple((p_bid, q_bid, o_bid) for q_bid, _, o_bid, _, p_bid, _ in _DEPTH_LEVELS)
DEPTH_ASKS = tuple((p_ask, q_ask, o_ask) for _, q_ask, _, o_ask, _, p_ask in _DEPTH_LEVELS)
DEPTH_BID_QTY1, DEPTH_ASK_QTY1, _, _, DEPTH_BID_PRICE1, DEPTH_ASK_PRICE1 = _DEPTH_LEVELS[0]
