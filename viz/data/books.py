"""One instrument's order books for the depth window (Qt-free): stored history, the seam, then live.

Recipe, like the other windows' (:mod:`viz.data.seam`): note the writer group's position on ``dhan:depth20``
and ``dhan:depth`` first; then read MySQL: the sampled books of the last ``span_s`` (``dhan_depth20_history``)
and the latest stored book (``dhan_depth20``; the 5-level ``dhan_depth`` when the instrument has no 20- or
200-level rows); then the streams from the positions (catch-up) and live. Everything the writer committed
is before its position, everything after it is read from the stream, so nothing falls in between; what is
offered twice is harmless, because the view only moves forward (:class:`viz.models.depth_view.DepthView`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from shared.keys import Keys
from viz.data import history
from viz.data.catalog import Instrument
from viz.data.link import DataLink
from viz.data.live import follow_streams, read_range, read_tail, sid_needle
from viz.data.seam import LATEST_FALLBACK_ENTRIES, resume_id, writer_position
from viz.models.ladder import Book, book_from_event
from viz.models.status import StatusModel

__all__ = ["BookSink", "BookSource"]


class BookSink(Protocol):
    def reset_books(self, books: list[Book]) -> None: ...

    def add_books(self, books: list[Book]) -> None: ...


class BookSource:
    def __init__(
        self, link: DataLink, keys: Keys, instrument: Instrument, sink: BookSink, status: StatusModel,
        *, span_s: Callable[[], float],
    ) -> None:  # fmt: skip
        self.link, self.keys, self.instrument, self.sink, self.status = link, keys, instrument, sink, status
        self.span_s = span_s
        self.history_rows = 0
        self.caught_up = 0
        self.live_books = 0  # books of the instrument read live (offered to the sink)
        self.loaded_at: float | None = None

    def _books(self, entries: list[tuple[bytes, bytes | None]]) -> list[Book]:
        inst, needle = self.instrument, sid_needle(self.instrument.sid)
        out = []
        for _, payload in entries:
            if payload is None or needle not in payload:
                continue
            try:
                ev: Any = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            if type(ev) is not dict or ev.get("sid") != inst.sid or ev.get("seg") != inst.seg:
                continue
            book = book_from_event(ev)
            if book is not None:
                out.append(book)
        return out

    async def _stored(self, pool: Any) -> list[dict[str, Any]]:
        inst = self.instrument
        latest = await history.fetch_depth20_latest(pool, inst.seg, inst.sid)
        for levels in (20, 200):
            if levels in latest:
                rows = await history.fetch_depth20_history(pool, inst.seg, inst.sid, levels, self.span_s())
                return [*rows, latest[levels]]
        five = await history.fetch_depth(pool, inst.seg, inst.sid)
        return [five] if five else []

    async def run(self) -> None:
        inst = self.instrument
        self.status.phase = f"loading {inst.label} books"
        redis = await self.link.redis()
        pool = await self.link.pool()
        streams = (self.keys.depth20, self.keys.depth)
        positions = {s: await writer_position(redis, s) for s in streams}
        stored = await self._stored(pool)
        books = [b for b in (book_from_event(ev) for ev in stored) if b is not None]
        self.history_rows = len(books)
        resume: dict[str, bytes] = {}
        for stream in streams:
            pos = positions[stream]
            if pos is None:  # no writer group: nothing stored either; the stream's newest entries seed the view
                tail = await read_tail(redis, stream, LATEST_FALLBACK_ENTRIES)
                books.extend(self._books(tail))
                resume[stream] = tail[-1][0] if tail else b"0-0"
                continue
            last: bytes | None = None
            async for entries in read_range(redis, stream, pos.entry_id, inclusive=pos.inclusive):
                last = entries[-1][0]
                caught = self._books(entries)
                self.caught_up += len(caught)
                books.extend(caught)
            resume[stream] = resume_id(pos, last)
        self.sink.reset_books(books)
        self.loaded_at = time.monotonic()
        self.status.phase = "live"
        self.status.updated(0)
        async for _, entries in follow_streams(redis, resume):
            live = self._books(entries)
            if live:
                self.live_books += len(live)
                self.sink.add_books(live)
                self.status.updated(len(live))
