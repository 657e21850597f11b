"""Binary packet decoding: one WebSocket frame -> raw packet tuples. The hot path of the feed.

A decoded packet is the tuple ``struct.unpack`` returns (no per-packet object is built): index 0 is the
response code, 1 the length field, 2 the segment code, 3 the security id; the rest follows the layouts in
``docs/protocol.md``. ``FIELDS`` names them for readers, tests and :func:`packet_as_dict`.

Frames are walked by each code's fixed size, so several packets in one frame decode and a short one is
counted, never raised. Problems are counted per kind in :class:`DecodeStats`, and reported once per kind
through ``on_problem`` so a flood of bad frames cannot flood the log.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from feed.protocol.constants import MAX_FRAME_BYTES, ResponseCode

__all__ = ["FIELDS", "STRUCTS", "DecodeStats", "Decoder", "Packet", "packet_as_dict"]

Packet = tuple[Any, ...]

_DEPTH5 = "IIHHff" * 5
STRUCTS: dict[int, struct.Struct] = {
    ResponseCode.TICKER: struct.Struct("<BHBIfI"),
    ResponseCode.MARKET_DEPTH: struct.Struct("<BHBIf" + _DEPTH5),
    ResponseCode.QUOTE: struct.Struct("<BHBIfHIfIIIffff"),
    ResponseCode.OI: struct.Struct("<BHBII"),
    ResponseCode.PREV_CLOSE: struct.Struct("<BHBIfI"),
    ResponseCode.MARKET_STATUS: struct.Struct("<BHBI"),
    ResponseCode.FULL: struct.Struct("<BHBIfHIfIIIIIIffff" + _DEPTH5),
    ResponseCode.DISCONNECT: struct.Struct("<BHBIH"),
}

_HEAD = ("code", "length", "segment", "security_id")
_DEPTH_NAMES = tuple(
    f"{name}{lvl}"
    for lvl in range(1, 6)
    for name in ("bid_qty", "ask_qty", "bid_orders", "ask_orders", "bid_price", "ask_price")
)
FIELDS: dict[int, tuple[str, ...]] = {
    ResponseCode.TICKER: (*_HEAD, "ltp", "ltt"),
    ResponseCode.MARKET_DEPTH: (*_HEAD, "ltp", *_DEPTH_NAMES),
    ResponseCode.QUOTE: (
        *_HEAD, "ltp", "ltq", "ltt", "atp", "volume", "total_sell_qty", "total_buy_qty",
        "open", "close", "high", "low",
    ),
    ResponseCode.OI: (*_HEAD, "oi"),
    ResponseCode.PREV_CLOSE: (*_HEAD, "prev_close", "prev_oi"),
    ResponseCode.MARKET_STATUS: _HEAD,
    ResponseCode.FULL: (
        *_HEAD, "ltp", "ltq", "ltt", "atp", "volume", "total_sell_qty", "total_buy_qty",
        "oi", "oi_high", "oi_low", "open", "close", "high", "low", *_DEPTH_NAMES,
    ),
    ResponseCode.DISCONNECT: (*_HEAD, "reason"),
}

_SIZES: dict[int, int] = {code: s.size for code, s in STRUCTS.items()}
PACKET_SIZES_BY_CODE = _SIZES
_UNPACK_FROM: dict[int, Callable[[bytes, int], Packet]] = {c: s.unpack_from for c, s in STRUCTS.items()}
_UNPACK: dict[int, Callable[[bytes], Packet]] = {c: s.unpack for c, s in STRUCTS.items()}


def packet_as_dict(packet: Packet) -> dict[str, Any]:
    """Name the fields of a decoded packet (for tests, logs and tools; not the hot path)."""
    return dict(zip(FIELDS[packet[0]], packet, strict=True))


@dataclass(slots=True)
class DecodeStats:
    frames: int = 0
    packets: int = 0
    truncated: int = 0
    oversized: int = 0
    unknown: int = 0
    empty: int = 0
    by_code: dict[int, int] = field(default_factory=dict)

    @property
    def bad(self) -> int:
        return self.truncated + self.oversized + self.unknown + self.empty

    def as_dict(self) -> dict[str, int]:
        return {
            "frames": self.frames,
            "packets": self.packets,
            "truncated": self.truncated,
            "oversized": self.oversized,
            "unknown": self.unknown,
            "empty": self.empty,
        }


ProblemSink = Callable[[str, dict[str, Any]], None]


class Decoder:
    """Decodes frames into packet tuples; counts and reports (once per kind) what it cannot decode."""

    __slots__ = ("_on_problem", "_reported", "max_frame_bytes", "stats")

    def __init__(self, on_problem: ProblemSink | None = None, *, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self.stats = DecodeStats()
        self.max_frame_bytes = max_frame_bytes
        self._on_problem = on_problem
        self._reported: set[str] = set()

    def decode(self, frame: bytes) -> list[Packet]:
        """All whole packets in ``frame``, in order. Never raises on bad input."""
        stats = self.stats
        stats.frames += 1
        n = len(frame)
        if n == 0:
            stats.empty += 1
            self._problem("empty", frame, 0)
            return []
        code = frame[0]
        # Fast path: one whole packet per frame, as Dhan sends them.
        if _SIZES.get(code) == n:
            stats.packets += 1
            return [_UNPACK[code](frame)]
        if n > self.max_frame_bytes:
            stats.oversized += 1
            self._problem("oversized", frame, 0)
            return []
        out: list[Packet] = []
        off = 0
        while off < n:
            code = frame[off]
            size = _SIZES.get(code)
            if size is None:
                stats.unknown += 1
                self._problem("unknown", frame, off)
                break  # without a known size the rest of the frame cannot be framed reliably
            if off + size > n:
                stats.truncated += 1
                self._problem("truncated", frame, off)
                break
            out.append(_UNPACK_FROM[code](frame, off))
            off += size
        stats.packets += len(out)
        return out

    def _problem(self, kind: str, frame: bytes, offset: int) -> None:
        if self._on_problem is None or kind in self._reported:
            return
        self._reported.add(kind)
        self._on_problem(
            kind,
            {"frame_bytes": len(frame), "offset": offset, "head_hex": frame[offset : offset + 16].hex()},
        )
