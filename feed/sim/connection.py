"""One client WebSocket of the simulator: its subscriptions, its outgoing packets, and how they are written.

Like Dhan, every packet travels in its own binary WebSocket message. To reach tens of thousands of messages
a second, the packets produced in one event-loop turn are framed here and handed to the transport in one
``write`` (one syscall) instead of one ``send_bytes`` each. The frames are exactly what aiohttp would write
for ``send_bytes`` on a server socket without compression (FIN + binary opcode, unmasked, 7-bit or 16-bit
length), and the socket is prepared with ``compress=False`` so no extension is negotiated. Control frames
(ping, close) still go through aiohttp; every write is whole, so frames never interleave.

A depth-feed connection (``feed`` ``twentydepth`` or ``twohundreddepth``) queues one item per instrument
update, the bid packet and the ask packet back to back, and joins consecutive items into messages of up to
``DEPTH_MESSAGE_BYTES``: several packets share a message there, as on Dhan's depth feeds, and an instrument's
two sides never part. A replay of recorded messages (``join_messages`` false) sends each item as it came.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from feed.protocol.constants import SEGMENT_BY_CODE
from feed.protocol.requests import Instrument

__all__ = ["DEPTH_MESSAGE_BYTES", "FEEDS", "WRITE_BUFFER_HIGH_BYTES", "Recorder", "SimConnection", "frame_binary"]

Recorder = Callable[[Instrument, bytes], None]
"""Called with ``((segment name, security id), packet)`` for every packet written to a client of the live feed,
in order (prev-close, snapshots, market status, updates and disconnect packets; not the deliberately bad
messages of the ``malformed`` and ``hostile`` faults, nor the depth feeds). With several clients it sees each
client's copy."""

WRITE_BUFFER_HIGH_BYTES = 8 * 1024 * 1024
DEPTH_MESSAGE_BYTES = 8 * 1024
FEEDS = ("main", "twentydepth", "twohundreddepth")
_BINARY_FIN = 0x82


def frame_binary(payload: bytes) -> bytes:
    """The header of one unmasked final binary WebSocket frame carrying ``payload``."""
    n = len(payload)
    if n < 126:
        return bytes((_BINARY_FIN, n))
    if n < 65536:
        return bytes((_BINARY_FIN, 126)) + n.to_bytes(2, "big")
    return bytes((_BINARY_FIN, 127)) + n.to_bytes(8, "big")


_HEADERS: dict[int, bytes] = {n: frame_binary(bytes(n)) for n in range(0, 256)}


def packet_instrument(packet: bytes) -> Instrument:
    if len(packet) < 8:
        return ("", 0)
    return (SEGMENT_BY_CODE.get(packet[3], str(packet[3])), int.from_bytes(packet[4:8], "little"))


class SimConnection:
    """State of one authenticated client. ``out`` collects packets until :meth:`flush`."""

    __slots__ = (
        "closing", "conn_id", "dropped", "feed", "join_messages", "out", "reported", "sent", "stalled_until",
        "status_sent", "subs", "token", "transport", "ws",
    )

    def __init__(self, conn_id: int, ws: web.WebSocketResponse, transport: Any, token: str,
                 feed: str = "main") -> None:
        self.conn_id = conn_id
        self.feed = feed
        self.ws = ws
        self.transport = transport
        self.token = token
        self.out: list[bytes] = []
        self.subs: dict[tuple[int, int], int] = {}  # (segment code, security id) -> mode index
        self.sent = 0
        self.dropped = 0
        self.stalled_until = 0.0
        self.status_sent = False
        self.closing = False
        self.reported: set[str] = set()
        self.join_messages = feed != "main"  # depth feeds: consecutive items share messages

    def report_once(self, kind: str) -> bool:
        """True the first time ``kind`` is seen on this connection (log once, then stay quiet)."""
        if kind in self.reported:
            return False
        self.reported.add(kind)
        return True

    @property
    def stalled(self) -> bool:
        return self.stalled_until > time.monotonic()

    def flush(self, recorder: Recorder | None = None) -> int:
        """Write the pending packets (one WebSocket message each) in one transport write; returns how many.

        Nothing is written while stalled or closing, or while the client is too slow to drain its socket
        (``WRITE_BUFFER_HIGH_BYTES`` pending): those packets are counted in ``dropped``.
        """
        out = self.out
        if not out:
            return 0
        self.out = []
        transport = self.transport
        if self.closing or transport is None or transport.is_closing() or self.stalled:
            return 0
        if transport.get_write_buffer_size() > WRITE_BUFFER_HIGH_BYTES:
            self.dropped += len(out)
            return 0
        if self.join_messages:
            out = _joined(out, DEPTH_MESSAGE_BYTES)
        headers = _HEADERS
        parts: list[bytes] = []
        append = parts.append
        for pkt in out:
            append(headers[len(pkt)] if len(pkt) < 256 else frame_binary(pkt))
            append(pkt)
        transport.write(b"".join(parts))
        self.sent += len(out)
        if recorder is not None and self.feed == "main":
            for pkt in out:
                recorder(packet_instrument(pkt), pkt)
        return len(out)

    def write_now(self, packets: list[bytes], recorder: Recorder | None = None) -> int:
        """Queue ``packets`` behind anything pending and flush at once (replies to a request)."""
        self.out.extend(packets)
        return self.flush(recorder)

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (the ``drop`` fault)."""
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    def summary(self) -> dict[str, Any]:
        return {"conn": self.conn_id, "feed": self.feed, "subscribed": len(self.subs), "sent": self.sent,
                "dropped": self.dropped, "stalled": self.stalled}


def _joined(items: list[bytes], limit: int) -> list[bytes]:
    """Consecutive items joined into messages of at most ``limit`` bytes (an item larger alone)."""
    out: list[bytes] = []
    batch: list[bytes] = []
    size = 0
    for item in items:
        if batch and size + len(item) > limit:
            out.append(b"".join(batch))
            batch, size = [], 0
        batch.append(item)
        size += len(item)
    if batch:
        out.append(b"".join(batch))
    return out
