"""Dhan market feed v2 and its 20/200-level depth feeds: constants, binary packet decode and encode, JSON
subscription requests. Pure code."""

from feed.protocol.constants import (
    DISCONNECT_REASONS,
    MAX_CONNECTIONS,
    MAX_INSTRUMENTS_PER_CONNECTION,
    MAX_INSTRUMENTS_PER_MESSAGE,
    PACKET_SIZES,
    SEGMENT_BY_CODE,
    SEGMENT_BY_NAME,
    ExchangeSegment,
    RequestCode,
    ResponseCode,
)
from feed.protocol.decode import Decoder, DecodeStats
from feed.protocol.depth import DepthDecoder, DepthDecodeStats, DepthPacket, book_problem

__all__ = [
    "DISCONNECT_REASONS",
    "MAX_CONNECTIONS",
    "MAX_INSTRUMENTS_PER_CONNECTION",
    "MAX_INSTRUMENTS_PER_MESSAGE",
    "PACKET_SIZES",
    "SEGMENT_BY_CODE",
    "SEGMENT_BY_NAME",
    "DecodeStats",
    "Decoder",
    "DepthDecodeStats",
    "DepthDecoder",
    "DepthPacket",
    "ExchangeSegment",
    "RequestCode",
    "ResponseCode",
    "book_problem",
]
