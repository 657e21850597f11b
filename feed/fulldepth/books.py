"""The two halves of a depth book -> one ``dhan:depth20`` event per instrument (pure: no I/O, no clock).

Dhan sends the bid side (code 41) and the ask side (code 51) of an instrument as separate packets, usually
back to back in one WebSocket message, and a message may hold the packets of several instruments (or several
updates of one). :class:`BookMerger` keeps the latest side of each kind per instrument and emits a book, the
merge of the latest of each side (FEATURES.md, "Redis"), after each side once both are known, except when
the next packet of the frame is that side's other half: a pair is then one book, emitted after its second
half. A side that arrives alone (the other side unchanged) updates the book with the side already known.

Values are checked with :func:`feed.protocol.depth.side_problem` when a side arrives (a bad side is dropped
and never becomes "the latest") and :func:`feed.protocol.depth.book_problem` before a book is emitted (a
crossed book is dropped); each drop is counted by kind in ``bad_values`` (the normaliser's kinds) and
reported once per kind through ``on_bad``.

Event v1 (``shared/events.py``): ``{v, seg, sid, levels, seq, recv_ts, bids, asks}``; rows
``[price, quantity, orders]`` best first, prices rounded to the instrument's tick when it is known, empty
rows (price 0, as the 20-level feed pads a short side) left out. ``seq`` is the 20-level sequence of the
newer side, 0 on the 200-level feed (whose header field is a row count there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson

from feed.prices import BAD_VALUE_KINDS, shared_rounder_memo
from feed.protocol.constants import SEGMENT_BY_CODE
from feed.protocol.depth import DepthPacket, DepthRow, book_problem, side_problem
from shared.events import EVENT_VERSION

_native_rows: Callable[[Any, Callable[[float], float], dict[float, float] | None], list[Any] | None] | None
try:  # optional native path (feed/_fastfeed.c): the same rows; absent in a build without a compiler
    from feed import _fastfeed

    _native_rows = _fastfeed.book_rows
except (ImportError, AttributeError):  # pragma: no cover - depends on the build
    _native_rows = None

__all__ = ["BookMerger", "book_rows"]

Key = tuple[int, int]  # (segment code, security id)
BadSink = Callable[[str, dict[str, Any]], None]


def _plain(x: float) -> float:
    return round(x, 4)


def _halves(a: DepthPacket, b: DepthPacket) -> bool:
    """``b`` is the other side of ``a``'s instrument."""
    return (b.security_id == a.security_id and b.segment == a.segment and b.is_bid != a.is_bid
            and not b.is_disconnect)


def book_rows(rows: Iterable[DepthRow], rnd: Callable[[float], float]) -> list[list[float | int]]:
    """``[[price, quantity, orders], ...]`` without the empty rows (price 0 and no quantity)."""
    return [[rnd(p), q, o] for p, q, o in rows if p > 0.0 or q]


def _rows(rows: Sequence[DepthRow], rnd: Callable[[float], float],
          memo: dict[float, float] | None) -> list[list[float | int]]:
    """:func:`book_rows`, natively where the extension is built (``memo``: ``rnd``'s own memo, or None)."""
    if _native_rows is not None:
        out = _native_rows(rows, rnd, memo)
        if out is not None:
            return out
    return book_rows(rows, rnd)


class BookMerger:
    """Latest bid and ask side per instrument of one depth feed (``levels`` 20 or 200) -> book events."""

    __slots__ = ("_asks", "_bids", "_on_bad", "_reported", "_ticks", "bad_values", "books", "levels")

    def __init__(self, levels: int, *, tick_sizes: Mapping[Key, float] | None = None,
                 on_bad: BadSink | None = None) -> None:
        self.levels = levels
        self._ticks: dict[Key, float] = dict(tick_sizes or {})
        self._bids: dict[Key, DepthPacket] = {}
        self._asks: dict[Key, DepthPacket] = {}
        self._on_bad = on_bad
        self._reported: set[str] = set()
        self.bad_values: dict[str, int] = dict.fromkeys(BAD_VALUE_KINDS, 0)
        self.books = 0  # events emitted

    @property
    def bad_total(self) -> int:
        return sum(self.bad_values.values())

    def set_tick_sizes(self, tick_sizes: Mapping[Key, float]) -> None:
        self._ticks.update(tick_sizes)

    def forget(self, key: Key | None = None) -> None:
        """Drop the sides kept for ``key`` (all instruments when None): after an unsubscribe or a reconnect,
        a book is built only from sides of the new subscription."""
        if key is None:
            self._bids.clear()
            self._asks.clear()
        else:
            self._bids.pop(key, None)
            self._asks.pop(key, None)

    def feed(self, packets: Sequence[DepthPacket], recv_ts: float) -> list[bytes]:
        """The side packets of one frame -> the encoded events of the books they complete, in order."""
        out: list[bytes] = []
        waiting: Key | None = None  # an instrument whose book waits for the other half, next in the frame
        last = len(packets) - 1
        for i, pkt in enumerate(packets):
            if pkt.is_disconnect:
                continue
            key = (pkt.segment, pkt.security_id)
            kind = side_problem(pkt)
            if kind is not None:
                self._bad(kind, pkt)
                if waiting != key:
                    continue
            else:
                (self._bids if pkt.is_bid else self._asks)[key] = pkt
                if waiting != key and i < last and _halves(pkt, packets[i + 1]):  # a first half
                    waiting = key
                    continue
            waiting = None
            event = self._event(key, recv_ts)
            if event is not None:
                out.append(event)
        return out

    def _event(self, key: Key, recv_ts: float) -> bytes | None:
        bid, ask = self._bids.get(key), self._asks.get(key)
        if bid is None or ask is None:
            return None
        kind = book_problem(bid, ask)
        if kind is not None:
            self._bad(kind, bid)
            return None
        tick = self._ticks.get(key)
        rnd, memo = shared_rounder_memo(tick) if tick else (_plain, None)
        self.books += 1
        return orjson.dumps({
            "v": EVENT_VERSION, "seg": SEGMENT_BY_CODE.get(key[0], str(key[0])), "sid": key[1],
            "levels": self.levels, "seq": max(bid.sequence, ask.sequence) if self.levels == 20 else 0,
            "recv_ts": recv_ts, "bids": _rows(bid.rows, rnd, memo), "asks": _rows(ask.rows, rnd, memo),
        })

    def _bad(self, kind: str, pkt: DepthPacket) -> None:
        self.bad_values[kind] = self.bad_values.get(kind, 0) + 1
        if self._on_bad is not None and kind not in self._reported:
            self._reported.add(kind)
            self._on_bad(kind, {"levels": self.levels, "seg": pkt.segment, "sid": pkt.security_id,
                                "code": pkt.code})
