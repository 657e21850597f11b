"""A recorded journal served through the simulator's WebSocket: ``dhan feed`` connects to it unchanged.

:class:`ReplayServer` is a :class:`~feed.sim.server.SimServer` whose market is the journal: the same URL and
port, query authentication, subscribe/unsubscribe requests (parsed and limited like the simulator's), faults,
``/health`` and the scrip masters; only the update loop differs. The scrip master is the simulator's listing
as of the journal's first frame (built from the simulator settings the journal recorded), or a file/URL given
with ``instruments_text`` (a journal of Dhan's feed: serve the scrip master saved that day).

Replay starts once the first client has subscribed and no request has come for ``start_quiet_s`` (so a feed
with several connections has subscribed all of them). Frames then go out in journal order, at the recorded
pace divided by ``speed`` (``None``: as fast as the clients read; writes wait for a slow client's socket
instead of dropping). A frame goes to the connections subscribed to its instrument (segment and id of its
first packet); market-status packets go to every subscribed connection; disconnect packets (code 50) of the
recording are not replayed (they belonged to that connection). The depth feeds' frames of the recording are
re-served to the feed's depth sockets (``/twentydepth``, ``/twohundreddepth``) by
:class:`~control.audit.replay_depth.DepthRouter`, each packet to the connections subscribed to its
instrument. Instruments requested but absent from the
journal get nothing; frames of instruments nobody subscribed are counted as ``unrouted``. A client that
subscribes after the replay started first gets the last previous-close packet replayed so far, as the
simulator sends one on subscribe.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from control.audit.replay_depth import DepthRouter, timeline
from feed.journal import KIND_FRAMES, SIM_LISTING_SETTINGS, Block, JournalReader
from feed.protocol.constants import MAX_INSTRUMENTS_PER_CONNECTION, SEGMENT_BY_NAME, RequestCode
from feed.protocol.requests import parse_request
from feed.sim.connection import Recorder, SimConnection
from feed.sim.feeds import DepthFeed
from feed.sim.server import SimServer
from shared.errors import ConfigError
from shared.logs import get_logger
from shared.settings import ENV_FIELDS, Settings

__all__ = ["ReplayServer", "journal_start"]

WRITE_HIGH_BYTES = 1 << 20  # wait for a client's socket to drain below this before writing more
FLUSH_EVERY_FRAMES = 512
_PACE_SLACK_S = 0.002
_CODE_PREV_CLOSE = 6
_CODE_STATUS = 7
_CODE_DISCONNECT = 50
_VALUES_RE = re.compile(r"'[^']*'|\"[^\"]*\"|\d+")


def journal_start(paths: Sequence[Path]) -> tuple[float, dict[str, Any]]:
    """(receive time of the first frame, the first file's header); ConfigError when there is no frame."""
    header: dict[str, Any] = {}
    damaged = 0
    for path in paths:
        reader = JournalReader(path)
        for block in reader.blocks():
            if block.kind == KIND_FRAMES:
                return block.first_ts, header
            if not header and block.meta is not None:
                header = block.meta
        damaged += reader.stats.corrupt_blocks
    skipped = f" ({damaged} damaged block(s) skipped)" if damaged else ""
    raise ConfigError(f"no frames in {', '.join(str(p) for p in paths)}{skipped}: nothing to replay")


def _listing_settings(settings: Settings, header: dict[str, Any], source: Path) -> Settings:
    """``settings`` with the simulator settings the journal recorded (its listing as of the recording),
    validated as DHAN_* values are: a header asking for 3,000,000 strikes is refused, not built."""
    recorded = header.get("sim")
    if not isinstance(recorded, dict):
        return settings
    update = {k: v for k, v in recorded.items() if k in SIM_LISTING_SETTINGS}
    try:
        return settings.replaced(**update)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(str(p) for p in first.get("loc", ()))
        name = next((n for n in update if (ENV_FIELDS[n].section, ENV_FIELDS[n].attr) == loc[:2]), "sim")
        shown = repr(update.get(name, ""))[:40]
        raise ConfigError(f"{source}: the journal's header records an invalid simulator setting {name}="
                          f"{shown} ({first.get('msg', 'invalid')})") from None


class ReplayServer(SimServer):
    """Serves journal frames instead of the market model (see the module docstring)."""

    def __init__(
        self, settings: Settings, paths: Sequence[str | Path], *, speed: float | None = 1.0,
        host: str | None = None, port: int | None = None, start_quiet_s: float = 0.3,
        instruments_text: str | None = None, recorder: Recorder | None = None,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ConfigError("--speed must be above 0, or max")
        self.paths = [Path(p) for p in paths]
        self.first_ts, self.header = journal_start(self.paths)
        self.speed = speed
        self.start_quiet_s = start_quiet_s
        self.instruments_text = instruments_text
        self.journal_ts = self.first_ts  # receive time of the frame replayed last
        self.finished = asyncio.Event()
        self.started = False
        self.frames_read = 0
        self.frames_routed = 0
        self.unrouted = 0
        self.disconnects_skipped = 0
        self.bad_requests = 0
        self.corrupt_blocks = 0  # damaged journal blocks skipped (the reader resynchronises past them)
        self._subscribers: dict[tuple[int, int], set[SimConnection]] = {}
        self._prev_close: dict[tuple[int, int], bytes] = {}
        self._last_request_at: float | None = None
        self.depth = DepthRouter(get_logger("replay"))
        super().__init__(_listing_settings(settings, self.header, self.paths[0]), clock=self._journal_clock,
                         recorder=recorder, host=host, port=port)

    def _journal_clock(self) -> float:
        return self.journal_ts

    # --- requests: the simulator's rules, subscriptions kept in an index for routing ---
    def _on_request(self, conn: SimConnection, text: str) -> bool:
        self._last_request_at = time.monotonic()
        try:
            req = parse_request(text)
        except ValueError as exc:  # RequestError, or anything else the parser lets through
            self.bad_requests += 1
            if conn.report_once("bad:" + _VALUES_RE.sub("#", str(exc))[:60]):  # once per kind, not per value
                self.log.warning("request_ignored", conn=conn.conn_id, why=str(exc)[:200])
            return False
        if req.code == RequestCode.DISCONNECT:
            return True
        mode = req.mode
        if mode is None:
            return False
        replies: list[bytes] = []
        for seg_name, sid in req.instruments:
            key = (SEGMENT_BY_NAME[seg_name], sid)
            if req.is_subscribe:
                if key not in conn.subs and len(conn.subs) >= MAX_INSTRUMENTS_PER_CONNECTION:
                    if conn.report_once("limit"):
                        self.log.warning("subscription_limit", conn=conn.conn_id,
                                         limit=MAX_INSTRUMENTS_PER_CONNECTION)
                    continue
                conn.subs[key] = 0
                self._subscribers.setdefault(key, set()).add(conn)
                prev = self._prev_close.get(key)
                if prev is not None and self.started:
                    replies.append(prev)
            elif conn.subs.pop(key, None) is not None:
                self._subscribers.get(key, set()).discard(conn)
        if replies:
            self.sent_count += conn.write_now(replies, self.recorder)
        return False

    def _forget(self, conn: SimConnection) -> None:
        for key in conn.subs:
            self._subscribers.get(key, set()).discard(conn)
        self.depth.forget(conn)
        super()._forget(conn)

    def _depth_handler(self, depth: DepthFeed) -> Callable[[web.Request], Any]:
        """The depth feeds' requests go to the router (the recording's books, not the market model's)."""
        levels = depth.levels

        def on_request(conn: SimConnection, text: str) -> bool:
            self._last_request_at = time.monotonic()
            return self.depth.on_request(conn, text, levels)

        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, depth.name, on_request)
        return handle

    # --- the replay loop (replaces the simulator's update loop) ---
    async def _emit_routine(self) -> None:
        # polled: "no request for start_quiet_s" is a quiet period, not an event
        while self._last_request_at is None or time.monotonic() - self._last_request_at < self.start_quiet_s:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        self.started = True
        self.depth.snapshots = True
        t0, speed, first = time.monotonic(), self.speed, self.first_ts
        self.log.info("replay_started", journals=[str(p) for p in self.paths], speed=speed or "max",
                      clients=len(self._conns), instruments=len(self._subscribers))
        n = 0
        route, route_depth = self._route, self.depth.route
        for path in self.paths:
            # the live feed's frames and the depth feeds' merged in receive-time order (replay_depth.timeline)
            for ts, levels, frame in timeline(self._blocks(path)):
                if speed is not None:
                    delay = t0 + (ts - first) / speed - time.monotonic()
                    if delay > _PACE_SLACK_S:
                        await self._flush_waiting()
                        await asyncio.sleep(delay)
                self.journal_ts = ts
                if levels:
                    route_depth(levels, frame)
                else:
                    route(frame)
                n += 1
                if n % FLUSH_EVERY_FRAMES == 0:
                    await self._flush_waiting()
        await self._flush_waiting()
        self.frames_read = n - self.depth.frames_read  # the live feed's frames
        self.finished.set()
        self.log.info("replay_finished", frames=n, routed=self.frames_routed, unrouted=self.unrouted,
                      corrupt_blocks=self.corrupt_blocks, elapsed_s=round(time.monotonic() - t0, 3))
        await asyncio.Event().wait()  # stay up (the service decides when to stop)

    def _blocks(self, path: Path) -> Iterator[Block]:
        """The blocks of one journal; damage before a block counted and logged, then passed."""
        reader = JournalReader(path)
        skipped = 0
        for block in reader.blocks():
            if reader.stats.corrupt_blocks > skipped:
                self.corrupt_blocks += reader.stats.corrupt_blocks - skipped
                skipped = reader.stats.corrupt_blocks
                self.log.warning("journal_block_skipped", path=str(path), corrupt_blocks=skipped,
                                 before_offset=block.offset)
            yield block

    def _route(self, frame: bytes) -> None:
        if len(frame) < 8:
            targets: Any = [c for c in self._conns.values() if c.subs and c.feed == "main"]
        else:
            code = frame[0]
            if code == _CODE_DISCONNECT:
                self.disconnects_skipped += 1
                return
            if code == _CODE_STATUS:  # to the live feed's connections (not the depth sockets)
                targets = [c for c in self._conns.values() if c.subs and c.feed == "main"]
            else:
                key = (frame[3], int.from_bytes(frame[4:8], "little"))
                if code == _CODE_PREV_CLOSE:
                    self._prev_close[key] = frame
                targets = self._subscribers.get(key)
        if not targets:
            self.unrouted += 1
            return
        self.frames_routed += 1
        for conn in targets:
            conn.out.append(frame)

    async def _flush_waiting(self) -> None:
        """Write what is pending, waiting (not dropping) while a client's socket is backed up."""
        for conn in list(self._conns.values()):
            if not conn.out:
                continue
            transport = conn.transport
            # polled: the transport offers no public awaitable for "drained below a mark"
            while (not conn.closing and transport is not None and not transport.is_closing()  # noqa: ASYNC110
                   and transport.get_write_buffer_size() > WRITE_HIGH_BYTES):
                await asyncio.sleep(0.001)
            self.sent_count += conn.flush(self.recorder)
        await asyncio.sleep(0)

    async def drained(self) -> None:
        """Wait until every client's socket has taken all that was written."""
        def pending(c: SimConnection) -> int:
            t = c.transport
            return 0 if t is None or t.is_closing() else int(t.get_write_buffer_size())

        while any(pending(c) for c in self._conns.values()):  # noqa: ASYNC110 (see _flush_waiting)
            await asyncio.sleep(0.01)

    # --- HTTP ---
    async def _handle_compact(self, request: web.Request) -> web.Response:
        if self.instruments_text is not None:
            return web.Response(text=self.instruments_text, content_type="text/csv", charset="utf-8")
        return await super()._handle_compact(request)

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        out.update({
            "replay_started": self.started, "replay_finished": self.finished.is_set(),
            "speed": self.speed or "max",
            "journal_ts": self.journal_ts, "frames_routed": self.frames_routed, "unrouted": self.unrouted,
            "disconnects_skipped": self.disconnects_skipped, "bad_requests": self.bad_requests,
            "corrupt_blocks": self.corrupt_blocks, **self.depth.stats(),
        })
        return out
