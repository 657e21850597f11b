"""The simulator's server: Dhan's v2 live feed at ``/``, the 20- and 200-level depth feeds at ``/twentydepth``
and ``/twohundreddepth``, the scrip masters over HTTP.

Wire behaviour follows Dhan: query authentication (``?version=2&token=..&clientId=..&authType=2`` on the live
feed, ``?token=..&clientId=..&authType=2`` on the depth feeds); a refused connection receives the disconnect
packet (code 50, in its feed's layout) with the reason (805 too many connections, 807 token expired, 808 client
id, 809 authentication) and is closed. Requests and what they get: :mod:`feed.sim.feeds` (snapshots on
subscribe). Updates follow in the subscribed mode (ticker: code 2; quote: code 4, plus code 5 when the OI of a
derivative changes; full: code 8; index values: code 2 in every mode; depth: a bid packet and an ask packet).

Connections: Dhan allows 5 WebSocket connections per user across the live and the depth feeds. What Dhan does
with a sixth is not documented beyond reason 805 ("too many WebSocket connections"; some integrators report
that the oldest connection is the one cut): the simulator refuses the sixth with 805 and leaves the five open,
which a client can tell apart from its own connections failing.

``async with SimServer(settings) as sim:`` runs it in-process (``sim.url``, ``sim.depth_url(20)``,
``sim.port``, ``await sim.inject_fault(...)``, ``sim.sent_count``, and an optional ``recorder`` called with
every live-feed packet written). Time comes from an injectable clock, so tests drive the market
deterministically; ``DHAN_SIM_MARKET_HOURS`` makes it follow the exchanges' sessions (:mod:`feed.sim.hours`).
Who may inject faults, and why web pages of other origins are refused: :mod:`feed.sim.guard`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from datetime import time as dtime
from types import TracebackType
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from feed.protocol.constants import DISCONNECT_REASONS, MAX_CONNECTIONS
from feed.protocol.requests import MAX_REQUEST_BYTES
from feed.sim.connection import Recorder, SimConnection
from feed.sim.faults import Fault, FaultError, disconnect_packet, in_scope, malformed_message, parse_fault
from feed.sim.feeds import DepthFeed, MainFeed
from feed.sim.guard import OriginGuard, check_fault_settings, fault_refusal, own_origins, same_secret
from feed.sim.hostile import hostile_burst, hostile_depth_burst
from feed.sim.market import Market
from feed.sim.scrip_master import render_compact, render_detailed
from shared.clock import IST, Clock, system_clock, to_dhan_epoch
from shared.errors import ConfigError
from shared.logs import get_logger
from shared.settings import Settings

__all__ = ["SimServer", "session_clock"]

PING_INTERVAL_S = 10.0  # Dhan pings its clients; aiohttp closes a client that stops answering
CLOSE_TIMEOUT_S = 3.0
_MAX_CATCHUP_S = 1.0  # after a pause (or a big clock step) at most this much time is made up
_MAX_UPDATES_PER_TURN = 5000
_LIVE_TURN_S = 0.05
# Larger than any valid request (MAX_REQUEST_BYTES) so an oversized one is logged and ignored like other bad
# frames; only beyond this does aiohttp close the socket (1009).
_MAX_CLIENT_MESSAGE_BYTES = 16 * MAX_REQUEST_BYTES
_USAGE = {
    "main": "dhan sim: WebSocket feed here; connect with ?version=2&token=<token>&clientId=<id>&authType=2\n",
    "twentydepth": "dhan sim: 20-level depth feed here; connect with ?token=<token>&clientId=<id>&authType=2\n",
    "twohundreddepth": "dhan sim: 200-level depth feed here; connect with ?token=<token>&clientId=<id>&authType=2\n",
}
RequestHandler = Callable[[SimConnection, str], bool]


def session_clock(settings: Settings, base: Clock = system_clock) -> Clock:
    """The simulator's clock: the real one (``wall``), or one whose day starts at 09:15 IST now (``open``)."""
    if settings.sim.session_clock == "wall":
        return base
    start = base()
    today = datetime.fromtimestamp(start, IST).date()
    offset = datetime.combine(today, dtime(9, 15), tzinfo=IST).timestamp() - start
    return lambda: base() + offset


