"""Data routines of the windows (Qt-free): history through the seam, then live, into a model sink.

:class:`TickSource` serves the price windows (one instrument's trades); :class:`LatestSource` serves the
latest-state windows (quotes, greeks, depth of many instruments). Each ``run()`` is one attempt: it raises
a link error when Redis or MySQL fails, and :meth:`DataLink.run_forever` starts it again. Sinks are plain
callables that update models and mark them dirty; the window repaints on its own timer.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date
from typing import Any, Protocol

import aiomysql
import orjson

from shared.clock import ist_now
from shared.keys import Keys
from viz.data.catalog import Instrument
from viz.data.link import DataLink
from viz.data.live import StreamEntry, follow_streams, sid_needle
from viz.data.seam import catch_up_latest, load_ticks, writer_position
from viz.models.status import StatusModel
from viz.models.ticks import TickSeries

__all__ = ["LatestSource", "TickSink", "TickSource"]

Event = dict[str, Any]


class TickSink(Protocol):
    def reset_ticks(self, ticks: TickSeries, day: int) -> None: ...

    def add_ticks(self, events: list[Event]) -> None: ...


class TickSource:
    """One instrument's session: history + catch-up (``reset_ticks``), then live trades (``add_ticks``)."""

    def __init__(
        self,
        link: DataLink,
        keys: Keys,
        instrument: Instrument,
        sink: TickSink,
        status: StatusModel,
        *,
        today: Callable[[], date] | None = None,
    ) -> None:
        self.link, self.keys, self.instrument, self.sink, self.status = link, keys, instrument, sink, status
        self._today = today or (lambda: ist_now().date())
        self.loaded_at: float | None = None
        self.history_rows = 0
        self.caught_up = 0

    async def run(self) -> None:
        inst = self.instrument
        self.status.phase = f"loading {inst.label} history"
        redis = await self.link.redis()
        pool = await self.link.pool()
        load = await load_ticks(redis, pool, self.keys, inst.seg, inst.sid, self._today())
        self.history_rows, self.caught_up = load.history_rows, load.caught_up
        self.sink.reset_ticks(load.ticks, load.seam.day)
        self.loaded_at = time.monotonic()
        self.status.phase = "live"
        self.status.updated(0)  # the data on screen is as of now
        self.status.note = f"history {load.history_rows:,} + stream {load.caught_up:,} trades"
        seam, needle = load.seam, sid_needle(inst.sid)
        loads = orjson.loads
        async for _, entries in follow_streams(redis, {self.keys.ticks: load.resume_id}):
            batch: list[Event] = []
            for _, payload in entries:
                if payload is None or needle not in payload:
                    continue
                ev = loads(payload)
                if not seam.matches(ev):
                    continue
                verdict = seam.offer_live(ev)
                if verdict == "drop":
                    continue
                if verdict == "new_day":
                    if batch:
                        self.sink.add_ticks(batch)
                        batch = []
                    self.sink.reset_ticks(TickSeries(), seam.day)
                batch.append(ev)
            if batch:
                self.sink.add_ticks(batch)
                self.status.updated(len(batch))


RowsLoader = Callable[[aiomysql.Pool], Awaitable[Mapping[str, Mapping[str, Event]]]]
Apply = Callable[[str, str, Event, bool], None]  # (kind, "SEG:ID", event or row, live) -> None


class LatestSource:
    """Latest-state kinds: stored rows, the streams from the writer's position, then live.

    ``load_rows(pool)`` returns ``{kind: {key: row}}`` read from MySQL; ``apply(kind, key, ev, live)`` is
    called for every row and event in order (models are forward-only, so overlaps are harmless).
    ``wants(key)`` filters events before ``apply``; ``needles`` (optional) pre-filters payload bytes;
    ``on_loaded()`` runs once the stored rows and the catch-up are applied.
    """

    def __init__(
        self,
        link: DataLink,
        keys: Keys,
        kinds: Sequence[str],
        load_rows: RowsLoader,
        apply: Apply,
        status: StatusModel,
        *,
        wants: Callable[[str], bool] | None = None,
        needles: Sequence[bytes] | None = None,
        on_loaded: Callable[[], None] | None = None,
    ) -> None:
        self.link, self.keys, self.kinds = link, keys, list(kinds)
        self.load_rows, self.apply, self.status = load_rows, apply, status
        self.wants = wants
        self.needles = list(needles) if needles else None
        self.on_loaded = on_loaded
        self.loaded_at: float | None = None

    def _apply_entries(self, kind: str, entries: list[StreamEntry], live: bool) -> int:
        wants, needles, apply, loads = self.wants, self.needles, self.apply, orjson.loads
        n = 0
        for _, payload in entries:
            if payload is None:
                continue
            if needles is not None and not any(nd in payload for nd in needles):
                continue
            ev = loads(payload)
            key = f"{ev.get('seg')}:{ev.get('sid')}"
            if wants is not None and not wants(key):
                continue
            apply(kind, key, ev, live)
            n += 1
        return n

    def _apply_stored(self, kind: str, entries: list[StreamEntry]) -> None:
        self._apply_entries(kind, entries, False)

    async def run(self) -> None:
        self.status.phase = "loading history"
        redis = await self.link.redis()
        pool = await self.link.pool()
        streams = {kind: self.keys.stream(kind) for kind in self.kinds}
        positions = {kind: await writer_position(redis, streams[kind]) for kind in self.kinds}
        rows = await self.load_rows(pool)
        for kind, by_key in rows.items():
            for key, row in by_key.items():
                if self.wants is None or self.wants(key):
                    self.apply(kind, key, row, False)
        resume: dict[str, bytes] = {}
        for kind in self.kinds:
            resume[streams[kind]] = await catch_up_latest(
                redis,
                streams[kind],
                positions[kind],
                functools.partial(self._apply_stored, kind),
            )
        self.loaded_at = time.monotonic()
        self.status.phase = "live"
        self.status.updated(0)
        if self.on_loaded is not None:
            self.on_loaded()
        by_stream = {s: k for k, s in streams.items()}
        async for stream, entries in follow_streams(redis, resume):
            n = self._apply_entries(by_stream[stream], entries, True)
            if n:
                self.status.updated(n)
