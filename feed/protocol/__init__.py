"""Dhan market feed v2: constants, binary packet decode and encode, JSON subscription requests. Pure code."""

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
    "ExchangeSegment",
    "RequestCode",
    "ResponseCode",
]
