"""The 20- and 200-level market depth feeds: packet layout, decoding, and the validity check of a book.

Layout (Dhan's official client ``dhanhq`` 2.3.0, ``fulldepth.py``, which wins where documents disagree). Every
packet starts with a 12-byte little-endian header, ordered unlike the live feed's:

====== ====== ===========================================================================================
offset type   field
====== ====== ===========================================================================================
0      int16  message length (the whole packet, header included)
2      uint8  response code: 41 bid side, 51 ask side, 50 disconnect
3      uint8  exchange segment (1 NSE_EQ, 2 NSE_FNO: the depth feeds are NSE only)
4      int32  security id
8      uint32 20-level: a sequence number; 200-level: the number of rows that follow; disconnect: the reason
====== ====== ===========================================================================================

Rows follow the header: float64 price, uint32 quantity, uint32 orders (16 bytes), best price first. A side of
the 20-level feed has 20 rows (332 bytes; fewer rows are tolerated, as the official client does); one of the
200-level feed has as many as its header says, at most 200. The bid and the ask side of an instrument are
separate packets, and one WebSocket message may carry several packets back to back: frames are walked by
the length field. A disconnect packet is the 12-byte header with the reason (805..809, as on the live feed)
where the sequence would be, which is where the official client reads it.

:class:`DepthDecoder` never raises on bad input: what it cannot decode is counted by kind in
:class:`DepthDecodeStats` and reported once per kind through ``on_problem``, like :class:`Decoder`.
Whether decoded values are usable is a separate question, answered by :func:`side_problem` and
:func:`book_problem` with the normaliser's kinds (``price_nan``, ``price_inf``, ``price_range``,
``depth_crossed``; see ``feed/normalise.py``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from feed.prices import price_problem
from feed.protocol.constants import DEPTH_LEVELS, DepthResponseCode
from shared.events import PRICE_MAX

__all__ = [
    "DEPTH_HEADER",
    "DEPTH_ROW",
    "HEADER_BYTES",
    "MAX_DEPTH_FRAME_BYTES",
    "ROW_BYTES",
    "DepthDecodeStats",
    "DepthDecoder",
    "DepthPacket",
    "DepthRow",
    "book_problem",
    "crossed",
    "side_bytes",
    "side_problem",
]

# Unsigned on decode: a length or id that is negative as the documented int16/int32 is out of range either way.
DEPTH_HEADER = struct.Struct("<HBBII")
DEPTH_ROW = struct.Struct("<dII")
HEADER_BYTES = DEPTH_HEADER.size
ROW_BYTES = DEPTH_ROW.size
# 50 instruments x 2 sides x 332 bytes fit 33 KiB; a frame far beyond any legitimate batch is not walked.
MAX_DEPTH_FRAME_BYTES = 256 * 1024

_BID = int(DepthResponseCode.BID)
_ASK = int(DepthResponseCode.ASK)
_DISCONNECT = int(DepthResponseCode.DISCONNECT)

DepthRow = tuple[float, int, int]
"""``(price, quantity, orders)``; an empty level is ``(0.0, 0, 0)``."""


def side_bytes(rows: int) -> int:
    """Size of a side packet with ``rows`` rows."""
    return HEADER_BYTES + rows * ROW_BYTES


class DepthPacket(NamedTuple):
    """One decoded packet. ``sequence`` is the header's last field: the 20-level sequence number, the
    200-level row count, or a disconnect's reason (also as :attr:`reason`)."""

    code: int
    segment: int
    security_id: int
    sequence: int
    rows: tuple[DepthRow, ...]

    @property
    def is_bid(self) -> bool:
        return self.code == _BID

    @property
    def is_disconnect(self) -> bool:
        return self.code == _DISCONNECT

    @property
    def reason(self) -> int | None:
        return self.sequence if self.code == _DISCONNECT else None


@dataclass(slots=True)
class DepthDecodeStats:
    frames: int = 0
    packets: int = 0
    truncated: int = 0  # the frame ends inside a header or before the length the header gives
    oversized: int = 0  # a frame above max_frame_bytes, dropped whole
    unknown: int = 0  # a response code that is not 41, 51 or 50
    bad_length: int = 0  # a length that does not fit the code's layout (or a 200-level row count above 200)
    empty: int = 0
    by_code: dict[int, int] = field(default_factory=dict)

    @property
    def bad(self) -> int:
        return self.truncated + self.oversized + self.unknown + self.bad_length + self.empty

    def as_dict(self) -> dict[str, int]:
        return {"frames": self.frames, "packets": self.packets, "truncated": self.truncated,
                "oversized": self.oversized, "unknown": self.unknown, "bad_length": self.bad_length,
                "empty": self.empty}


