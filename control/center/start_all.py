"""Start All: the system from nothing to "all green", one checklist step at a time.

Redis reachable -> MySQL schema ready (created when missing) -> simulator answering (no Dhan token) ->
instrument master stored -> writer, feed, greeks, monitor, scheduler each running (a service that runs
elsewhere already is left alone) -> feed connected -> quotes flowing -> all green. While a service starts,
its step shows what its heartbeat says it is doing; one that makes no progress within its deadline is
marked ``stuck`` with that step, and the sequence goes on with the next.

:class:`StartAll` gets its collaborators from the Control Center's engine (the checklist it marks, the
supervisor, Redis, the keys) and sees the engine itself only as a :class:`ServiceView`: the service rows,
the latest snapshot, the refresh event and the one action it takes (start a service). It does not import
the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis

from control.center.catalog import Entry
from control.center.checklist import Checklist
from control.center.service_rows import ServiceRow
from control.monitor.snapshot import Snapshot
from control.stack.readiness import wait_ready
from control.stack.supervisor import Supervisor
from control.stack.up import load_instruments, prepare_database, wait_http
from shared.errors import DhanError
from shared.keys import Keys
from shared.logs import get_logger
from shared.settings import Settings

__all__ = ["SERVICE_DEADLINE_S", "ServiceView", "StartAll", "start_all_services"]

SERVICE_DEADLINE_S = 60.0
CONNECT_DEADLINE_S = 45.0
SIM_READY_S = 30.0
FRESH_S = 5.0
_WAKE_S = 2.0  # re-check at least this often when no refresh comes


class ServiceView(Protocol):
    """What Start All reads and does through the Control Center (``ControlCenter`` is one)."""

    @property
    def snapshot(self) -> Snapshot | None: ...

    @property
    def refreshed(self) -> asyncio.Event: ...  # set after each refresh of the rows and the snapshot

    def row(self, name: str) -> ServiceRow | None: ...

    def runs_elsewhere(self, name: str) -> bool: ...

    def is_local(self, name: str) -> bool: ...

    async def start_service(self, name: str) -> str: ...


def start_all_services(entries: Sequence[Entry]) -> list[str]:
    """The services Start All launches, in catalog order (the simulator is a step of its own)."""
    return [e.name for e in entries if e.in_start_all and e.name != "sim" and e.available]


def feed_connected(snap: Snapshot | None) -> bool:
    """Some feed's heartbeat says it has a connection up."""
    if snap is None:
        return False
    for _, hb in snap.by_name("feed"):
        try:
            if int(float(hb.get("connections_up", 0))) > 0:
                return True
        except ValueError:
            continue
    return False


def quotes_fresh(snap: Snapshot | None) -> bool:
    """The quotes stream's newest entry is younger than ``FRESH_S``."""
    if snap is None or "quotes" not in snap.streams:
        return False
    age = snap.streams["quotes"].age_s(snap.redis_now or snap.now)
    return age is not None and age < FRESH_S


