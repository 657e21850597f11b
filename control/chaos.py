"""Chaos harness: a real stack (sim, feed, writer as supervised processes, restart on failure) on a private
redis-server with AOF and a private MariaDB database; faults injected one at a time; after each, the stack
must be healthy again by itself and, at the end, ``dhan verify``'s check must find every journaled trade in
MySQL exactly once.

A fault is one async function ``fault(env) -> None`` in :data:`FAULTS`; :func:`run_chaos` applies a list of
them and returns one :class:`FaultResult` per fault (time to recover) plus the final verification.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from pydantic import SecretStr

from control.supervisor import ChildSpec, Supervisor
from shared.keys import Keys
from shared.logs import get_logger
from shared.settings import Settings

__all__ = [
    "CI_FAULTS", "FAULTS", "FULL_FAULTS", "MYSQL_RESTART", "ChaosEnv", "ChaosMariaDB", "ChaosRedis", "FaultResult",
    "run_chaos",
]  # fmt: skip

RECOVER_TIMEOUT_S = 120.0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ChaosRedis:
    """A private redis-server with AOF (fsync every write), restartable with its data."""

    def __init__(self, work: Path) -> None:
        self.port = _free_port()
        self.dir = work / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server binary not on PATH")
        self.proc = await asyncio.create_subprocess_exec(
            exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
            "--appendfsync", "always", "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log"),
            stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        client = aioredis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            while True:
                try:
                    if await client.ping():
                        return
                except (aioredis.ConnectionError, aioredis.BusyLoadingError, OSError):
                    if time.monotonic() > deadline:
                        raise
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    async def kill(self) -> None:
        """SIGKILL: only what AOF already holds survives."""
        if self.proc is not None:
            self.proc.kill()
            await asyncio.wait_for(self.proc.wait(), 30)
            self.proc = None


class ChaosMariaDB:
    """A private mariadbd (own datadir and port) for the ``mysql restart`` fault: the shared local server is
    never restarted. SIGKILLed by the fault, InnoDB recovers committed transactions on the next start."""

    def __init__(self, work: Path) -> None:
        self.dir = work / "mariadb"
        self.datadir = self.dir / "data"
        self.port = _free_port()
        self.proc: asyncio.subprocess.Process | None = None

    def url(self, database: str) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/{database}"

    async def install(self) -> None:
        exe = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
        await asyncio.to_thread(self.dir.mkdir, parents=True, exist_ok=True)
        proc = await asyncio.create_subprocess_exec(
            exe, "--no-defaults", f"--datadir={self.datadir}", "--user=root",
            "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        if await asyncio.wait_for(proc.wait(), 180) != 0:
            raise RuntimeError("chaos: mariadb-install-db failed")

    async def start(self, timeout_s: float = 120.0) -> None:
        import pymysql

        exe = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        self.proc = await asyncio.create_subprocess_exec(
            exe, "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}", "--bind-address=127.0.0.1",
            f"--socket={self.dir / 'mysqld.sock'}", "--user=root", f"--pid-file={self.dir / 'mysqld.pid'}",
            "--skip-log-bin", "--skip-grant-tables", "--innodb-buffer-pool-size=64M", "--skip-name-resolve",
            f"--log-error={self.dir / 'error.log'}",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                await asyncio.to_thread(
                    lambda: pymysql.connect(host="127.0.0.1", port=self.port, user="root", connect_timeout=1).close()
                )
                return
            except pymysql.err.OperationalError:
                if self.proc.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chaos: private mariadbd did not start; see {self.dir}/error.log") from None
                await asyncio.sleep(0.1)

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await asyncio.wait_for(self.proc.wait(), 60)
        self.proc = None


@dataclass
class ChaosEnv:
    settings: Settings
    redis: ChaosRedis
    sup: Supervisor
    work: Path
    client: aioredis.Redis
    mariadb: ChaosMariaDB | None = None
    log: Any = field(default_factory=lambda: get_logger("chaos"))

    async def ticks(self) -> int:
        from shared.db import connect

        conn = await connect(self.settings)
        try:
            async with conn.cursor() as cur:
                await cur.execute("SELECT COUNT(*) FROM dhan_ticks")
                row = await cur.fetchone()
            await conn.rollback()
            return int(row[0])
        finally:
            conn.close()

    async def healthy(self, names: tuple[str, ...] = ("feed", "writer"), since: float = 0.0) -> bool:
        """Every child running and its heartbeat (written after ``since``, true epoch) naming its pid."""
        keys = Keys(self.settings.key_prefix)
        for name in names:
            child = self.sup.children[name]
            if child.state != "running" or child.pid is None:
                return False
            try:
                beat = await self.client.hgetall(keys.svc(name))
            except (aioredis.RedisError, OSError):
                return False
            if beat.get(b"state") != b"running" or beat.get(b"pid") != str(child.pid).encode():
                return False
            if float(beat.get(b"updated_at", b"0") or 0) < since:
                return False
        return True

    async def wait(self, predicate: Callable[[], Awaitable[bool]], what: str,
                   timeout_s: float = RECOVER_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while not await predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"chaos: {what} not reached within {timeout_s:g}s (logs in {self.work})")
            await asyncio.sleep(0.1)

    async def no_alerts(self) -> bool:
        try:
            return not await self.client.hlen(Keys(self.settings.key_prefix).alerts_active)
        except (aioredis.RedisError, OSError):
            return False

    async def alerts_last_id(self) -> str:
        entries = await self.client.xrevrange(Keys(self.settings.key_prefix).alerts, count=1)
        return entries[0][0].decode() if entries else "0-0"

    async def alerts_since(self, last_id: str) -> tuple[int, int]:
        """(firing, resolved) alert events after ``last_id`` in the alerts stream."""
        import orjson

        fired = resolved = 0
        for _, fields in await self.client.xrange(Keys(self.settings.key_prefix).alerts, f"({last_id}", "+"):
            state = orjson.loads(fields.get(b"d", b"{}")).get("state")
            fired += state == "firing"
            resolved += state == "resolved"
        return fired, resolved

    async def _more(self, base: int) -> bool:
        return await self.ticks() > base

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
        """POST /fault on the simulator (feed/sim/faults.py)."""
        import aiohttp

        url = f"http://{self.settings.sim_host}:{self.settings.sim_port}/fault"
        async with aiohttp.ClientSession() as session, session.post(url, params=query) as resp:
            if resp.status != 200:
                raise RuntimeError(f"chaos: simulator refused fault {query}: HTTP {resp.status}")

    async def feed_reconnected(self, before: int) -> None:
        """Wait for the feed's connection count in the events stream to pass ``before``."""
        await self.wait(lambda: self._connects_above(before), "feed reconnected")

    async def connects(self) -> int:
        keys = Keys(self.settings.key_prefix)
        try:
            entries = await self.client.xrange(keys.events)
        except (aioredis.RedisError, OSError):
            return 0
        return sum(1 for _, f in entries if b'"connected"' in f.get(b"d", b""))

    async def _connects_above(self, before: int) -> bool:
        return await self.connects() > before

    async def drop_mysql_connections(self) -> int:
        """KILL every server connection using the private database (as a network blip or server restart)."""
        from shared.db import connect

        database = self.settings.mysql.database
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


