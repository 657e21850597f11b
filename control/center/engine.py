"""The Control Center's engine (Qt-free): supervision, status, actions; the window only draws it.

:class:`ControlCenter` owns a :class:`~control.stack.supervisor.Supervisor` for what it launches locally, and one
Redis connection pool for the readers: the snapshot collector (heartbeats, streams, Redis memory, MySQL), the
quotes watcher (Instruments tab), the logs tail and the alerts feed; the gap ledger (Gaps tab) is read
every few seconds on a MySQL connection of its own (:class:`~control.center.gaps_feed.GapFeed`). Every second it
rebuilds the service rows and evaluates the monitor's rules locally for the health verdict (the Alerts tab
shows what the monitor service raised). Listeners (the window) are called after each refresh.

Actions: a service launched here is started, stopped and restarted through the supervisor; a service seen
only through its heartbeat (another host, containers, ``dhan up``) gets ``stop``/``restart`` on
``dhan:control``. The Control Center also honours ``start`` on ``dhan:control`` (the scheduler's, in control
mode) for services it has run before and that run nowhere now. Closing it stops what it launched.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from control.center.alerts_feed import AlertFeed
from control.center.catalog import STOP_ORDER, Entry, catalog, child_spec
from control.center.checklist import Checklist
from control.center.gaps_feed import GapFeed
from control.center.logs_tail import LogTail
from control.center.service_rows import ProcessFigures, ServiceRow, build_rows, exit_text
from control.center.start_all import StartAll, start_all_services
from control.monitor.quotes_seen import QuoteWatcher
from control.monitor.rules import Condition, Rules, Thresholds, market_open, verdict
from control.monitor.snapshot import Snapshot, SnapshotCollector, num
from control.stack.supervisor import ChildState, Supervisor
from shared.bus import connect_redis
from shared.calendar import TradingCalendar
from shared.clock import Clock, system_clock
from shared.control_channel import ControlCommand, ControlListener, publish_command
from shared.keys import Keys
from shared.logs import get_logger
from shared.settings import Settings
from shared.tasks import TaskOwner

__all__ = ["ControlCenter"]

REFRESH_S = 1.0
RATES_KEEP = 600      # refreshes of rate history (10 minutes)
FORGET_HEARTBEAT_S = 3600.0   # a vanished heartbeat is shown as stale this long, then forgotten
CLOSE_DEADLINE_S = 5.0


class ControlCenter:
    def __init__(self, settings: Settings, *, log_dir: Path = Path("var/log"), env_path: Path = Path(".env"),
                 child_env: dict[str, str] | None = None, stop_children_on_close: bool = True,
                 auto_restart: bool = True, clock: Clock = system_clock) -> None:
        self.settings = settings
        self.clock = clock  # "now" for market hours and today's gap ledger (tests pin it)
        self.keys = Keys(settings.redis.key_prefix)
        self.env_path = env_path
        self.log_dir = log_dir
        self.stop_children_on_close = stop_children_on_close
        self.log = get_logger("control")
        self.by = f"control@{socket.gethostname()}"  # who sends its commands and acknowledgements
        self.entries: list[Entry] = catalog(settings)
        # children outlive it only when told to keep running
        self.supervisor = Supervisor(log_dir, stop_timeout_s=max(10.0, 2 * settings.service.shutdown_deadline_s),
                                     on_change=self._on_child_change, bind_children=stop_children_on_close)
        for e in self.entries:
            self.supervisor.add(child_spec(e, child_env or {}, auto_restart=auto_restart))
        self.transitions: collections.deque[tuple[float, str, str, int | None]] = collections.deque(maxlen=500)
        # (time, feed messages/s, writer rows/s) per refresh, for the Monitor tab's chart
        self.rates: collections.deque[tuple[float, float, float]] = collections.deque(maxlen=RATES_KEEP)
        self.calendar = TradingCalendar.load(settings.scheduler.holidays_file)
        self.rules = Rules(Thresholds.from_settings(settings))
        self.figures = ProcessFigures()
        self.startup = Checklist()  # Start All's, drawn by the Services tab
        self.redis: aioredis.Redis | None = None
        self.collector: SnapshotCollector | None = None
        self.watcher: QuoteWatcher | None = None
        self.logs: LogTail | None = None
        self.alerts: AlertFeed | None = None
        self.gaps: GapFeed | None = None
        self.snapshot: Snapshot | None = None
        self.rows: list[ServiceRow] = []
        self.conditions: list[Condition] = []
        self.verdict: tuple[str, str] = ("unknown", "not checked yet")
        self.message = ""
        self.listeners: list[Callable[[], None]] = []
        self.stopping = asyncio.Event()
        self.refreshed = asyncio.Event()
        # a task that dies is logged and shown in the status line; the window stays up
        self.tasks = TaskOwner(self.log, prefix="control.", on_failure=self._task_died, quiet_when=self.stopping)
        self.control: ControlListener | None = None
        self._last_hb: dict[str, dict[str, str]] = {}

    # --- lifecycle ---
    async def start(self) -> None:
        self.redis = await connect_redis(self.settings)
        self.collector = SnapshotCollector(self.settings, self.redis, self.keys)
        self.watcher = QuoteWatcher(self.redis, self.keys)
        self.logs = LogTail(self.redis, self.keys)
        self.alerts = AlertFeed(self.redis, self.keys, by=self.by)
        self.gaps = GapFeed(self.settings, clock=self.clock)
        self.spawn(self.watcher.run(self.stopping), "quotes")
        self.spawn(self.logs.run(self.stopping), "logs")
        self.spawn(self.alerts.run(self.stopping), "alerts")
        self.spawn(self.gaps.run(self.stopping), "gaps")
        self.control = ControlListener(self.redis, self.keys, self._on_command, log=self.log)
        self.spawn(self.control.run(self.stopping), "control")
        self.spawn(self._refresh_routine(), "refresh")

    async def stop(self) -> None:
        self.stopping.set()
        if self.stop_children_on_close:
            await self.stop_local()
        await self.tasks.cancel_all(CLOSE_DEADLINE_S)
        if self.collector is not None:
            await self.collector.close()
        if self.gaps is not None:
            await self.gaps.close()
        if self.redis is not None:
            await self.redis.aclose()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        return self.tasks.spawn(coro, name)

    def _task_died(self, name: str, exc: BaseException) -> None:
        self.message = f"{name} failed: {exc}"

    def submit(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run a user action in the background (the window's buttons); its outcome lands in ``message``."""
        return self.spawn(coro, f"action.{name}")

    def _on_child_change(self, child: ChildState) -> None:
        """Every local state change (kept: a crash followed by a quick restart still shows)."""
        self.transitions.append((time.time(), child.spec.name, child.state, child.exit_code))
        if child.state == "crashed":
            self.message = f"{child.spec.name} crashed: {exit_text(child.exit_code, child.last_error)}"

    # --- status ---
    async def _refresh_routine(self) -> None:
        while not self.stopping.is_set():
            await self.refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), REFRESH_S)

    async def refresh(self) -> None:
        assert self.collector is not None and self.watcher is not None
        now = time.time()
        snap = await self.collector.collect(now)
        snap.market_open = market_open(self.calendar, self.clock(), self.settings)  # as the monitor counts it
        snap.last_seen = self.watcher.last_seen()
        self.snapshot = snap
        # A heartbeat that expired is remembered: a silent process shows as "stale heartbeat", not "stopped".
        for name, hb in snap.heartbeats.items():
            self._last_hb[name] = hb
        for name in [n for n, hb in self._last_hb.items()
                     if now - (num(hb.get("updated_at")) or 0.0) > FORGET_HEARTBEAT_S]:
            del self._last_hb[name]
        self.rows = build_rows(self.entries, self.supervisor.children, dict(self._last_hb), now,
                               self.settings.monitor.stale_s, self.figures)
        self.conditions = self.rules.evaluate(snap)
        self.verdict = verdict(self.conditions)
        self.rates.append((now, snap.sum_field("feed", "published_per_s") or 0.0,
                           snap.sum_field("writer", "entries_per_s") or 0.0))
        self.refreshed.set()
        for fn in list(self.listeners):
            fn()

    def row(self, name: str) -> ServiceRow | None:
        return next((r for r in self.rows if r.name == name), None)

    def entry(self, name: str) -> Entry:
        for e in self.entries:
            if e.name == name:
                return e
        raise KeyError(name)

    def child(self, name: str) -> ChildState | None:
        return self.supervisor.children.get(name.replace(" ", "-"))

    def is_local(self, name: str) -> bool:
        c = self.child(name)
        return c is not None and c.state in ("running", "stopping") and c.pid is not None

    def runs_elsewhere(self, name: str) -> bool:
        """A fresh, running heartbeat of ``name`` that is not a process of ours."""
        r = self.row(name)
        return r is not None and not r.local and r.state in ("running", "starting", "stale heartbeat")

    # --- actions ---
    async def publish_control(self, target: str, cmd: str) -> None:
        assert self.redis is not None
        await publish_command(self.redis, self.keys, target, cmd, by=self.by, now=time.time())

    async def start_service(self, name: str) -> str:
        e = self.entry(name)
        if not e.available:
            return self._say(f"{name}: not available in this build")
        if self.is_local(name):
            return self._say(f"{name} is already running here")
        if not e.is_window and self.runs_elsewhere(name):
            r = self.row(name)
            return self._say(f"{name} already runs at {r.where if r else '?'}: not starting a second copy")
        await self.supervisor.start(name.replace(" ", "-"))
        return self._say(f"{name} started")

    async def stop_service(self, name: str) -> str:
        if self.is_local(name):
            await self.supervisor.stop(name.replace(" ", "-"))
            return self._say(f"{name} stopped")
        if self.runs_elsewhere(name):
            await self.publish_control(name, "stop")
            return self._say(f"stop sent to {name} on dhan:control")
        c = self.child(name)
        if c is not None:
            c.want_running = False            # e.g. waiting for a restart after a crash: give up
        return self._say(f"{name} is not running")

    async def restart_service(self, name: str) -> str:
        if self.is_local(name):
            await self.supervisor.restart(name.replace(" ", "-"))
            return self._say(f"{name} restarted")
        if self.runs_elsewhere(name):
            await self.publish_control(name, "restart")
            return self._say(f"restart sent to {name} on dhan:control")
        return await self.start_service(name)

    async def start_all(self) -> str:
        assert self.redis is not None
        run = StartAll(self, self.startup, self.settings, self.redis, self.keys, self.supervisor)
        return self._say(await run.run(start_all_services(self.entries)))

    async def stop_all(self) -> str:
        """Stop every service: local ones through the supervisor, the others through dhan:control."""
        remote = [r.name for r in self.rows if r.kind == "service" and not r.local and self.runs_elsewhere(r.name)]
        for name in remote:
            await self.publish_control(name, "stop")
        await self.stop_local()
        return self._say("all stopped" + (f" (stop sent to {', '.join(remote)})" if remote else ""))

    async def stop_local(self) -> None:
        windows = [c for c in self.supervisor.children if c.startswith("viz-")]
        order = windows + [n for n in STOP_ORDER if n in self.supervisor.children]
        await self.supervisor.stop_all(order)

    async def apply_settings(self, new: Settings, services: list[str]) -> str:
        """After a new .env: restart the affected services that run (locally or elsewhere)."""
        self.settings = new
        done = []
        for name in services:
            if self.is_local(name) or self.runs_elsewhere(name):
                await self.restart_service(name)
                done.append(name)
        return self._say("settings saved; " + (f"restarted {', '.join(done)}" if done else
                                               "no running service affected"))

    def _say(self, text: str) -> str:
        self.message = text
        self.log.info("control_action", result=text)
        return text

    # --- dhan:control (the scheduler's start requests) ---
    async def _on_command(self, command: ControlCommand) -> None:
        if command.cmd != "start":
            return
        name = command.target
        c = self.child(name)
        if c is None or c.started_at is None or self.is_local(name) or self.runs_elsewhere(name):
            return                           # never run here, or already running: not ours to start
        self.log.info("control_start_honoured", service=name, by=command.by or None)
        await self.supervisor.start(name)