@dataclass
class StartAll:
    view: ServiceView
    checklist: Checklist
    settings: Settings
    redis: aioredis.Redis
    keys: Keys
    supervisor: Supervisor

    async def run(self, services: Sequence[str]) -> str:
        """The whole checklist for ``services`` (see :func:`start_all_services`); its one-line summary."""
        t = self.checklist
        if t.running:
            return "Start All is already running"
        t.reset(self._steps(services))
        try:
            if not await self._prepare():
                return "Start All stopped: " + t.summary()
            for name in services:
                await self.start_service(name)
            await self._wait_for_data("feed" in services)
            self._judge(services)
        finally:
            t.finish()
        return t.summary()

    def _steps(self, services: Sequence[str]) -> list[tuple[str, str]]:
        steps = [("redis", "Redis reachable"), ("mysql", "MySQL schema ready")]
        if self.settings.use_simulator:
            steps.append(("sim", "Simulator answering"))
        steps.append(("instruments", "Instrument master stored"))
        steps += [(n, f"{n} running") for n in services]
        steps += [("connected", "Feed connected"), ("data", "Quotes flowing"), ("green", "All green")]
        return steps

    async def _until(self, ok: Callable[[], bool], deadline_s: float,
                     progress: Callable[[], None] | None = None) -> bool:
        end = time.monotonic() + deadline_s
        refreshed = self.view.refreshed
        while time.monotonic() < end:
            if ok():
                return True
            if progress is not None:
                progress()
            refreshed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(refreshed.wait(), _WAKE_S)
        return ok()

    async def _prepare(self) -> bool:
        """Redis, schema, simulator, instruments. False when a step failed (the sequence stops)."""
        t, s, log = self.checklist, self.settings, get_logger("start_all")
        t.begin("redis", s.redis.url_masked)
        try:
            await self.redis.ping()
            t.ok("redis", s.redis.url_masked)
            t.begin("mysql", s.mysql.target.masked)
            await prepare_database(s, log)
            t.ok("mysql", f"{s.mysql.target.masked}: schema ready")
            if s.use_simulator:
                await self._start_sim()
            t.begin("instruments", "fetching the scrip master")
            n = await load_instruments(s, log)
            t.ok("instruments", f"{n:,} instruments stored")
            return True
        except (DhanError, OSError, Exception) as exc:
            step = next((x for x in t.steps if x.status == "active"), None)
            if step is not None:
                t.fail(step.key, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
            return False

    async def _start_sim(self) -> None:
        s = self.settings
        self.checklist.begin("sim", "starting the simulator")
        if not self.view.runs_elsewhere("sim"):
            await self.view.start_service("sim")
            # its own heartbeat, not just an answer on the port: that may be another stack's simulator
            await wait_ready(self.supervisor, "sim", self.redis, self.keys, timeout_s=SIM_READY_S)
        await wait_http(f"http://{s.sim.host}:{s.sim.port}/health", SIM_READY_S)
        self.checklist.ok("sim", f"answering on {s.sim.host}:{s.sim.port}")

    async def start_service(self, name: str) -> None:
        """One service's step: launched here unless it runs elsewhere, then running, crashed or stuck."""
        t, view = self.checklist, self.view
        if view.runs_elsewhere(name):
            r = view.row(name)
            t.ok(name, f"already running at {r.where if r else 'elsewhere'}")
            return
        t.begin(name, "launching")
        await view.start_service(name)

        def state() -> str:
            r = view.row(name)
            return r.state if r is not None else ""

        def progress() -> None:
            r = view.row(name)
            if r is not None:
                t.progress(name, f"{r.state}: {r.step}" if r.step else r.state)

        if await self._until(lambda: state() in ("running", "crashed"), SERVICE_DEADLINE_S, progress):
            r = view.row(name)
            if state() == "running":
                t.ok(name, r.where if r else "")
            else:
                t.fail(name, f"crashed: {r.step if r else ''}")
            return
        r = view.row(name)
        t.stuck(name, f"stuck in step '{r.step or r.state}'" if r else "no heartbeat")

    async def _wait_for_data(self, with_feed: bool) -> None:
        t, view = self.checklist, self.view
        if not with_feed:
            t.skip("connected", "no feed")
            t.skip("data", "no feed")
            return
        t.begin("connected", "waiting for the feed's first connection")
        if await self._until(lambda: feed_connected(view.snapshot), CONNECT_DEADLINE_S):
            t.ok("connected")
        else:
            t.stuck("connected", "the feed has no connection up")
        t.begin("data", "waiting for quotes on the stream")
        if await self._until(lambda: quotes_fresh(view.snapshot), CONNECT_DEADLINE_S):
            t.ok("data", f"quotes younger than {FRESH_S:g}s")
        else:
            t.stuck("data", "no fresh quote on the stream")

    def _judge(self, services: Sequence[str]) -> None:
        """The last step: green when every service started here runs and no step failed or stuck."""
        t, view = self.checklist, self.view
        t.begin("green")
        started = [n for n in services if (r := view.row(n)) is not None and r.local]
        not_green = [n for n in started if (r := view.row(n)) is None or r.state != "running"]
        if not_green or any(x.status in ("failed", "stuck") for x in t.steps if x.key != "green"):
            t.fail("green", "not running: " + ", ".join(not_green) if not_green else "a step did not pass")
        else:
            n = len(started) + (1 if self.settings.use_simulator and view.is_local("sim") else 0)
            t.ok("green", f"{n} services running here")