async def kill_feed(env: ChaosEnv) -> None:
    await env.sigkill("feed")


async def kill_writer(env: ChaosEnv) -> None:
    await env.sigkill("writer")


async def restart_redis_aof(env: ChaosEnv) -> None:
    await env.redis.kill()
    await env.redis.start()


async def redis_down_30s(env: ChaosEnv) -> None:
    await env.redis.kill()
    await asyncio.sleep(30)  # the fault itself is a 30 s outage
    await env.redis.start()


async def kill_greeks(env: ChaosEnv) -> None:
    await env.sigkill("greeks")


async def mysql_restart(env: ChaosEnv) -> None:
    if env.mariadb is None:
        raise RuntimeError("chaos: 'mysql restart' needs the private MariaDB (dhan chaos --private-mariadb)")
    await env.mariadb.kill()
    await env.mariadb.start()


async def mysql_drop_connections(env: ChaosEnv) -> None:
    await env.drop_mysql_connections()


async def _dhan(env: ChaosEnv, **query: str) -> None:
    before = await env.connects()
    await env.sim_fault(**query)
    await env.feed_reconnected(before)


async def dhan_disconnect_805(env: ChaosEnv) -> None:
    await _dhan(env, kind="disconnect", code="805")


async def dhan_disconnect_800(env: ChaosEnv) -> None:
    await _dhan(env, kind="disconnect", code="800")  # a code Dhan does not document: reconnect


async def dhan_drop(env: ChaosEnv) -> None:
    await _dhan(env, kind="drop")


async def dhan_stall(env: ChaosEnv) -> None:
    await _dhan(env, kind="stall", seconds="600")  # the feed's watchdog (DHAN_STALL_TIMEOUT_S) reconnects


async def malformed_frames(env: ChaosEnv) -> None:
    for variant in ("truncated", "unknown", "garbage"):
        await env.sim_fault(kind="malformed", variant=variant)


async def feed_and_writer_sigkill(env: ChaosEnv) -> None:
    await asyncio.gather(env.sigkill("feed"), env.sigkill("writer"))


