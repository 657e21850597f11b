"""Numbers of Dhan's v2 market feed (see docs/protocol.md and Dhan's official client)."""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "DEPTH_LEVELS",
    "DEPTH_MAX_INSTRUMENTS",
    "DEPTH_SEGMENTS",
    "DISCONNECT_REASONS",
    "MAX_CONNECTIONS",
    "MAX_FRAME_BYTES",
    "MAX_INSTRUMENTS_PER_CONNECTION",
    "MAX_INSTRUMENTS_PER_MESSAGE",
    "MODE_REQUEST_CODES",
    "PACKET_SIZES",
    "SEGMENT_BY_CODE",
    "SEGMENT_BY_NAME",
    "DepthRequestCode",
    "DepthResponseCode",
    "ExchangeSegment",
    "RequestCode",
    "ResponseCode",
]

MAX_CONNECTIONS = 5
MAX_INSTRUMENTS_PER_CONNECTION = 5000
MAX_INSTRUMENTS_PER_MESSAGE = 100
# A binary frame larger than this is not something Dhan sends (a frame holds a few packets of <= 162 bytes);
# it is dropped and counted as oversized rather than walked.
MAX_FRAME_BYTES = 64 * 1024


class ExchangeSegment(IntEnum):
    IDX_I = 0
    NSE_EQ = 1
    NSE_FNO = 2
    NSE_CURRENCY = 3
    BSE_EQ = 4
    MCX_COMM = 5
    BSE_CURRENCY = 7
    BSE_FNO = 8


SEGMENT_BY_CODE: dict[int, str] = {s.value: s.name for s in ExchangeSegment}
SEGMENT_BY_NAME: dict[str, int] = {s.name: s.value for s in ExchangeSegment}


class RequestCode(IntEnum):
    CONNECT = 11
    DISCONNECT = 12
    SUBSCRIBE_TICKER = 15
    UNSUBSCRIBE_TICKER = 16
    SUBSCRIBE_QUOTE = 17
    UNSUBSCRIBE_QUOTE = 18
    SUBSCRIBE_FULL = 21
    UNSUBSCRIBE_FULL = 22


# mode -> (subscribe code, unsubscribe code)
MODE_REQUEST_CODES: dict[str, tuple[int, int]] = {
    "ticker": (RequestCode.SUBSCRIBE_TICKER, RequestCode.UNSUBSCRIBE_TICKER),
    "quote": (RequestCode.SUBSCRIBE_QUOTE, RequestCode.UNSUBSCRIBE_QUOTE),
    "full": (RequestCode.SUBSCRIBE_FULL, RequestCode.UNSUBSCRIBE_FULL),
}


class ResponseCode(IntEnum):
    TICKER = 2
    MARKET_DEPTH = 3  # v1 only; decoded for completeness
    QUOTE = 4
    OI = 5
    PREV_CLOSE = 6
    MARKET_STATUS = 7
    FULL = 8
    DISCONNECT = 50


PACKET_SIZES: dict[int, int] = {
    ResponseCode.TICKER: 16,
    ResponseCode.MARKET_DEPTH: 112,
    ResponseCode.QUOTE: 50,
    ResponseCode.OI: 12,
    ResponseCode.PREV_CLOSE: 16,
    ResponseCode.MARKET_STATUS: 8,
    ResponseCode.FULL: 162,
    ResponseCode.DISCONNECT: 10,
}


DISCONNECT_REASONS: dict[int, str] = {
    805: "too many WebSocket connections",
    806: "not subscribed to Data APIs",
    807: "access token expired",
    808: "invalid client id",
    809: "authentication failed",
}
# Reasons that no reconnect can cure: the operator must act (new token, plan, client id).
FATAL_DISCONNECT_REASONS = frozenset({806, 807, 808, 809})


# --- the 20- and 200-level depth feeds: separate WebSockets, NSE only (Dhan docs "Full Market Depth") ---
DEPTH_LEVELS = (20, 200)
# Instruments per connection (and so per subscribe message): 50 on the 20-level feed, 1 on the 200-level one.
DEPTH_MAX_INSTRUMENTS: dict[int, int] = {20: 50, 200: 1}
DEPTH_SEGMENTS = frozenset({int(ExchangeSegment.NSE_EQ), int(ExchangeSegment.NSE_FNO)})


class DepthRequestCode(IntEnum):
    SUBSCRIBE = 23
    # The official client (dhanhq 2.3.0) unsubscribes with 23 + 1; integrators quote Dhan's annexure as 25.
    # Neither is confirmed against Dhan: requests are built with 24, the simulator accepts both.
    UNSUBSCRIBE = 24
    UNSUBSCRIBE_ANNEXURE = 25


class DepthResponseCode(IntEnum):
    BID = 41
    ASK = 51
    DISCONNECT = 50
