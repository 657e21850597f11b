"""Binary packet encoding, the mirror of :mod:`feed.protocol.decode` (used by the simulator and tests).

Each function returns one packet with the length field set to the packet's total size.
Depth is five ``(bid_qty, ask_qty, bid_orders, ask_orders, bid_price, ask_price)`` levels, best first.
The depth feeds' packets (:func:`pack_depth_side`, :func:`pack_depth_disconnect`) follow
:mod:`feed.protocol.depth`.
"""

from __future__ import annotations

from collections.abc import Sequence

from feed.protocol.constants import DepthResponseCode, ResponseCode
from feed.protocol.decode import STRUCTS
from feed.protocol.depth import DEPTH_HEADER, DEPTH_ROW, HEADER_BYTES, DepthRow, side_bytes

__all__ = [
    "EMPTY_DEPTH",
    "DepthLevel",
    "pack_depth_disconnect",
    "pack_depth_side",
    "pack_depth_v1",
    "pack_disconnect",
    "pack_full",
    "pack_market_status",
    "pack_oi",
    "pack_prev_close",
    "pack_quote",
    "pack_ticker",
]

DepthLevel = tuple[int, int, int, int, float, float]
EMPTY_DEPTH: tuple[DepthLevel, ...] = ((0, 0, 0, 0, 0.0, 0.0),) * 5

_T = STRUCTS[ResponseCode.TICKER]
_Q = STRUCTS[ResponseCode.QUOTE]
_OI = STRUCTS[ResponseCode.OI]
_PC = STRUCTS[ResponseCode.PREV_CLOSE]
_MS = STRUCTS[ResponseCode.MARKET_STATUS]
_F = STRUCTS[ResponseCode.FULL]
_D = STRUCTS[ResponseCode.MARKET_DEPTH]
_X = STRUCTS[ResponseCode.DISCONNECT]


def _flat(depth: Sequence[DepthLevel]) -> list[float | int]:
    if len(depth) != 5:
        raise ValueError(f"depth needs 5 levels, got {len(depth)}")
    return [v for level in depth for v in level]


def pack_ticker(segment: int, security_id: int, ltp: float, ltt: int) -> bytes:
    return _T.pack(ResponseCode.TICKER, _T.size, segment, security_id, ltp, ltt)


def pack_quote(
    segment: int, security_id: int, *, ltp: float, ltq: int, ltt: int, atp: float, volume: int,
    total_sell_qty: int, total_buy_qty: int, open: float, close: float, high: float, low: float,
) -> bytes:
    return _Q.pack(
        ResponseCode.QUOTE, _Q.size, segment, security_id, ltp, ltq, ltt, atp, volume,
        total_sell_qty, total_buy_qty, open, close, high, low,
    )


def pack_oi(segment: int, security_id: int, oi: int) -> bytes:
    return _OI.pack(ResponseCode.OI, _OI.size, segment, security_id, oi)


def pack_prev_close(segment: int, security_id: int, prev_close: float, prev_oi: int) -> bytes:
    return _PC.pack(ResponseCode.PREV_CLOSE, _PC.size, segment, security_id, prev_close, prev_oi)


def pack_market_status(segment: int = 0, security_id: int = 0) -> bytes:
    return _MS.pack(ResponseCode.MARKET_STATUS, _MS.size, segment, security_id)


def pack_full(
    segment: int, security_id: int, *, ltp: float, ltq: int, ltt: int, atp: float, volume: int,
    total_sell_qty: int, total_buy_qty: int, oi: int, oi_high: int, oi_low: int,
    open: float, close: float, high: float, low: float, depth: Sequence[DepthLevel] = EMPTY_DEPTH,
) -> bytes:
    return _F.pack(
        ResponseCode.FULL, _F.size, segment, security_id, ltp, ltq, ltt, atp, volume,
        total_sell_qty, total_buy_qty, oi, oi_high, oi_low, open, close, high, low, *_flat(depth),
    )


def pack_depth_v1(segment: int, security_id: int, ltp: float, depth: Sequence[DepthLevel]) -> bytes:
    return _D.pack(ResponseCode.MARKET_DEPTH, _D.size, segment, security_id, ltp, *_flat(depth))


def pack_disconnect(reason: int, segment: int = 0, security_id: int = 0) -> bytes:
    return _X.pack(ResponseCode.DISCONNECT, _X.size, segment, security_id, reason)


def pack_depth_side(segment: int, security_id: int, rows: Sequence[DepthRow], *, bid: bool,
                    levels: int = 20, sequence: int = 0) -> bytes:
    """One side of a depth-feed book: ``rows`` of ``(price, quantity, orders)``, best first. On the 20-level
    feed the header's last field is ``sequence``; on the 200-level feed it is the row count."""
    code = DepthResponseCode.BID if bid else DepthResponseCode.ASK
    n = len(rows)
    if n > levels:
        raise ValueError(f"{n} rows do not fit a {levels}-level side")
    last = n if levels == 200 else sequence
    out = bytearray(side_bytes(n))
    DEPTH_HEADER.pack_into(out, 0, len(out), code, segment, security_id, last)
    pack = DEPTH_ROW.pack_into
    for i, row in enumerate(rows):
        pack(out, HEADER_BYTES + i * DEPTH_ROW.size, *row)
    return bytes(out)


def pack_depth_disconnect(reason: int, segment: int = 0, security_id: int = 0) -> bytes:
    """The depth feeds' disconnect packet: the 12-byte header with ``reason`` in its last field."""
    return DEPTH_HEADER.pack(HEADER_BYTES, DepthResponseCode.DISCONNECT, segment, security_id, reason)