async def redis_restart_and_writer_sigkill(env: ChaosEnv) -> None:
    await env.sigkill("writer")
    await restart_redis_aof(env)


async def all_at_once(env: ChaosEnv) -> None:
    await env.sim_fault(kind="malformed", variant="garbage")
    await asyncio.gather(env.sigkill("feed"), env.sigkill("writer"), env.sigkill("greeks"),
                         env.drop_mysql_connections())
    await restart_redis_aof(env)


FAULTS: dict[str, Callable[[ChaosEnv], Awaitable[None]]] = {
    "feed SIGKILL": kill_feed,
    "writer SIGKILL": kill_writer,
    "greeks SIGKILL": kill_greeks,
    "redis restart (AOF)": restart_redis_aof,
    "redis down 30s": redis_down_30s,
    "mysql connections dropped": mysql_drop_connections,
    "mysql restart (private MariaDB)": mysql_restart,
    "dhan disconnect 805": dhan_disconnect_805,
    "dhan disconnect 800 (unknown)": dhan_disconnect_800,
    "dhan drop (no close frame)": dhan_drop,
    "dhan silent stall": dhan_stall,
    "malformed frames": malformed_frames,
    "feed + writer SIGKILL": feed_and_writer_sigkill,
    "redis restart + writer SIGKILL": redis_restart_and_writer_sigkill,
    "all at once": all_at_once,
}
CI_FAULTS = ["feed SIGKILL", "writer SIGKILL", "redis restart (AOF)", "malformed frames", "dhan disconnect 805"]
MYSQL_RESTART = "mysql restart (private MariaDB)"
FULL_FAULTS = [f for f in FAULTS if f != MYSQL_RESTART]  # + MYSQL_RESTART with a private MariaDB


@dataclass
class FaultResult:
    fault: str
    events: int          # trades stored in MySQL from the fault until the stack was progressing again
    recover_s: float     # from the fault's end until healthy (heartbeats of the new pids), trades flowing and
                         # no alert active
    fired: int = 0       # alerts the monitor raised from the fault until recovery
    resolved: int = 0    # ... and cleared


@dataclass
class ChaosResult:
    faults: list[FaultResult]
    trades: int = 0
    frames: int = 0
    missing: int = 0
    duplicated: int = 0
    extra: int = 0
    problems: int = 0
    lines: list[str] = field(default_factory=list)
    closed_gaps: dict[str, int] = field(default_factory=dict)  # dhan_gaps rows with an end, by kind

    def table(self) -> str:
        rows = [f"{'fault':<32} {'events':>8} {'lost':>6} {'dup':>6} {'recover_s':>10} {'alerts fired/cleared':>21}"]
        rows += [f"{r.fault:<32} {r.events:>8} {'-':>6} {'-':>6} {r.recover_s:>10.1f} {r.fired:>10}/{r.resolved:<10}"
                 for r in self.faults]
        rows.append(f"{'whole run (dhan verify)':<32} {self.trades:>8} {self.missing:>6} {self.duplicated:>6} "
                    f"{'':>10}")
        return "\n".join(rows)


def _env_for(settings: Settings, redis_url: str, work: Path, sim_rate: float) -> dict[str, str]:
    return {
        "DHAN_REDIS_URL": redis_url,
        "DHAN_MYSQL_URL": settings.mysql_url.get_secret_value(),
        "DHAN_KEY_PREFIX": settings.key_prefix,
        "DHAN_SIM_PORT": str(settings.sim_port),
        "DHAN_JOURNAL_DIR": str(work / "journal"),
        "DHAN_SPOOL_DIR": str(work / "spool"),
        "DHAN_SIM_RATE": str(sim_rate),
        "DHAN_STALL_TIMEOUT_S": "3",
        "DHAN_MONITOR_FEED_DISCONNECTED_S": "0",
        "DHAN_RECONNECT_BASE_S": "1.0",  # 805 waits 4 backoff units: a 4 s outage the monitor must see
        "DHAN_MONITOR_STALE_S": "3",
    }


def _needs_greeks(faults: list[str]) -> bool:
    return any("greeks" in f or f == "all at once" for f in faults)


