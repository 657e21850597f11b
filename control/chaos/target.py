"""The target of a chaos run: the stack it drives, and what faults act on and recovery is judged by.

:func:`stack_supervisor` puts ``dhan replay`` in the simulator's place (same port, same URL) and feed, writer,
monitor (and greeks when a fault needs it, :func:`stack_services`) under one supervisor, each restarted on
failure, with the environment of :func:`child_env`: the private Redis, the run's key prefix, journal and
spool folders, and short stall and staleness thresholds so the monitor sees each outage.

:class:`ChaosEnv` is the handle a fault gets: the private servers, the supervisor, a Redis client on the
run's keys, and the probes a run waits on (every child healthy with a heartbeat of its new pid, new trades
in MySQL, no alert active, the feed reconnected, the writer drained). Waits end with a one-line
``TimeoutError`` naming what was not reached, or :class:`RecordingTooShort` when the replay ran out while
faults remain.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis

from control.chaos.servers import ChaosMariaDB, ChaosRedis
from control.chaos.source import Recording, ReplayWatch
from control.stack.supervisor import ChildSpec, Supervisor
from feed.connection import GOOD_SESSION_S
from shared.db import connect
from shared.errors import ConfigError
from shared.keys import Keys
from shared.logs import get_logger
from shared.settings import Settings

__all__ = [
    "RECOVER_TIMEOUT_S", "STOP_ORDER", "ChaosEnv", "RecordingTooShort", "child_env", "stack_services",
    "stack_supervisor",
]  # fmt: skip

RECOVER_TIMEOUT_S = 120.0
STOP_ORDER = ["feed", "replay", "greeks", "monitor", "writer"]
_POLL_S = 0.1


class RecordingTooShort(ConfigError):
    """The replay served the whole recording before the faults were done."""


def child_env(settings: Settings, redis_url: str, journal_dir: Path, spool_dir: Path,
              sim_rate: float) -> dict[str, str]:
    """The environment of every child of a chaos stack (and of the recording's sim and feed)."""
    env = {
        "DHAN_REDIS_URL": redis_url,
        "DHAN_MYSQL_URL": settings.mysql.url.get_secret_value(),
        "DHAN_KEY_PREFIX": settings.redis.key_prefix,
        "DHAN_SIM_PORT": str(settings.sim.port),
        "DHAN_JOURNAL_DIR": str(journal_dir),
        "DHAN_SPOOL_DIR": str(spool_dir),
        "DHAN_SIM_RATE": str(sim_rate),
        "DHAN_STALL_TIMEOUT_S": "3",
        "DHAN_MONITOR_FEED_DISCONNECTED_S": "0",
        "DHAN_RECONNECT_BASE_S": "1.0",  # 805 waits 4 backoff units: a 4 s outage the monitor must see
        "DHAN_MONITOR_STALE_S": "3",
        # a replay serves only the recording's instruments: one the feed subscribes but the recording lacks
        # stays silent for good, which is not a fault of the stack
        "DHAN_MONITOR_INSTRUMENT_SILENT_S": "86400",
    }
    if settings.sim.token is not None:  # the replay's fault injection needs it; the feed presents it too
        env["DHAN_SIM_TOKEN"] = settings.sim.token.get_secret_value()
    return env


def stack_services(faults: Sequence[str]) -> tuple[str, ...]:
    """The services the run starts besides the replay: greeks only when a fault kills it."""
    needs_greeks = any("greeks" in f or f == "all at once" for f in faults)
    return ("feed", "writer", "greeks", "monitor") if needs_greeks else ("feed", "writer", "monitor")


def stack_supervisor(settings: Settings, work: Path, recording: Recording, speed: float,
                     services: Sequence[str]) -> Supervisor:
    """The replay and ``services`` as children writing their logs into ``work/logs`` (none started yet);
    ``settings.redis.url`` is the private Redis."""
    env = child_env(settings, settings.redis.url.get_secret_value(), work / "journal", work / "spool",
                    settings.sim.rate)
    sup = Supervisor(work / "logs", stable_s=5.0)
    # --hold keeps the replay server up once the journal is served
    sup.add(ChildSpec("replay", ("replay", *map(str, recording.paths), "--speed", f"{speed:.6g}", "--hold",
                                 "--faults"), env=env))
    for name in services:
        sup.add(ChildSpec(name, (name,), env=env))
    return sup


@dataclass
class ChaosEnv:
    settings: Settings
    keys: Keys
    redis: ChaosRedis
    sup: Supervisor
    work: Path
    client: aioredis.Redis
    mariadb: ChaosMariaDB | None = None
    replay: ReplayWatch | None = None
    too_short: str | None = None  # set while faults remain: why an ended replay fails the run, what to raise
    injected_at: float | None = None      # monotonic: when a fault that waits inside (Dhan) was injected
    reconnected_at: float | None = None   # monotonic: when the feed came back after a Dhan-side fault
    log: Any = field(default_factory=lambda: get_logger("chaos"))

    async def settle(self) -> None:
        """After a Dhan-side fault, let the feed's new connection become a good session (data for
        GOOD_SESSION_S) before the next fault, so faults do not compound the reconnect backoff (the feed
        rightly backs off further after each short session) and each one is measured on its own."""
        if self.reconnected_at is None:
            return
        until = self.reconnected_at + GOOD_SESSION_S + 1.0
        self.reconnected_at = None
        while time.monotonic() < until:
            await self.check_source()
            await asyncio.sleep(min(0.5, max(0.0, until - time.monotonic())))

    async def check_source(self) -> None:
        """RecordingTooShort when the replay has ended while faults remain (see ``too_short``)."""
        if self.too_short is not None and self.replay is not None:
            await self.replay.poll()
            if self.replay.finished:
                raise RecordingTooShort(self.too_short)

    async def wait(self, predicate: Callable[[], Awaitable[bool]], what: str,
                   timeout_s: float = RECOVER_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while not await predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"chaos: {what} not reached within {timeout_s:g}s (logs in {self.work})")
            await self.check_source()
            await asyncio.sleep(_POLL_S)

    async def recovered(self, services: Sequence[str]) -> None:
        """Every child healthy again, new trades in MySQL, every alert cleared."""
        since = time.time()  # a heartbeat from before the fault (e.g. kept by AOF) does not count
        await self.wait(lambda: self.healthy(services, since), f"{', '.join(services)} healthy")
        base = await self.ticks()
        await self.wait(lambda: self.more_ticks_than(base), "new trades in MySQL")
        await self.wait(self.no_alerts, "every alert cleared")

    async def ticks(self) -> int:
        conn = await connect(self.settings)
        try:
            async with conn.cursor() as cur:
                await cur.execute("SELECT COUNT(*) FROM dhan_ticks")
                row = await cur.fetchone()
            await conn.rollback()
            return int(row[0])
        finally:
            conn.close()

    async def more_ticks_than(self, base: int) -> bool:
        return await self.ticks() > base

    async def healthy(self, names: Sequence[str] = ("feed", "writer"), since: float = 0.0) -> bool:
        """Every child running and its heartbeat (written after ``since``, true epoch) naming its pid."""
        for name in names:
            child = self.sup.children[name]
            if child.state != "running" or child.pid is None:
                return False
            try:
                beat = await self.client.hgetall(self.keys.svc(name))
            except (aioredis.RedisError, OSError):
                return False
            if beat.get(b"state") != b"running" or beat.get(b"pid") != str(child.pid).encode():
                return False
            if float(beat.get(b"updated_at", b"0") or 0) < since:
                return False
        return True

    async def no_alerts(self) -> bool:
        try:
            return not await self.client.hlen(self.keys.alerts_active)
        except (aioredis.RedisError, OSError):
            return False

    async def alerts_last_id(self) -> str:
        entries: Any = await self.client.xrevrange(self.keys.alerts, count=1)
        return entries[0][0].decode() if entries else "0-0"

    async def alerts_since(self, last_id: str) -> tuple[int, int]:
        """(firing, resolved) alert events after ``last_id`` in the alerts stream."""
        fired = resolved = 0
        entries: Any = await self.client.xrange(self.keys.alerts, f"({last_id}", "+")
        for _, fields in entries:
            state = orjson.loads(fields.get(b"d", b"{}")).get("state")
            fired += state == "firing"
            resolved += state == "resolved"
        return fired, resolved

    async def sigkill(self, name: str) -> None:
        """SIGKILL the child's process group; returns once the supervisor has seen it die."""
        child = self.sup.children[name]
        old = child.pid
        if old is None:
            return
        os.killpg(old, signal.SIGKILL)  # its own session: the whole process group

        async def noticed() -> bool:
            return child.pid != old

        await self.wait(noticed, f"{name} death noticed by the supervisor")

    async def sim_fault(self, **query: str) -> None:
        """POST /fault on the replay server (the simulator's fault knobs, feed/sim/faults.py)."""
        url = f"http://{self.settings.sim.host}:{self.settings.sim.port}/fault"
        token = self.settings.sim.token.get_secret_value() if self.settings.sim.token is not None else ""
        async with aiohttp.ClientSession() as session, session.post(url, params={**query, "token": token}) as resp:
            if resp.status != 200:
                why = (await resp.text())[:200]
                raise RuntimeError(f"chaos: simulator refused fault {query}: HTTP {resp.status} {why}")

    async def connects(self) -> int:
        """The feed's ``connected`` events in the events stream so far."""
        try:
            entries: Any = await self.client.xrange(self.keys.events)
        except (aioredis.RedisError, OSError):
            return 0
        return sum(1 for _, f in entries if b'"connected"' in f.get(b"d", b""))

    async def feed_reconnected(self, before: int) -> None:
        """Wait for the feed's connection count in the events stream to pass ``before``."""

        async def above() -> bool:
            return await self.connects() > before

        await self.wait(above, "feed reconnected")

    async def drained(self) -> bool:
        """The writer's group has nothing pending and no lag on any stream."""
        for kind in ("quotes", "ticks", "depth"):
            try:
                groups = await self.client.xinfo_groups(self.keys.stream(kind))
            except aioredis.ResponseError:
                continue
            for g in groups:
                if g["name"] == Keys.WRITER_GROUP.encode() and (int(g["pending"]) or int(g.get("lag") or 0)):
                    return False
        return True

    async def drop_mysql_connections(self) -> int:
        """KILL every server connection using the private database (as a network blip or server restart)."""
        database = self.settings.mysql.target.database
        conn = await connect(self.settings, with_db=False)
        killed = 0
        try:
            async with conn.cursor() as cur:
                await cur.execute("SELECT CONNECTION_ID()")
                me = (await cur.fetchone())[0]
                await cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> %s",
                                  (database, me))
                for (pid,) in await cur.fetchall():
                    try:
                        await cur.execute(f"KILL CONNECTION {int(pid)}")
                        killed += 1
                    except Exception:  # it may have ended by itself meanwhile
                        pass
        finally:
            conn.close()
        return killed
