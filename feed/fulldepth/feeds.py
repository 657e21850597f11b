"""The feed's depth sockets: which instruments ride which connection, within Dhan's connection budget.

:class:`DepthFeeds` is composed by :class:`feed.service.FeedService`. :meth:`DepthFeeds.apply` runs at start
and after every universe change: it asks :class:`feed.budget.ConnectionBudget` how many connections the
depth feeds may hold next to the live feed's, closes the ones no longer granted or needed first, then opens
(lazily: only with instruments to carry) and updates the others. 20-level instruments are sticky on their
connection (at most 50 each), as the live feed's shards are; the 200-level instrument has a connection of its
own. Every connection is an owned task of the service (``depth20.<n>``, ``depth200``) with a stop event of its
own, so a connection given back to the budget closes politely while the others run on.

Data path, on the event loop, never awaiting (like the live feed's): ``DepthConnection.on_frame`` ->
journal (a depth frames record) -> :class:`~feed.protocol.depth.DepthDecoder` ->
:class:`~feed.fulldepth.books.BookMerger` -> ``Publisher.add(KIND_DEPTH20)`` -> ``dhan:depth20``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol

from feed.budget import ConnectionBudget
from feed.fulldepth.books import BookMerger
from feed.fulldepth.connection import DepthConnection
from feed.fulldepth.select import wanted_depth20, wanted_depth200
from feed.protocol.constants import DEPTH_MAX_INSTRUMENTS, SEGMENT_BY_NAME
from feed.protocol.depth import DepthDecoder
from feed.protocol.requests import Instrument
from feed.publisher import KIND_DEPTH20, Publisher
from feed.universe import Universe
from shared.calendar import TradingCalendar
from shared.events import instrument_key
from shared.logs import get_logger
from shared.settings import Settings

__all__ = ["DepthFeeds"]

Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]
EventSink = Callable[[dict[str, Any]], None]


class DepthJournal(Protocol):
    def append_depth(self, frame: bytes, recv_ts: float, levels: int) -> None: ...


class DepthFeeds:
    """The 20- and 200-level depth connections of one feed (see the module docstring)."""

    def __init__(self, settings: Settings, budget: ConnectionBudget, *, spawn: Spawn, journal: DepthJournal,
                 on_event: EventSink, calendar: TradingCalendar | None = None) -> None:
        self.settings = settings
        self.budget = budget
        self._spawn = spawn
        self._journal = journal
        self._on_event = on_event
        self._calendar = calendar
        self.log = get_logger("feed.depth")
        # a bad list is a one-line ConfigError here, at setup, not at the first apply
        wanted_depth20(settings.feed.depth20_instruments, settings.feed.depth20_enabled, None)
        self.want200: Instrument | None = wanted_depth200(settings.feed.depth200_instrument)
        self.decoders = {n: DepthDecoder(n, self._on_problem) for n in (20, 200)}
        self.mergers = {n: BookMerger(n, on_bad=self._on_bad) for n in (20, 200)}
        self.publisher: Publisher | None = None
        self.conns: list[DepthConnection] = []  # 20-level, by index
        self.conn200: DepthConnection | None = None
        self._stops: dict[DepthConnection, asyncio.Event] = {}
        self._tasks: dict[DepthConnection, asyncio.Task[Any]] = {}
        self._where: dict[Instrument, int] = {}  # 20-level instrument -> connection index (sticky)
        self._lock = asyncio.Lock()
        self._stopped = False
        self.wanted20 = 0
        self.changes = 0
        self.frame_errors = 0
        self._frame_error_types: set[str] = set()

    def set_tick_sizes(self, tick_sizes: Mapping[tuple[int, int], float]) -> None:
        for merger in self.mergers.values():
            merger.set_tick_sizes(tick_sizes)

    # --- which connections carry what ---
    async def apply(self, universe: Universe | None, main_connections: int) -> None:
        """Bring the depth connections in line with ``universe`` and the budget left by the live feed's
        ``main_connections``: connections to give back are closed before any other opens."""
        async with self._lock:
            if self._stopped:
                return
            s = self.settings
            wanted = wanted_depth20(s.feed.depth20_instruments, s.feed.depth20_enabled, universe)
            alloc = self.budget.grant(main_connections, len(wanted), self.want200 is not None)
            self.wanted20 = len(wanted)
            if alloc.depth20_unfunded or alloc.depth200_unfunded:
                self.log.warning("depth_budget_short", depth20_unfunded=alloc.depth20_unfunded,
                                 depth200_unfunded=alloc.depth200_unfunded, main=alloc.main, limit=alloc.limit)
            shards = self._assign(wanted[: alloc.depth20_capacity])
            await self._close_from(len(shards))
            if alloc.depth200 == 0 and self.conn200 is not None:
                await self._close(self.conn200)
                self.conn200 = None
            # shrinks are booked before growths, so the held total stays within the limit at every step
            self.budget.hold("depth200", int(self.conn200 is not None))
            self.budget.hold("depth20", len(shards))
            for idx, keys in enumerate(shards):
                conn = self.conns[idx] if idx < len(self.conns) else self._open(20, idx)
                removed = (await conn.set_instruments(keys))[1]
                for key in removed:
                    self.mergers[20].forget((SEGMENT_BY_NAME[key[0]], key[1]))
            if alloc.depth200 and self.want200 is not None and self.conn200 is None:
                self.budget.hold("depth200", 1)
                self.conn200 = self._open(200, 0)
                await self.conn200.set_instruments([self.want200])
            self.budget.depth20_loads = [len(keys) for keys in shards]
            self.changes += 1

    def _assign(self, keys: list[Instrument]) -> list[list[Instrument]]:
        """``keys`` on ceil(n / 50) connections; an instrument stays where it was while that connection
        stays, new ones fill the first connection with room."""
        per = DEPTH_MAX_INSTRUMENTS[20]
        n = math.ceil(len(keys) / per)
        shards: list[list[Instrument]] = [[] for _ in range(n)]
        fresh: list[Instrument] = []
        for key in keys:
            idx = self._where.get(key)
            if idx is not None and idx < n and len(shards[idx]) < per:
                shards[idx].append(key)
            else:
                fresh.append(key)
        for key in fresh:
            idx = next(i for i, shard in enumerate(shards) if len(shard) < per)
            shards[idx].append(key)
        self._where = {key: idx for idx, shard in enumerate(shards) for key in shard}
        return shards

    def _open(self, levels: int, idx: int) -> DepthConnection:
        conn = DepthConnection(idx, self.settings, levels, self._frame_sink(levels), on_event=self._conn_event,
                               calendar=self._calendar)
        stop = self._stops[conn] = asyncio.Event()
        self._tasks[conn] = self._spawn(conn.run(stop), f"depth{levels}.{idx}" if levels == 20 else "depth200")
        if levels == 20:
            self.conns.append(conn)
        self.log.info("depth_connection_opened", levels=levels, conn=idx)
        return conn

    async def _close_from(self, keep: int) -> None:
        while len(self.conns) > keep:
            await self._close(self.conns.pop())

    async def _close(self, conn: DepthConnection) -> None:
        self._stops.pop(conn).set()
        task = self._tasks.pop(conn)
        await asyncio.gather(task, return_exceptions=True)  # its owner logs a death
        for key in conn.instruments:
            self.mergers[conn.levels].forget((SEGMENT_BY_NAME[key[0]], key[1]))
        self.log.info("depth_connection_closed", levels=conn.levels, conn=conn.index)

    async def stop(self) -> None:
        """Close every depth connection (the feed is stopping). Idempotent."""
        async with self._lock:
            self._stopped = True
            await self._close_from(0)
            if self.conn200 is not None:
                await self._close(self.conn200)
                self.conn200 = None
            self.budget.hold("depth20", 0)
            self.budget.hold("depth200", 0)

    # --- hot path ---
    def _frame_sink(self, levels: int) -> Callable[[bytes, float], None]:
        decoder, merger = self.decoders[levels], self.mergers[levels]
        journal = self._journal

        def on_frame(frame: bytes, recv_ts: float) -> None:
            journal.append_depth(frame, recv_ts, levels)  # the raw frame, good or bad
            try:
                events = merger.feed(decoder.decode(frame), recv_ts)
            except Exception as exc:  # one frame must never end the read loop, and with it the feed
                self._on_frame_error(frame, exc)
                return
            if events:
                pub = self.publisher
                assert pub is not None
                pub.add(KIND_DEPTH20, events)

        return on_frame

    def _conn_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == "depth_connected":  # books start again from the new session's sides
            levels = 200 if event.get("feed") == "depth200" else 20
            conn = self.conn200 if levels == 200 else next((c for c in self.conns if c.index == event.get("conn")),
                                                           None)
            for key in conn.instruments if conn is not None else ():
                self.mergers[levels].forget((SEGMENT_BY_NAME[key[0]], key[1]))
        self._on_event(event)

    def _on_problem(self, kind: str, info: dict[str, Any]) -> None:
        self.log.warning("bad_depth_packet", kind=kind, **info)

    def _on_bad(self, kind: str, info: dict[str, Any]) -> None:
        self.log.warning("bad_value", kind=kind, feed=f"depth{info.get('levels')}",
                         detail="depth side or book dropped; counted in depth_bad_values_<kind>", **info)

    def _on_frame_error(self, frame: bytes, exc: Exception) -> None:
        self.frame_errors += 1
        name = type(exc).__name__
        if name not in self._frame_error_types:
            self._frame_error_types.add(name)
            self.log.error("depth_frame_failed", error=f"{name}: {exc}"[:300], head_hex=frame[:16].hex(),
                           exc_info=exc)

    # --- heartbeat ---
    def all_connections(self) -> list[DepthConnection]:
        return self.conns + ([self.conn200] if self.conn200 is not None else [])

    def metrics(self) -> dict[str, Any]:
        conns = self.all_connections()
        bad: dict[str, int] = {}
        for merger in self.mergers.values():
            for kind, n in merger.bad_values.items():
                bad[kind] = bad.get(kind, 0) + n
        ages = [time.time() - c.last_frame_at for c in conns if c.last_frame_at]
        out: dict[str, Any] = {
            "depth20_enabled": int(self.settings.feed.depth20_enabled),
            "depth20_wanted": self.wanted20,
            "depth20_instruments": sum(len(c.instruments) for c in self.conns),
            "depth200_instrument": instrument_key(*self.want200) if self.want200 is not None else "",
            "depth_connections": len(conns),
            "depth_connections_up": sum(1 for c in conns if c.connected.is_set()),
            "depth_reconnects": sum(c.reconnects for c in conns),
            "depth_frames": sum(d.stats.frames for d in self.decoders.values()),
            "depth_bad_packets": sum(d.stats.bad for d in self.decoders.values()),
            "depth_books": sum(m.books for m in self.mergers.values()),
            "depth_frame_errors": self.frame_errors,
            "depth_bad_values": sum(bad.values()),
            "depth_last_frame_age_s": round(min(ages), 3) if ages else "",
        }
        out.update({f"depth_bad_values_{kind}": n for kind, n in bad.items()})
        out.update(self.budget.metrics())
        return out