async def run_chaos(settings: Settings, work: Path, faults: list[str], *, sim_rate: float = 400.0,
                    min_trades: int = 200, min_frames: int = 0, private_mariadb: bool = False,
                    on_result: Callable[[FaultResult], None] | None = None) -> ChaosResult:
    """Run the stack in ``work``, apply ``faults`` in order, stop it cleanly, verify journal against MySQL.

    ``min_frames``: before stopping, keep the stack running until the feed has journaled this many frames."""
    from control.stack import load_instruments, prepare_database, wait_http
    from feed.verify import check, scan_journal
    from feed.verify_cli import report_lines

    log = get_logger("chaos")
    await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
    redis = ChaosRedis(work)
    await redis.start()
    mariadb: ChaosMariaDB | None = None
    update: dict[str, Any] = {"redis_url": SecretStr(redis.url), "sim_port": _free_port(),
                              "key_prefix": f"chaos{uuid.uuid4().hex[:8]}:"}
    if private_mariadb:
        mariadb = ChaosMariaDB(work)
        await mariadb.install()
        await mariadb.start()
        update["mysql_url"] = SecretStr(mariadb.url("dhan_chaos"))
    settings = settings.model_copy(update=update)
    env_vars = _env_for(settings, redis.url, work, sim_rate)
    names = ("sim", "feed", "writer", "greeks", "monitor") if _needs_greeks(faults) else (
        "sim", "feed", "writer", "monitor")
    services = tuple(n for n in names if n != "sim")
    sup = Supervisor(work / "logs", stable_s=5.0)
    for name in names:
        sup.add(ChildSpec(name, (name,), env=env_vars))
    client = aioredis.Redis.from_url(redis.url, socket_connect_timeout=1, socket_timeout=5)
    env = ChaosEnv(settings, redis, sup, work, client, mariadb)

    async def progressing() -> None:
        since = time.time()  # a heartbeat from before the fault (e.g. kept by AOF) does not count
        await env.wait(lambda: env.healthy(services, since), f"{', '.join(services)} healthy")
        base = await env.ticks()
        await env.wait(lambda: env._more(base), "new trades in MySQL")
        await env.wait(env.no_alerts, "every alert cleared")

    results: list[FaultResult] = []
    try:
        await prepare_database(settings, log)
        await sup.start("sim")
        await wait_http(f"http://{settings.sim_host}:{settings.sim_port}/health", 60)
        await load_instruments(settings, log)
        for name in services:
            await sup.start(name)
        await progressing()
        await env.wait(lambda: env._more(min_trades), f"{min_trades} trades stored")
        for name in faults:
            log.info("chaos_fault", fault=name)
            before = await env.ticks()
            alerts_from = await env.alerts_last_id()
            await FAULTS[name](env)
            t0 = time.monotonic()
            await progressing()
            fired, resolved = await env.alerts_since(alerts_from)
            result = FaultResult(name, await env.ticks() - before, time.monotonic() - t0, fired, resolved)
            results.append(result)
            if on_result is not None:
                on_result(result)
        if min_frames:
            await env.wait(lambda: _journaled_above(env, min_frames), f"{min_frames} frames journaled", 3600)
        # a clean end: the feed stops (journal flushed), the writer drains what the feed published
        await sup.stop("feed")
        await sup.stop("sim")
        await env.wait(lambda: _drained(env), "writer drained the streams")
        await sup.stop("writer")
    finally:
        await sup.stop_all(["feed", "sim", "greeks", "monitor", "writer"])
        await client.aclose()
        await redis.kill()
    try:
        journals = sorted((work / "journal").glob("*.djr"), key=lambda p: (p.stat().st_mtime, p.name))
        scan = await asyncio.to_thread(scan_journal, journals)
        report = await check(settings, scan)
        return ChaosResult(results, trades=scan.trade_count, frames=scan.read.frames, missing=report.missing,
                           duplicated=report.duplicated, extra=report.extra, problems=report.problems,
                           lines=report_lines(report), closed_gaps=await _closed_gaps(settings))
    finally:
        if mariadb is not None:
            await mariadb.kill()


async def _closed_gaps(settings: Settings) -> dict[str, int]:
    from shared.db import connect

    conn = await connect(settings)
    try:
        async with conn.cursor() as cur:
            await cur.execute("SELECT kind, COUNT(*) FROM dhan_gaps WHERE end_ts IS NOT NULL GROUP BY kind")
            rows = await cur.fetchall()
        await conn.rollback()
    finally:
        conn.close()
    return {str(k): int(n) for k, n in rows}


async def _journaled_above(env: ChaosEnv, frames: int) -> bool:
    beat = await env.client.hgetall(Keys(env.settings.key_prefix).svc("feed"))
    return int(float(beat.get(b"frames", b"0") or 0)) >= frames


async def _drained(env: ChaosEnv) -> bool:
    keys = Keys(env.settings.key_prefix)
    for kind in ("quotes", "ticks", "depth"):
        try:
            groups = await env.client.xinfo_groups(keys.stream(kind))
        except aioredis.ResponseError:
            continue
        for g in groups:
            if g["name"] == Keys.WRITER_GROUP.encode() and (int(g["pending"]) or int(g.get("lag") or 0)):
                return False
    return True
