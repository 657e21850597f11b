"""The depth levels of the normaliser's events: the five-level book of a full packet (code 8, Python path)
and of the v1 market-depth packet (code 3). (The 20/200-level depth packets' codecs: feed/protocol/depth.py.)

Per side, best first, ``[price rounded to the tick, quantity, orders]``; the best bid and ask are None when
their level is empty (Dhan sends zeros). A book whose best bid is above its best ask, both non-zero, is
``depth_crossed`` (:class:`~feed.prices.BadValue`); a locked book (bid = ask, auctions) passes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from feed.fields import (
    DEPTH_ASK_PRICE1,
    DEPTH_ASK_QTY1,
    DEPTH_ASKS,
    DEPTH_BID_PRICE1,
    DEPTH_BID_QTY1,
    DEPTH_BIDS,
    FULL_ASK_ORDERS1,
    FULL_ASK_ORDERS2,
    FULL_ASK_ORDERS3,
    FULL_ASK_ORDERS4,
    FULL_ASK_ORDERS5,
    FULL_ASK_PRICE1,
    FULL_ASK_PRICE2,
    FULL_ASK_PRICE3,
    FULL_ASK_PRICE4,
    FULL_ASK_PRICE5,
    FULL_ASK_QTY1,
    FULL_ASK_QTY2,
    FULL_ASK_QTY3,
    FULL_ASK_QTY4,
    FULL_ASK_QTY5,
    FULL_BID_ORDERS1,
    FULL_BID_ORDERS2,
    FULL_BID_ORDERS3,
    FULL_BID_ORDERS4,
    FULL_BID_ORDERS5,
    FULL_BID_PRICE1,
    FULL_BID_PRICE2,
    FULL_BID_PRICE3,
    FULL_BID_PRICE4,
    FULL_BID_PRICE5,
    FULL_BID_QTY1,
    FULL_BID_QTY2,
    FULL_BID_QTY3,
    FULL_BID_QTY4,
    FULL_BID_QTY5,
)
from feed.prices import BadValue
from feed.protocol.decode import Packet

__all__ = ["Book", "depth_v1_book", "full_book"]

Level = list[Any]  # [price, quantity, orders]
Book = tuple[list[Level], list[Level], float | None, float | None]  # bids, asks, best bid, best ask


def full_book(p: Packet, rnd: Callable[[float], float]) -> Book:
    """The book of a full packet. Written out level by level: a loop costs this path a sixth more."""
    bids = [[rnd(p[FULL_BID_PRICE1]), p[FULL_BID_QTY1], p[FULL_BID_ORDERS1]],
            [rnd(p[FULL_BID_PRICE2]), p[FULL_BID_QTY2], p[FULL_BID_ORDERS2]],
            [rnd(p[FULL_BID_PRICE3]), p[FULL_BID_QTY3], p[FULL_BID_ORDERS3]],
            [rnd(p[FULL_BID_PRICE4]), p[FULL_BID_QTY4], p[FULL_BID_ORDERS4]],
            [rnd(p[FULL_BID_PRICE5]), p[FULL_BID_QTY5], p[FULL_BID_ORDERS5]]]
    asks = [[rnd(p[FULL_ASK_PRICE1]), p[FULL_ASK_QTY1], p[FULL_ASK_ORDERS1]],
            [rnd(p[FULL_ASK_PRICE2]), p[FULL_ASK_QTY2], p[FULL_ASK_ORDERS2]],
            [rnd(p[FULL_ASK_PRICE3]), p[FULL_ASK_QTY3], p[FULL_ASK_ORDERS3]],
            [rnd(p[FULL_ASK_PRICE4]), p[FULL_ASK_QTY4], p[FULL_ASK_ORDERS4]],
            [rnd(p[FULL_ASK_PRICE5]), p[FULL_ASK_QTY5], p[FULL_ASK_ORDERS5]]]
    bid_price, ask_price = p[FULL_BID_PRICE1], p[FULL_ASK_PRICE1]
    if bid_price > ask_price > 0.0:
        raise BadValue("depth_crossed", bid_price)
    bid = bids[0][0] if p[FULL_BID_QTY1] or bid_price else None
    ask = asks[0][0] if p[FULL_ASK_QTY1] or ask_price else None
    return bids, asks, bid, ask


def depth_v1_book(p: Packet, rnd: Callable[[float], float]) -> Book:
    """The book of a v1 market-depth packet (rare: decoded for completeness)."""
    bids = [[rnd(p[price]), p[qty], p[orders]] for price, qty, orders in DEPTH_BIDS]
    asks = [[rnd(p[price]), p[qty], p[orders]] for price, qty, orders in DEPTH_ASKS]
    bid_price, ask_price = p[DEPTH_BID_PRICE1], p[DEPTH_ASK_PRICE1]
    if bid_price > ask_price > 0.0:
        raise BadValue("depth_crossed", bid_price)
    bid = bids[0][0] if p[DEPTH_BID_QTY1] or bid_price else None
    ask = asks[0][0] if p[DEPTH_ASK_QTY1] or ask_price else None
    return bids, asks, bid, ask
