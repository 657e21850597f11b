"""Start All: the system from nothing to "all green", one checklist step at a time.

Redis reachable -> MySQL schema ready (created when missing) -> simulator answering (no Dhan token) ->
instrument master stored -> writer, feed, greeks, monitor, scheduler each running (a service that runs
elsewhere already is left alone) -> feed connected -> quotes flowing -> all green. While a service starts,
its step shows what its heartbeat says it is doing; one that makes no progress within its deadline is
marked ``stuck`` with that step, and the sequence goes on with the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from shared.errors import DhanError
from shared.logs import get_logger

if TYPE_CHECKING:
    from control.center.engine import ControlCenter

__all__ = ["SERVICE_DEADLINE_S", "run_start_all"]

SERVICE_DEADLINE_S = 60.0
CONNECT_DEADLINE_S = 45.0
FRESH_S = 5.0


async def _until(cc: ControlCenter, ok: Callable[[], bool], deadline_s: float,
                 progress: Callable[[], None] | None = None) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if ok():
            return True
        if progress is not None:
            progress()
        cc.refreshed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(cc.refreshed.wait(), 2.0)
    return ok()


async def _prepare(cc: ControlCenter) -> bool:
    """Redis, schema, simulator, instruments. False when a step failed (the sequence stops)."""
    from control.stack.readiness import wait_ready
    from control.stack.up import load_instruments, prepare_database, wait_http

    t, s, log = cc.startup, cc.settings, get_logger("start_all")
    t.begin("redis", s.redis_url_masked)
    try:
        assert cc.redis is not None
        await cc.redis.ping()
        t.ok("redis", s.redis_url_masked)
        t.begin("mysql", s.mysql.masked)
        await prepare_database(s, log)
        t.ok("mysql", f"{s.mysql.masked}: schema ready")
        if s.use_simulator:
            t.begin("sim", "starting the simulator")
            if not cc.runs_elsewhere("sim"):
                await cc.start("sim")
                # its own heartbeat, not just an answer on the port: that may be another stack's simulator
                await wait_ready(cc.supervisor, "sim", cc.redis, cc.keys, timeout_s=30)
            await wait_http(f"http://{s.sim_host}:{s.sim_port}/health", 30)
            t.ok("sim", f"answering on {s.sim_host}:{s.sim_port}")
        t.begin("instruments", "fetching the scrip master")
        n = await load_instruments(s, log)
        t.ok("instruments", f"{n:,} instruments stored")
        return True
    except (DhanError, OSError, Exception) as exc:
        step = next((x for x in t.steps if x.status == "active"), None)
        if step is not None:
            t.fail(step.key, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
        return False


async def _start_service(cc: ControlCenter, name: str) -> None:
    t = cc.startup
    if cc.runs_elsewhere(name):
        r = cc.row(name)
        t.ok(name, f"already running at {r.where if r else 'elsewhere'}")
        return
    t.begin(name, "launching")
    await cc.start(name)

    def state() -> str:
        r = cc.row(name)
        return r.state if r is not None else ""

    def progress() -> None:
        r = cc.row(name)
        if r is not None:
            t.progress(name, f"{r.state}: {r.step}" if r.step else r.state)

    if await _until(cc, lambda: state() in ("running", "crashed"), SERVICE_DEADLINE_S, progress):
        r = cc.row(name)
        if state() == "running":
            t.ok(name, r.where if r else "")
        else:
            t.fail(name, f"crashed: {r.step if r else ''}")
        return
    r = cc.row(name)
    t.stuck(name, f"stuck in step '{r.step or r.state}'" if r else "no heartbeat")


def _feed_connected(cc: ControlCenter) -> bool:
    snap = cc.snapshot
    if snap is None:
        return False
    for _, hb in snap.by_name("feed"):
        try:
            if int(float(hb.get("connections_up", 0))) > 0:
                return True
        except ValueError:
            continue
    return False


def _quotes_fresh(cc: ControlCenter) -> bool:
    snap = cc.snapshot
    if snap is None or "quotes" not in snap.streams:
        return False
    age = snap.streams["quotes"].age_s(snap.redis_now or snap.now)
    return age is not None and age < FRESH_S


async def run_start_all(cc: ControlCenter) -> str:
    if cc.startup.running:
        return "Start All is already running"
    s = cc.settings
    services = [e.name for e in cc.entries if e.in_start_all and e.name != "sim" and e.available]
    steps = [("redis", "Redis reachable"), ("mysql", "MySQL schema ready")]
    if s.use_simulator:
        steps.append(("sim", "Simulator answering"))
    steps.append(("instruments", "Instrument master stored"))
    steps += [(n, f"{n} running") for n in services]
    steps += [("connected", "Feed connected"), ("data", "Quotes flowing"), ("green", "All green")]
    t = cc.startup
    t.reset(steps)
    try:
        if not await _prepare(cc):
            return "Start All stopped: " + t.summary()
        for name in services:
            await _start_service(cc, name)
        if "feed" in services:
            t.begin("connected", "waiting for the feed's first connection")
            if await _until(cc, lambda: _feed_connected(cc), CONNECT_DEADLINE_S):
                t.ok("connected")
            else:
                t.stuck("connected", "the feed has no connection up")
            t.begin("data", "waiting for quotes on the stream")
            if await _until(cc, lambda: _quotes_fresh(cc), CONNECT_DEADLINE_S):
                t.ok("data", "quotes younger than 5s")
            else:
                t.stuck("data", "no fresh quote on the stream")
        else:
            t.skip("connected", "no feed")
            t.skip("data", "no feed")
        t.begin("green")
        started = [n for n in services if (r := cc.row(n)) is not None and r.local]
        not_green = [n for n in started if (r := cc.row(n)) is None or r.state != "running"]
        if not_green or any(x.status in ("failed", "stuck") for x in t.steps if x.key != "green"):
            t.fail("green", "not running: " + ", ".join(not_green) if not_green else "a step did not pass")
        else:
            n = len(started) + (1 if s.use_simulator and cc.is_local("sim") else 0)
            t.ok("green", f"{n} services running here")
    finally:
        t.finish()
    return t.summary()
