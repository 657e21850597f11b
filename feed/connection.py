"""One Dhan market-feed WebSocket: connect, subscribe its shard, read frames, reconnect with backoff.

The connection owns no decoding: every binary frame goes to ``on_frame(frame, recv_ts)`` synchronously, so
reading the socket never waits on anything downstream. It knows its desired subscriptions through the
``ShardPlan`` and replays them after every reconnect. Dhan's disconnect packet (code 50) is read here for
its reason: auth-class reasons (806-809) stop the feed with a one-line :class:`AuthError`; others reconnect.

Reconnect policy: the first retry after a good session (data for ``GOOD_SESSION_S``) is immediate, then
exponential backoff with jitter (capped), forever; a connection that drops again sooner keeps backing off.
A stall watchdog (socket open, no frame for ``stall_timeout_s``) forces a reconnect while the market is
open (always against the simulator).

Only socket trouble reconnects. An exception from ``on_frame`` (the feed's own processing, even an
``OSError`` such as a full disk) is :class:`FrameSinkError` and one from the watchdog is raised as is: both
end :meth:`DhanConnection.run`, whose owner stops the feed loudly, instead of a reconnect on every frame.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Any

import aiohttp

from feed.protocol.constants import DISCONNECT_REASONS, FATAL_DISCONNECT_REASONS
from feed.protocol.requests import Instrument, build_disconnect, build_requests
from feed.subscriptions import ShardPlan
from shared.backoff import backoff_s
from shared.calendar import TradingCalendar, default_calendar, session_exchanges
from shared.clock import Clock, system_clock
from shared.errors import AuthError
from shared.logs import clip, get_logger
from shared.settings import Settings, mask_url

__all__ = ["DhanConnection", "FrameSinkError"]

FrameSink = Callable[[bytes, float], None]
EventSink = Callable[[dict[str, Any]], None]
_REASON = struct.Struct("<H")
YIELD_EVERY_FRAMES = 200
GOOD_SESSION_S = 10.0  # a connection that delivered data for this long resets the reconnect backoff


class FrameSinkError(Exception):
    """``on_frame`` raised: the fault is in what consumes the frames, not in the socket (never a reconnect)."""


class DhanConnection:
    """A supervised WebSocket to Dhan (or the simulator) carrying shard ``index`` of the plan.

    The class attributes describe the wire of the live feed; :class:`feed.fulldepth.connection.DepthConnection`
    sets those of the depth feeds (another URL, request and disconnect layout, event names)."""

    FEED = "main"  # in logs (and, on other feeds, in the lifecycle events)
    EVENT_PREFIX = ""  # "connected" / "disconnected" here: the gap ledger's feed-wide gaps
    DISCONNECT_CODE_AT = 0  # offset of the response code that is 50 in a disconnect packet
    DISCONNECT_BYTES = 10  # and the least bytes such a packet has
    REASON: struct.Struct = _REASON  # its reason code, at offset 8
    EXCHANGES: tuple[str, ...] = ()  # whose sessions the watchdog follows; () the settings' (NSE, MCX if on)

    def __init__(
        self, index: int, settings: Settings, plan: ShardPlan, on_frame: FrameSink, *,
        on_event: EventSink | None = None, clock: Clock = system_clock, calendar: TradingCalendar | None = None,
    ) -> None:
        self.index = index
        self.settings = settings
        self.plan = plan
        self.on_frame = on_frame
        self.on_event = on_event or (lambda e: None)
        self.clock = clock
        self.calendar = calendar or default_calendar()  # market hours for the stall watchdog
        self._extra: dict[str, Any] = {} if self.FEED == "main" else {"feed": self.FEED}
        self.log = get_logger("feed.connection").bind(conn=index, **self._extra)
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._session: aiohttp.ClientSession | None = None
        self.connected = asyncio.Event()
        self.attempt = 0
        self.reconnects = 0
        self.frames = 0
        self.last_frame_at = 0.0
        self.last_reason: int | None = None
        self.fatal: AuthError | None = None
        self._got_data = False

    # --- url ---
    def credentials(self) -> tuple[str, str]:
        """(token, client id) for the URL's query."""
        s = self.settings
        if s.dhan.access_token is not None:
            token = s.dhan.access_token.get_secret_value()
        elif s.sim.token is not None:  # our own simulator guarded by DHAN_SIM_TOKEN
            token = s.sim.token.get_secret_value()
        else:
            token = "simulator"
        return token, s.dhan.client_id or "simulator"

    def url(self) -> str:
        token, client = self.credentials()
        base = self.settings.effective_feed_url
        sep = "&" if "?" in base else "?"
        return f"{base}{sep}version=2&token={token}&clientId={client}&authType=2"

    # --- subscriptions ---
    async def send(self, requests: dict[str, list[Instrument]], *, subscribe: bool) -> None:
        """Send (un)subscribe frames now if connected; if not, the plan replays them on connect."""
        ws = self._ws
        if ws is None or ws.closed:
            return
        for mode, keys in requests.items():
            for frame in build_requests(keys, mode, subscribe=subscribe):
                await ws.send_str(frame)

    async def _subscribe_all(self, ws: aiohttp.ClientWebSocketResponse) -> int:
        n = 0
        for mode, keys in self.plan.members(self.index).items():
            for frame in build_requests(keys, mode):
                await ws.send_str(frame)
            n += len(keys)
        return n

    # --- lifecycle ---
    def _watchdog_active(self) -> bool:
        """A silent socket is a stall only while data is expected: in session (holidays included), or always
        against a simulator that ignores market hours (its default, for demos)."""
        always_open_sim = self.settings.use_simulator and not self.settings.sim.market_hours
        if always_open_sim or not self.settings.feed.market_hours_only_watchdog:
            return True
        return self.calendar.in_session(self.clock(), self.EXCHANGES or session_exchanges(self.settings))

    async def run(self, stopping: asyncio.Event) -> None:
        timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_connect=10)
        self._session = aiohttp.ClientSession(timeout=timeout)
        try:
            while not stopping.is_set():
                delay = backoff_s(self.attempt, base_s=self.settings.feed.reconnect_base_s,
                                  cap_s=self.settings.feed.reconnect_cap_s)
                if delay:
                    self.log.info("reconnect_wait", attempt=self.attempt, delay_s=round(delay, 2))
                    try:
                        await asyncio.wait_for(stopping.wait(), delay)
                        break
                    except TimeoutError:
                        pass
                await self._session_once(stopping)
                if self.fatal is not None:
                    raise self.fatal
        finally:
            await self._session.close()

    async def _session_once(self, stopping: asyncio.Event) -> None:
        assert self._session is not None
        url = self.url()
        self.last_reason = None
        self._got_data = False
        cause = "closed"
        try:
            ws = await self._session.ws_connect(url, autoping=True, heartbeat=None, max_msg_size=1 << 20,
                                                compress=0)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self.attempt += 1
            # redacted before it is cut: a cut token would no longer be recognised (aiohttp's text holds the URL)
            self.log.warning("connect_failed", url=mask_url(url), attempt=self.attempt,
                             error=clip(exc) or type(exc).__name__)
            return
        self._ws = ws
        t_conn = self.clock()
        try:
            n = await self._subscribe_all(ws)
            self.connected.set()
            self.log.info("connected", url=mask_url(url), subscribed=n, reconnects=self.reconnects)
            self.on_event({"type": f"{self.EVENT_PREFIX}connected", "conn": self.index, "ts": t_conn,
                           "subscribed": n, **self._extra})
            # The read loop awaits nothing but the socket; stop and stall are watched by a guard task
            # that cancels it (a per-message asyncio.wait/timeout cost ~25% of the feed's CPU, measured).
            reader = asyncio.create_task(self._read_routine(ws), name=f"conn{self.index}.read")
            guard = asyncio.create_task(self._guard_routine(stopping, t_conn), name=f"conn{self.index}.guard")
            try:
                await asyncio.wait({reader, guard}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (reader, guard):
                    task.cancel()
                await asyncio.gather(reader, guard, return_exceptions=True)
            if guard.done() and not guard.cancelled():
                if guard.exception() is not None:
                    raise guard.exception()  # type: ignore[misc]
                cause = guard.result() or cause
            if cause == "closed" and reader.done() and not reader.cancelled():
                if reader.exception() is not None:
                    raise reader.exception()  # type: ignore[misc]
                cause = reader.result()
        except (aiohttp.ClientError, OSError, ConnectionError) as exc:
            cause = f"error: {clip(exc)}"
        finally:
            self.connected.clear()
            self._ws = None
            await self._close(ws, polite=(cause == "shutdown"))
        self._after_disconnect(cause, t_conn, self._got_data)

    async def _read_routine(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        """Hot loop: every binary frame to ``on_frame``; returns why the socket ended."""
        binary = aiohttp.WSMsgType.BINARY
        on_frame = self.on_frame
        clock = self.clock
        code_at, disconnect_bytes, reason_of = self.DISCONNECT_CODE_AT, self.DISCONNECT_BYTES, self.REASON.unpack_from
        since_yield = 0
        while True:
            msg = await ws.receive()
            since_yield += 1
            if since_yield >= YIELD_EVERY_FRAMES:
                # receive() does not suspend while frames are buffered: give the publisher its turn
                since_yield = 0
                await asyncio.sleep(0)
            if msg.type is binary:
                data = msg.data
                now = clock()
                self.frames += 1
                self.last_frame_at = now
                if not self._got_data:
                    self._got_data = True
                if len(data) >= disconnect_bytes and data[code_at] == 50:
                    self.last_reason = reason_of(data, 8)[0]
                try:
                    on_frame(data, now)
                except Exception as exc:
                    raise FrameSinkError(f"processing a frame failed: {type(exc).__name__}: {exc}") from exc
            elif msg.type is aiohttp.WSMsgType.TEXT:
                self.log.info("text_frame", text=str(msg.data)[:200])
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                return "server_closed"
            elif msg.type is aiohttp.WSMsgType.ERROR:
                return f"error: {clip(ws.exception())}"

    async def _guard_routine(self, stopping: asyncio.Event, t_conn: float) -> str:
        """Returns "shutdown" when asked to stop, "stall" when the socket went silent in market hours."""
        stall_s = self.settings.feed.stall_timeout_s
        tick_s = min(1.0, stall_s / 4)
        while True:
            try:
                await asyncio.wait_for(stopping.wait(), tick_s)
                return "shutdown"
            except TimeoutError:
                pass
            silent_s = self.clock() - max(self.last_frame_at, t_conn)
            if silent_s >= stall_s and self._watchdog_active():
                self.log.warning("stall_detected", silent_s=round(silent_s, 1))
                return "stall"

    def _after_disconnect(self, cause: str, t_conn: float, got_data: bool) -> None:
        reason = self.last_reason
        reason_text = DISCONNECT_REASONS.get(reason, "unknown disconnect code") if reason is not None else None
        now = self.clock()
        connected_s = round(now - t_conn, 3)
        event = {"type": f"{self.EVENT_PREFIX}disconnected", "conn": self.index, "ts": now, "cause": cause,
                 "reason_code": reason, "reason": reason_text, "connected_s": connected_s, **self._extra}
        self.on_event(event)
        if cause == "shutdown":
            self.log.info("disconnected", cause=cause)
            return
        self.reconnects += 1
        if reason in FATAL_DISCONNECT_REASONS:
            self.log.error("disconnected_fatal", reason_code=reason, reason=reason_text)
            self.fatal = AuthError(
                f"Dhan closed the {'' if self.FEED == 'main' else self.FEED + ' '}feed: {reason} {reason_text}; "
                "check DHAN_CLIENT_ID / DHAN_ACCESS_TOKEN "
                "(a new token is needed when it expired)"
            )
            return
        self.log.warning("disconnected", cause=cause, reason_code=reason, reason=reason_text,
                         connected_s=event["connected_s"])
        if got_data and connected_s >= GOOD_SESSION_S:
            self.attempt = 0  # after a good session the first retry is immediate
        else:
            self.attempt += 1  # a flapping or silent connection backs off instead of hammering
        if reason == 805 and self.attempt < 3:
            self.attempt = 3  # too many connections: do not hammer

    async def _close(self, ws: aiohttp.ClientWebSocketResponse, *, polite: bool) -> None:
        try:
            if polite and not ws.closed:
                await asyncio.wait_for(ws.send_str(build_disconnect()), 1.0)
            await asyncio.wait_for(ws.close(), 2.0)
        except (TimeoutError, aiohttp.ClientError, OSError, ConnectionError, RuntimeError):
            pass

    def metrics(self) -> dict[str, Any]:
        age = (self.clock() - self.last_frame_at) if self.last_frame_at else None
        return {
            f"conn{self.index}_up": int(self.connected.is_set()),
            f"conn{self.index}_reconnects": self.reconnects,
            f"conn{self.index}_last_frame_age_s": round(age, 3) if age is not None else "",
        }
