"""Fault knobs of the simulator: what can go wrong on a Dhan connection, on demand.

Kinds (``POST /fault?kind=...&token=...`` when fault injection is on, see :mod:`feed.sim.guard`; in-process
:meth:`feed.sim.server.SimServer.inject_fault`):

========== =====================================================================================
drop       abrupt close: the TCP connection is aborted without a WebSocket close frame
disconnect Dhan's disconnect packet (code 50) with ``code`` (default 807), then a close
stall      the socket stays open but nothing is sent for ``seconds`` (updates are discarded)
malformed  one bad message: ``variant`` truncated (a full packet cut short), unknown (response code
           99) or garbage (random bytes)
expire     the token "expires": open connections get 807 and close, new ones are refused with 807
           until ``clear``
clear      undo ``expire`` (and end any stall)
hostile    a burst of bad values for ``count`` (default 1) subscribed instruments per connection: NaN,
           infinite, huge and negative prices, a crossed book, volume going back, reordered and duplicated
           packets, LTTs long ago and far ahead, OI above 2^31 (see :mod:`feed.sim.hostile`); the server
           adds what the feed should count to ``hostile_sent`` (``/health``, and the reply of POST /fault)
========== =====================================================================================

Every kind but ``expire``/``clear`` applies to all open connections, or to one when ``conn`` names it, and
``feed`` narrows it to the connections of one feed: ``main`` (the live feed), ``twentydepth``,
``twohundreddepth``, ``depth`` (both depth feeds) or ``all`` (the default). On a depth connection the packets
are the depth feeds' own: the 12-byte disconnect packet, a truncated depth packet, a 12-byte header with
response code 99, and hostile books (see :func:`feed.sim.hostile.hostile_depth_burst`). ``expire`` and
``clear`` are about the token, so they touch every feed.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from feed.protocol.constants import ExchangeSegment
from feed.protocol.encode import pack_depth_disconnect, pack_depth_side, pack_disconnect, pack_full

__all__ = [
    "FAULT_FEEDS", "FAULT_KINDS", "MALFORMED_VARIANTS", "Fault", "FaultError", "disconnect_packet", "in_scope",
    "malformed_message", "parse_fault",
]

FAULT_KINDS = ("drop", "disconnect", "stall", "malformed", "expire", "clear", "hostile")
FAULT_FEEDS = ("all", "main", "depth", "twentydepth", "twohundreddepth")
MALFORMED_VARIANTS = ("truncated", "unknown", "garbage")
UNKNOWN_RESPONSE_CODE = 99
_MAX_STALL_S = 3600.0
_MAX_HOSTILE_INSTRUMENTS = 5000


class FaultError(ValueError):
    """A fault request that cannot be honoured; the message is one line."""


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    code: int = 807
    seconds: float = 5.0
    variant: str = "truncated"
    conn: int | None = None  # a connection id from /health, or None for all
    count: int = 1  # hostile: instruments per connection
    feed: str = "all"  # which connections: see FAULT_FEEDS


def parse_fault(query: Mapping[str, str]) -> Fault:
    """A :class:`Fault` from HTTP query parameters; :class:`FaultError` on anything invalid."""
    kind = query.get("kind", "")
    if kind not in FAULT_KINDS:
        raise FaultError(f"unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}")
    try:
        code = int(query.get("code", "807"))
        seconds = float(query.get("seconds", "5"))
        conn = int(query["conn"]) if "conn" in query else None
        count = int(query.get("count", "1"))
    except ValueError:
        raise FaultError("code, conn and count must be integers, seconds a number") from None
    if not 0 <= code <= 0xFFFF:
        raise FaultError(f"disconnect code {code} does not fit a uint16")
    if not 0.0 <= seconds <= _MAX_STALL_S:
        raise FaultError(f"seconds must be within 0..{_MAX_STALL_S:g}")
    variant = query.get("variant", "truncated")
    if variant not in MALFORMED_VARIANTS:
        raise FaultError(f"unknown malformed variant {variant!r}; use one of {', '.join(MALFORMED_VARIANTS)}")
    if not 1 <= count <= _MAX_HOSTILE_INSTRUMENTS:
        raise FaultError(f"count must be within 1..{_MAX_HOSTILE_INSTRUMENTS}")
    feed = query.get("feed", "all")
    if feed not in FAULT_FEEDS:
        raise FaultError(f"unknown feed {feed!r}; use one of {', '.join(FAULT_FEEDS)}")
    return Fault(kind, code, seconds, variant, conn, count, feed)


def in_scope(fault: Fault, conn_id: int, conn_feed: str) -> bool:
    """Whether ``fault`` touches the connection ``conn_id`` of feed ``conn_feed``."""
    if fault.conn not in (None, conn_id):
        return False
    return fault.feed in ("all", conn_feed) or (fault.feed == "depth" and conn_feed != "main")


def disconnect_packet(conn_feed: str, code: int) -> bytes:
    """Dhan's disconnect packet with reason ``code``, as the feed ``conn_feed`` lays it out."""
    return pack_disconnect(code) if conn_feed == "main" else pack_depth_disconnect(code)


def malformed_message(variant: str, rng: random.Random, conn_feed: str = "main") -> bytes:
    """One WebSocket message that a robust decoder must count and skip, never crash on."""
    if conn_feed != "main":
        return _malformed_depth(variant, rng)
    if variant == "truncated":
        return pack_full(
            ExchangeSegment.NSE_FNO, 1, ltp=1.0, ltq=1, ltt=0, atp=1.0, volume=1, total_sell_qty=0,
            total_buy_qty=0, oi=0, oi_high=0, oi_low=0, open=1.0, close=1.0, high=1.0, low=1.0,
        )[:100]
    if variant == "unknown":
        return bytes([UNKNOWN_RESPONSE_CODE, 16, 0, 1, 1, 0, 0, 0]) + bytes(8)
    # garbage: a first byte that is no response code, then noise
    return bytes([0xEE]) + bytes(rng.getrandbits(8) for _ in range(36))


def _malformed_depth(variant: str, rng: random.Random) -> bytes:
    if variant == "truncated":  # a 20-row bid side cut short of the length its header gives (the row count in
        # the last field is valid on both depth feeds)
        return pack_depth_side(ExchangeSegment.NSE_FNO, 1, [(1.0, 1, 1)] * 20, bid=True, levels=200)[:100]
    if variant == "unknown":  # a well-formed 12-byte header with response code 99
        return bytes([12, 0, UNKNOWN_RESPONSE_CODE, 2, 1, 0, 0, 0]) + bytes(4)
    # garbage: a header whose code byte is no response code, then noise
    return bytes([37, 0, 0xEE]) + bytes(rng.getrandbits(8) for _ in range(34))
