"""The depth feeds of a replay: recorded 20- and 200-level depth frames re-served to the feed's depth sockets.

A journal holds the depth feeds' frames in blocks of their own (``KIND_DEPTH``, see
:mod:`feed.journal.format`). :class:`DepthRouter` keeps the subscriptions of the replay server's
``/twentydepth`` and ``/twohundreddepth`` connections (requests parsed and limited as the simulator does) and
sends each packet of a recorded frame to the connections subscribed to its instrument, the packets of one
frame for one connection joined in one message again. Disconnect packets of the recording are not replayed
(they belonged to that connection). Once the replay has started (``snapshots``), a subscription is answered
with the last recorded book (bid and ask packet) of each instrument, as Dhan and the simulator send a snapshot
on subscribe: a depth socket that reconnects mid-replay has every book again at once.

The journal's writer puts a drain's depth frames in blocks after the frames block(s) of the same drain:
:func:`timeline` merges each frames block with the depth blocks that follow it by receive time, so the replay
paces the depth feeds' frames among the live feed's as they came (a depth frame from before the frames block
that precedes its own goes out at once, never more than one journal block late).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from operator import itemgetter
from typing import Any

from feed.journal import KIND_DEPTH, KIND_FRAMES, Block
from feed.protocol.constants import DEPTH_MAX_INSTRUMENTS, SEGMENT_BY_NAME, DepthRequestCode, RequestCode
from feed.protocol.depth import HEADER_BYTES
from feed.protocol.requests import parse_depth_request
from feed.sim.connection import SimConnection

__all__ = ["DepthRouter", "timeline"]

_BID, _DISCONNECT = 41, 50
Key = tuple[int, int]


class DepthRouter:
    """Subscriptions and routing of the replay's depth connections (``levels`` 20 and 200)."""

    def __init__(self, log: Any) -> None:
        self.log = log
        self._subs: dict[int, dict[Key, set[SimConnection]]] = {20: {}, 200: {}}
        self._last: dict[int, dict[Key, list[bytes]]] = {20: {}, 200: {}}  # [bid packet, ask packet]
        self.snapshots = False  # set once the replay started: subscriptions get the last recorded book
        self.frames_read = 0
        self.packets_routed = 0
        self.unrouted = 0
        self.bad_requests = 0

    def on_request(self, conn: SimConnection, text: str, levels: int) -> bool:
        """Apply one JSON request of a depth connection; True when it asked to disconnect (code 12)."""
        try:
            req = parse_depth_request(text, levels)
        except ValueError as exc:
            self.bad_requests += 1
            if conn.report_once("bad-depth-request"):
                self.log.warning("request_ignored", conn=conn.conn_id, feed=conn.feed, why=str(exc)[:200])
            return False
        if req.code == RequestCode.DISCONNECT:
            return True
        conn.join_messages = False  # recorded messages keep their boundaries (a book per message end)
        subs, last = self._subs[levels], self._last[levels]
        replies: list[bytes] = []
        for seg_name, sid in req.instruments:
            key = (SEGMENT_BY_NAME[seg_name], sid)
            if req.code == DepthRequestCode.SUBSCRIBE:
                if key not in conn.subs and len(conn.subs) >= DEPTH_MAX_INSTRUMENTS[levels]:
                    continue
                conn.subs[key] = levels
                subs.setdefault(key, set()).add(conn)
                book = last.get(key)
                if self.snapshots and book is not None and all(book):
                    replies.append(b"".join(book))
            elif conn.subs.pop(key, None) is not None:
                subs.get(key, set()).discard(conn)
        if replies:
            conn.write_now(replies)
        return False

    def forget(self, conn: SimConnection) -> None:
        for subs in self._subs.values():
            for key in conn.subs:
                subs.get(key, set()).discard(conn)

    def route(self, levels: int, frame: bytes) -> None:
        """The packets of one recorded frame to the connections subscribed to their instruments."""
        self.frames_read += 1
        subs, last = self._subs[levels], self._last[levels]
        out: dict[SimConnection, list[bytes]] = {}
        off, n = 0, len(frame)
        while off + HEADER_BYTES <= n:
            length = int.from_bytes(frame[off : off + 2], "little")
            if length < HEADER_BYTES or off + length > n:
                break  # what the recording holds past a bad length: the feed counted it when it came
            packet = frame[off : off + length]
            off += length
            code = packet[2]
            if code == _DISCONNECT:
                continue
            key = (packet[3], int.from_bytes(packet[4:8], "little"))
            last.setdefault(key, [b"", b""])[0 if code == _BID else 1] = packet
            targets = subs.get(key)
            if not targets:
                self.unrouted += 1
                continue
            self.packets_routed += 1
            for conn in targets:
                out.setdefault(conn, []).append(packet)
        for conn, packets in out.items():
            conn.out.append(b"".join(packets))

    def stats(self) -> dict[str, int]:
        return {"depth_frames_read": self.frames_read, "depth_packets_routed": self.packets_routed,
                "depth_unrouted": self.unrouted, "depth_bad_requests": self.bad_requests}


Record = tuple[float, int, bytes]  # receive time, depth levels (0: a live-feed frame), frame


def timeline(blocks: Iterable[Block]) -> Iterator[Record]:
    """The frames of ``blocks`` (live feed and depth feeds; notes left out) in receive-time order within each
    frames block and the depth blocks after it: memory is one such group, not the file."""
    group: list[list[Record]] = []
    for block in blocks:
        if block.kind == KIND_FRAMES:
            if group:
                yield from heapq.merge(*group, key=itemgetter(0))
                group = []
            group.append([(ts, 0, frame) for ts, frame in block.records])
        elif block.kind == KIND_DEPTH:
            group.append([(ts, block.levels, frame) for ts, frame in block.records])
    yield from heapq.merge(*group, key=itemgetter(0))