ProblemSink = Callable[[str, dict[str, Any]], None]


class DepthDecoder:
    """Decodes frames of one depth feed (``levels`` 20 or 200) into :class:`DepthPacket`; counts and reports
    (once per kind) what it cannot decode. After a problem the rest of the frame is skipped: a packet whose
    length cannot be trusted leaves no reliable way to find the next one."""

    __slots__ = ("_on_problem", "_reported", "levels", "max_frame_bytes", "stats")

    def __init__(self, levels: int = 20, on_problem: ProblemSink | None = None, *,
                 max_frame_bytes: int = MAX_DEPTH_FRAME_BYTES) -> None:
        if levels not in DEPTH_LEVELS:
            raise ValueError(f"depth levels must be one of {DEPTH_LEVELS}, not {levels!r}")
        self.levels = levels
        self.stats = DepthDecodeStats()
        self.max_frame_bytes = max_frame_bytes
        self._on_problem = on_problem
        self._reported: set[str] = set()

    def decode(self, frame: bytes) -> list[DepthPacket]:
        """All whole packets in ``frame``, in order. Never raises on bad input."""
        stats = self.stats
        stats.frames += 1
        n = len(frame)
        if n == 0:
            return self._fail("empty", frame, 0, [])
        if n > self.max_frame_bytes:
            return self._fail("oversized", frame, 0, [])
        out: list[DepthPacket] = []
        off = 0
        while off < n:
            if off + HEADER_BYTES > n:
                return self._fail("truncated", frame, off, out)
            length, code, segment, sid, seq = DEPTH_HEADER.unpack_from(frame, off)
            if code not in (_BID, _ASK, _DISCONNECT):
                return self._fail("unknown", frame, off, out)
            rows = self._row_count(code, length, seq)
            if rows is None:
                return self._fail("bad_length", frame, off, out)
            if off + length > n:
                return self._fail("truncated", frame, off, out)
            body = frame[off + HEADER_BYTES : off + HEADER_BYTES + rows * ROW_BYTES]
            out.append(DepthPacket(code, segment, sid, seq, tuple(DEPTH_ROW.iter_unpack(body))))
            stats.by_code[code] = stats.by_code.get(code, 0) + 1
            off += length
        stats.packets += len(out)
        return out

    def _row_count(self, code: int, length: int, seq: int) -> int | None:
        """Rows in a packet with this header, or None when its length does not fit the layout."""
        if length < HEADER_BYTES:
            return None
        if code == _DISCONNECT:
            return 0
        body = length - HEADER_BYTES
        if body % ROW_BYTES:
            return None
        rows = body // ROW_BYTES
        if self.levels == 200:
            return rows if rows == seq and rows <= 200 else None
        return rows if rows <= 20 else None

    def _fail(self, kind: str, frame: bytes, offset: int, out: list[DepthPacket]) -> list[DepthPacket]:
        stats = self.stats
        setattr(stats, kind, getattr(stats, kind) + 1)
        stats.packets += len(out)
        if self._on_problem is not None and kind not in self._reported:
            self._reported.add(kind)
            self._on_problem(kind, {"frame_bytes": len(frame), "offset": offset,
                                    "head_hex": frame[offset : offset + HEADER_BYTES].hex()})
        return out


def side_problem(packet: DepthPacket) -> str | None:
    """The bad-value kind of the first unusable price of one side (NaN, infinite, negative, not below
    ``PRICE_MAX``), or None. Empty levels (price 0) are usable, as on the live feed."""
    for price, _qty, _orders in packet.rows:
        if not 0.0 <= price < PRICE_MAX:
            return price_problem(price)
    return None


def crossed(bid: DepthPacket, ask: DepthPacket) -> bool:
    """The best bid above the best ask, both non-zero; a locked book (equal prices) is not crossed."""
    if not bid.rows or not ask.rows:
        return False
    return bid.rows[0][0] > ask.rows[0][0] > 0.0


def book_problem(bid: DepthPacket, ask: DepthPacket) -> str | None:
    """What makes this bid/ask pair of one instrument unusable (a normaliser bad-value kind), or None.
    A feed drops the pair whole and counts the kind, as it does a 5-level book."""
    kind = side_problem(bid) or side_problem(ask)
    if kind is None and crossed(bid, ask):
        kind = "depth_crossed"
    return kind