class SimServer:
    """Dhan-protocol exchange simulator (start/stop or ``async with``)."""

    def __init__(
        self, settings: Settings, *, clock: Clock | None = None, recorder: Recorder | None = None,
        seed: int | None = None, rate: float | None = None, host: str | None = None, port: int | None = None,
        turn_s: float | None = None,
    ) -> None:
        check_fault_settings(settings)
        self.settings = settings
        self.host = host or settings.sim.host
        self.port = settings.sim.port if port is None else port
        self.rate = settings.sim.rate if rate is None else rate  # 0: each instrument at its live rate
        self.seed = settings.sim.seed if seed is None else seed
        self.clock = clock or session_clock(settings)
        self.recorder = recorder
        self.log = get_logger("sim")
        self.market: Market | None = None
        self.sent_count = 0
        self.updates_count = 0
        self.refused: Counter[int] = Counter()
        self.bad_requests = 0
        self.faults_refused = 0
        self.hostile_sent: Counter[str] = Counter()  # bad values sent by the hostile fault, by kind
        self.emitter: asyncio.Task[None] | None = None
        self.main_feed = MainFeed(self)
        self.depth_feeds = {levels: DepthFeed(self, levels) for levels in (20, 200)}
        self._conns: dict[int, SimConnection] = {}
        self._next_conn_id = 1
        self._tokens_expired = False
        self._runner: web.AppRunner | None = None
        self._stopping = False  # stop() began: a new client is turned away
        self._fault_rng = random.Random(self.seed)
        self.origin_guard = OriginGuard(self.log)
        # one turn generates and sends what its time is worth; turn_s: a fixed turn (benchmarks: 0.005 sends a
        # quiet market's updates nearly one by one rather than in 50 ms bursts)
        self._turn_s = turn_s or (
            _LIVE_TURN_S if self.rate <= 0 else max(0.001, min(_LIVE_TURN_S, 100.0 / self.rate)))

    # --- lifecycle ---
    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/"

    def depth_url(self, levels: int) -> str:
        return f"ws://{self.host}:{self.port}/{self.depth_feeds[levels].name}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._stopping = False
        self.market = Market(self.settings, self.clock(), seed=self.seed)
        app = web.Application(middlewares=[self.origin_guard.middleware])
        app.router.add_get("/", self._handle_ws)
        for depth in self.depth_feeds.values():
            app.router.add_get(f"/{depth.name}", self._depth_handler(depth))
        app.router.add_get("/api-scrip-master.csv", self._handle_compact)
        app.router.add_get("/api-scrip-master-detailed.csv", self._handle_detailed)
        app.router.add_get("/health", self._handle_health)
        app.router.add_post("/fault", self._handle_fault)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port, reuse_address=True).start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                f"simulator cannot listen on {self.host}:{self.port} ({exc.strerror}); "
                "set DHAN_SIM_PORT or --port"
            ) from None
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self.origin_guard.origins = own_origins(self.host, self.port)
        self.emitter = asyncio.create_task(self._emit_routine(), name="sim.emitter")
        self.emitter.add_done_callback(self._on_emitter_done)
        self.log.info("sim_listening", url=self.url, instruments=len(self.market.instruments),
                      rate=self.rate or "live", market_hours=not self.market.hours.always_open, seed=self.seed,
                      faults=self.settings.sim.faults)

    async def stop(self) -> None:
        """Stop listening, stop sending, close every client with 1001 going-away. Safe to call twice.

        Listening stops first, and a client whose handshake was already under way is closed at once: a feed
        reconnects straight after a good session, and a connection left open here would hold up the
        runner's cleanup (aiohttp waits for open handlers) until the feed's stall watchdog gave up."""
        self._stopping = True
        if self._runner is not None:
            for site in list(self._runner.sites):
                await site.stop()
        if self.emitter is not None:
            self.emitter.cancel()
            await asyncio.gather(self.emitter, return_exceptions=True)
            self.emitter = None
        closing = [asyncio.create_task(self._close(c, WSCloseCode.GOING_AWAY), name=f"sim.close.{c.conn_id}")
                   for c in list(self._conns.values())]
        if closing:
            _, pending = await asyncio.wait(closing, timeout=CLOSE_TIMEOUT_S + 1.0)
            for task in pending:
                self.log.warning("close_deadline_exceeded", task=task.get_name())
                task.cancel()
            await asyncio.gather(*closing, return_exceptions=True)
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
            self.log.info("sim_stopped", sent=self.sent_count, updates=self.updates_count)

    # --- the update loop ---
    def _on_emitter_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self.log.error("emitter_failed", error=f"{type(exc).__name__}: {exc}", exc_info=exc)

    async def _emit_routine(self) -> None:
        market, clock = self.market, self.clock
        assert market is not None
        last = market.now  # the time the market was built at: a clock that moved since counts from there
        carry = 0.0
        while True:
            now = clock()
            dt = now - last
            if dt > 0.0:
                last = now
                market.advance(now)
                total = self.rate if self.rate > 0 else market.live_rate()
                if market.active_count and total > 0.0:
                    want = carry + total * market.rate_multiplier() * min(dt, _MAX_CATCHUP_S)
                    n = int(want)
                    if n > _MAX_UPDATES_PER_TURN:  # cannot keep up: drop the backlog rather than pile it up
                        n, carry = _MAX_UPDATES_PER_TURN, 0.0
                    else:
                        carry = want - n
                    self.updates_count += market.generate(n)
                else:
                    carry = 0.0
            self._flush_all()
            await asyncio.sleep(self._turn_s)

    def _flush_all(self) -> None:
        recorder = self.recorder
        for conn in self._conns.values():
            if conn.out:
                self.sent_count += conn.flush(recorder)

    # --- WebSockets ---
    def _auth_failure(self, query: Mapping[str, str]) -> int | None:
        if not query.get("clientId", "").strip():
            return 808
        token = query.get("token", "")
        expected = self.settings.sim.token
        if expected is not None and not same_secret(token, expected.get_secret_value()):
            return 809
        if self._tokens_expired:
            return 807
        # one budget across the live and the depth feeds, as Dhan counts connections per user
        if sum(1 for c in self._conns.values() if c.token == token and not c.closing) >= MAX_CONNECTIONS:
            return 805
        return None

    async def _handle_ws(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "main", self._on_request)

    def _on_request(self, conn: SimConnection, text: str) -> bool:
        """Apply one JSON request of the live feed; True when the client asked to disconnect (code 12)."""
        return self.main_feed.on_request(conn, text)

    def _depth_handler(self, depth: DepthFeed) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, depth.name, depth.on_request)
        return handle

    async def _serve(self, request: web.Request, feed: str, on_request: RequestHandler) -> web.StreamResponse:
        """One client WebSocket of ``feed`` from the handshake to its close."""
        ws = web.WebSocketResponse(
            compress=False, heartbeat=PING_INTERVAL_S, max_msg_size=_MAX_CLIENT_MESSAGE_BYTES,
            timeout=CLOSE_TIMEOUT_S,
        )
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text=_USAGE[feed])
        await ws.prepare(request)
        if self._stopping:  # accepted in the race with stop(): nothing will ever be sent
            await ws.close(code=WSCloseCode.GOING_AWAY)
            return ws
        reason = self._auth_failure(request.query)
        if reason is not None:
            self.refused[reason] += 1
            why = DISCONNECT_REASONS.get(reason, "unknown")
            self.log.warning("connection_refused", feed=feed, reason=reason, why=why)
            await ws.send_bytes(disconnect_packet(feed, reason))
            await ws.close()
            return ws
        conn = SimConnection(self._next_conn_id, ws, request.transport, request.query.get("token", ""), feed)
        self._next_conn_id += 1
        self._conns[conn.conn_id] = conn
        self.log.info("connection_opened", conn=conn.conn_id, feed=feed, clients=len(self._conns))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    if on_request(conn, msg.data):
                        await ws.close()
                        break
                else:  # the official client follows its JSON disconnect with a binary v1 header: ignored
                    self.bad_requests += 1
                    if conn.report_once("binary"):
                        self.log.warning("request_ignored", conn=conn.conn_id, why="binary frame from client")
        finally:
            self._forget(conn)
            self.log.info("connection_closed", **conn.summary(), close_code=ws.close_code)
        return ws

    def _forget(self, conn: SimConnection) -> None:
        conn.closing = True
        self._conns.pop(conn.conn_id, None)
        market = self.market
        if market is not None:
            for key in conn.subs:
                inst = market.lookup(*key)
                if inst is not None:
                    market.unsubscribe(inst, conn)
        conn.subs.clear()

    async def _close(self, conn: SimConnection, code: int = WSCloseCode.OK) -> None:
        conn.closing = True
        try:
            await asyncio.wait_for(conn.ws.close(code=code), CLOSE_TIMEOUT_S)
        except (TimeoutError, ConnectionError):
            conn.abort()

    # --- faults ---
    async def inject_fault(
        self, kind: str, *, code: int = 807, seconds: float = 5.0, variant: str = "truncated",
        conn: int | None = None, count: int = 1, feed: str = "all",
    ) -> int:
        """Apply a fault (see :mod:`feed.sim.faults`) now; returns how many connections it touched."""
        fault = parse_fault({"kind": kind, "code": str(code), "seconds": str(seconds), "variant": variant,
                             "count": str(count), "feed": feed, **({"conn": str(conn)} if conn is not None else {})})
        return await self._apply(fault)

    async def _apply(self, fault: Fault) -> int:
        self.log.warning("fault_injected", kind=fault.kind, code=fault.code, seconds=fault.seconds,
                         variant=fault.variant, conn=fault.conn, count=fault.count, feed=fault.feed)
        if fault.kind == "clear":
            self._tokens_expired = False
            for c in self._conns.values():
                c.stalled_until = 0.0
            return len(self._conns)
        if fault.kind == "expire":  # the token expires for every feed
            self._tokens_expired = True
            fault = Fault("disconnect", 807, conn=fault.conn)
        targets = [c for c in self._conns.values() if in_scope(fault, c.conn_id, c.feed) and not c.closing]
        for c in targets:
            if fault.kind == "drop":
                c.abort()
            elif fault.kind == "stall":
                c.out.clear()
                c.stalled_until = time.monotonic() + fault.seconds
            elif fault.kind == "malformed":
                self.sent_count += c.write_now([malformed_message(fault.variant, self._fault_rng, c.feed)])
            elif fault.kind == "hostile":
                self.sent_count += c.write_now(self._hostile(c, fault.count))
            elif fault.kind == "disconnect":
                self.sent_count += c.write_now([disconnect_packet(c.feed, fault.code)], self.recorder)
        if fault.kind == "disconnect" and targets:
            await asyncio.gather(*(self._close(c) for c in targets))
        return len(targets)

    def _hostile(self, conn: SimConnection, count: int) -> list[bytes]:
        """The hostile burst for ``conn`` (not recorded: the recorder sees what the market made)."""
        if conn.feed == "main":
            packets, kinds = hostile_burst(self.market, conn.subs, count, to_dhan_epoch(self.clock()))
        else:
            levels = 20 if conn.feed == "twentydepth" else 200
            packets, kinds = hostile_depth_burst(self.market, conn.subs, count, levels)
        self.hostile_sent.update(kinds)
        return packets
    # --- HTTP ---
    async def _handle_fault(self, request: web.Request) -> web.Response:
        why = fault_refusal(self.settings, request.query)
        if why is not None:
            self.faults_refused += 1
            if self.faults_refused == 1 or self.faults_refused % 1000 == 0:  # a flood logs a line per 1000
                self.log.warning("fault_refused", why=why, count=self.faults_refused)
            return web.json_response({"error": why}, status=403)
        try:
            fault = parse_fault(request.query)
        except FaultError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        touched = await self._apply(fault)
        extra = {"hostile_sent": dict(self.hostile_sent)} if fault.kind == "hostile" else {}
        return web.json_response({"kind": fault.kind, "connections": touched, **extra})

    async def _handle_compact(self, request: web.Request) -> web.Response:
        assert self.market is not None
        text = render_compact(self.market.reference, self.market.contracts, self.clock())
        return web.Response(text=text, content_type="text/csv", charset="utf-8")

    async def _handle_detailed(self, request: web.Request) -> web.Response:
        assert self.market is not None
        text = render_detailed(self.market.reference, self.market.contracts, self.clock())
        return web.Response(text=text, content_type="text/csv", charset="utf-8")

    async def _handle_health(self, request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(self.stats()), content_type="application/json")

    def stats(self) -> dict[str, Any]:
        market = self.market
        return {
            "status": "ok" if self.emitter is not None and not self.emitter.done() else "stopped",
            "connections": len(self._conns),
            "subscribed": market.active_count if market is not None else 0,
            "subscriptions": sum(len(c.subs) for c in self._conns.values()),
            "sent": self.sent_count,
            "updates": self.updates_count,
            "rate": self.rate, "live_rate": round(market.rate_now, 2) if market is not None else 0.0,
            "session": dict(market.session) if market is not None else {},
            "seed": self.seed,
            "tokens_expired": self._tokens_expired,
            "refused": {str(k): v for k, v in self.refused.items()},
            "bad_requests": self.bad_requests,
            "faults": self.settings.sim.faults, "faults_refused": self.faults_refused,
            "foreign_origin_refused": self.origin_guard.refused,
            "hostile_sent": dict(self.hostile_sent),
            "clients": [c.summary() for c in self._conns.values()],
        }
