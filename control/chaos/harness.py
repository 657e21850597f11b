"""Chaos harness: a recorded session replayed through a real stack (``dhan replay`` in the simulator's place;
feed, writer, monitor, and greeks when a fault needs it, as supervised processes restarted on failure) on a
private redis-server with AOF and a private MariaDB database; faults injected one at a time, then several
together; after each, the stack must be healthy again by itself with every alert cleared; at the end,
``dhan verify``'s check must find every journaled trade in MySQL exactly once, fault by fault.

The recording is a journal given by the caller or one recorded first (``dhan sim`` + ``dhan feed`` only,
:mod:`control.chaos.source`). The replay is paced to about ``rate`` frames/s and must outlast the faults: a
recording served to its end while faults remain fails the run (:class:`RecordingTooShort`, one line saying
what to raise). After the last fault the run goes on until the whole recording has been served, then stops
the stack cleanly (the feed first, the writer after draining the streams).

A fault is one async function ``fault(env) -> None`` in :data:`FAULTS`; Dhan-side faults go to the replay
server's ``POST /fault`` (the simulator's knobs); their recovery counts from the injection (it includes the
reconnect), and the next fault waits until the feed's new connection is a good session
(``feed.connection.GOOD_SESSION_S``), so faults do not compound the feed's reconnect backoff. Each fault's
window runs from just before it is injected to the next fault's start (the last one's to its recovery);
:mod:`control.chaos.windows` counts each journaled, lost and duplicated trade in the window holding its
frame's journal receive time. :func:`run_chaos` returns one :class:`FaultResult` per fault (events, lost,
duplicated, time to recover, alerts fired and cleared), the rows before the first and after the last fault,
and the whole-run verification (:meth:`ChaosResult.table`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from pydantic import SecretStr

from control.chaos.servers import ChaosMariaDB, ChaosRedis, free_port
from control.chaos.source import Recording, ReplayWatch, journal_files, read_recording, record_session, replay_speed
from control.chaos.windows import WindowCounts, count_by_window
from control.stack.supervisor import ChildSpec, Supervisor
from shared.errors import ConfigError
from shared.keys import Keys
from shared.logs import add_secrets, get_logger
from shared.settings import Settings

__all__ = [
    "CI_FAULTS", "FAULTS", "FULL_FAULTS", "MYSQL_RESTART", "ChaosEnv", "ChaosMariaDB", "ChaosRedis", "ChaosResult",
    "FaultResult", "RecordingTooShort", "run_chaos",
]  # fmt: skip

RECOVER_TIMEOUT_S = 120.0


class RecordingTooShort(ConfigError):
    """The replay served the whole recording before the faults were done."""


@dataclass
class ChaosEnv:
    settings: Settings
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
        from feed.connection import GOOD_SESSION_S

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
            await self.check_source()
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
        """POST /fault on the replay server (the simulator's fault knobs, feed/sim/faults.py)."""
        import aiohttp

        url = f"http://{self.settings.sim_host}:{self.settings.sim_port}/fault"
        token = self.settings.sim_token.get_secret_value() if self.settings.sim_token is not None else ""
        async with aiohttp.ClientSession() as session, session.post(url, params={**query, "token": token}) as resp:
            if resp.status != 200:
                why = (await resp.text())[:200]
                raise RuntimeError(f"chaos: simulator refused fault {query}: HTTP {resp.status} {why}")

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
    env.injected_at = time.monotonic()  # the reconnect below is recovery: recover_s counts from here
    await env.feed_reconnected(before)
    env.reconnected_at = time.monotonic()


async def dhan_disconnect_805(env: ChaosEnv) -> None:
    await _dhan(env, kind="disconnect", code="805")


async def dhan_disconnect_800(env: ChaosEnv) -> None:
    await _dhan(env, kind="disconnect", code="800")  # a code Dhan does not document: reconnect


async def _dhan_fatal(env: ChaosEnv, code: int) -> None:
    """806-809 (not subscribed, token expired, bad client id, auth failed): the feed must stop by itself with
    the auth exit code (3) and the supervisor must not restart it (a retry cannot fix a token); the operator's
    hand (a new token: the simulator accepts the same one) is the harness starting the feed again."""
    from shared.errors import AuthError

    feed = env.sup.children["feed"]
    old = feed.pid
    await env.sim_fault(kind="disconnect", code=str(code))
    env.injected_at = time.monotonic()

    async def stopped() -> bool:
        return feed.pid != old and feed.state == "crashed" and feed.exit_code == AuthError.exit_code

    await env.wait(stopped, f"feed stopped with exit code {AuthError.exit_code} after Dhan's {code}, not restarted")
    await env.sup.start("feed")
    env.reconnected_at = time.monotonic()


async def dhan_disconnect_806(env: ChaosEnv) -> None:
    await _dhan_fatal(env, 806)


async def dhan_disconnect_807(env: ChaosEnv) -> None:
    await _dhan_fatal(env, 807)


async def dhan_disconnect_808(env: ChaosEnv) -> None:
    await _dhan_fatal(env, 808)


async def dhan_disconnect_809(env: ChaosEnv) -> None:
    await _dhan_fatal(env, 809)


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
    "dhan 806 (operator restarts)": dhan_disconnect_806,
    "dhan 807 (operator restarts)": dhan_disconnect_807,
    "dhan 808 (operator restarts)": dhan_disconnect_808,
    "dhan 809 (operator restarts)": dhan_disconnect_809,
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
    start_ts: float      # epoch s just before the fault was injected
    recovered_ts: float  # epoch s when the recovery was confirmed
    recover_s: float     # from the fault's end (a Dhan fault's injection) until healthy (heartbeats of the
                         # new pids), the feed reconnected, trades flowing and no alert active
    fired: int = 0       # alerts the monitor raised from the fault until recovery
    resolved: int = 0    # ... and cleared
    events: int = 0      # journaled trades whose frame arrived in this fault's window (chaos_windows)
    lost: int = 0        # ... of them not in MySQL
    duplicated: int = 0  # ... of them in MySQL more than once


@dataclass
class ChaosResult:
    faults: list[FaultResult]
    windows: list[WindowCounts] = field(default_factory=list)  # before first fault, one per fault, after last
    trades: int = 0
    frames: int = 0
    missing: int = 0
    duplicated: int = 0
    extra: int = 0
    problems: int = 0
    lines: list[str] = field(default_factory=list)
    closed_gaps: dict[str, int] = field(default_factory=dict)  # dhan_gaps rows with an end, by kind
    recording: Recording | None = None
    speed: float = 0.0                                          # dhan replay --speed
    replay: dict[str, Any] = field(default_factory=dict)        # the replay server's last /health

    def table(self) -> str:
        rows = [f"{'fault':<32} {'events':>8} {'lost':>6} {'dup':>6} {'recover_s':>10} {'alerts fired/cleared':>21}"]
        for i, w in enumerate(self.windows):
            r = self.faults[i - 1] if 0 < i <= len(self.faults) else None
            tail = (f"{r.recover_s:>10.1f} {r.fired:>10}/{r.resolved:<10}" if r is not None
                    else f"{'-':>10} {'-':>10}")
            rows.append(f"{w.name:<32} {w.events:>8} {w.lost:>6} {w.duplicated:>6} {tail}")
        rows.append(f"{'whole run (dhan verify)':<32} {self.trades:>8} {self.missing:>6} {self.duplicated:>6} "
                    f"{'':>10}")
        return "\n".join(rows)


def _env_for(settings: Settings, redis_url: str, journal_dir: Path, spool_dir: Path,
             sim_rate: float) -> dict[str, str]:
    env = {
        "DHAN_REDIS_URL": redis_url,
        "DHAN_MYSQL_URL": settings.mysql_url.get_secret_value(),
        "DHAN_KEY_PREFIX": settings.key_prefix,
        "DHAN_SIM_PORT": str(settings.sim_port),
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
    if settings.sim_token is not None:  # the replay's fault injection needs it; the feed presents it too
        env["DHAN_SIM_TOKEN"] = settings.sim_token.get_secret_value()
    return env


def _needs_greeks(faults: list[str]) -> bool:
    return any("greeks" in f or f == "all at once" for f in faults)


async def run_chaos(settings: Settings, work: Path, faults: list[str], *, journals: list[Path] | None = None,
                    record_frames: int = 8_000, record_rate: float = 3000.0, rate: float = 220.0,
                    min_trades: int = 200, private_mariadb: bool = False,
                    on_result: Callable[[FaultResult], None] | None = None) -> ChaosResult:
    """Replay a recording through the stack in ``work``, apply ``faults`` in order, let the replay serve the
    whole recording, stop the stack cleanly, verify its journal against MySQL, per fault window.

    ``journals``: the recording (journal files or folders); None: record ``record_frames`` frames first, the
    simulator at ``record_rate`` updates/s, into ``work/recording``. ``rate``: replay pace in frames/s."""
    from control.stack.up import prepare_database

    log = get_logger("chaos")
    await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
    mariadb: ChaosMariaDB | None = None
    update: dict[str, Any] = {"sim_port": free_port(), "key_prefix": f"chaos{uuid.uuid4().hex[:8]}:"}
    if settings.sim_token is None:  # POST /fault needs one (feed.sim.guard)
        update["sim_token"] = SecretStr(secrets.token_urlsafe(24))
        add_secrets([update["sim_token"].get_secret_value()])
    try:
        if private_mariadb:
            mariadb = ChaosMariaDB(work)
            await mariadb.install()
            await mariadb.start()
            update["mysql_url"] = SecretStr(mariadb.url("dhan_chaos"))
        settings = settings.model_copy(update=update)
        await prepare_database(settings, log)
        if journals is None:
            recording = await _record(settings, work, record_frames, record_rate, log)
            raise_hint = "raise --record-frames or lower --rate"
        else:
            recording = await asyncio.to_thread(read_recording, journal_files(journals))
            raise_hint = "replay a longer --journal or lower --rate"
        speed = replay_speed(rate, recording)
        log.info("chaos_replay", frames=recording.frames, recorded_per_s=round(recording.frames_per_s, 1),
                 rate=rate, speed=round(speed, 4), expected_s=round(recording.duration_s / speed, 1))
        too_short = ("the recording ran out after {done} of {total} faults (" + f"{recording.frames} frames at "
                     f"{rate:g}/s last about {recording.duration_s / speed:.0f}s); {raise_hint}")
        return await _run_stack(settings, work, faults, recording, speed, too_short, min_trades, mariadb,
                                on_result, log)
    finally:
        if mariadb is not None:
            await mariadb.kill()


async def _record(settings: Settings, work: Path, frames: int, sim_rate: float, log: Any) -> Recording:
    """``frames`` frames of sim -> feed journaled into ``work/recording``, on a Redis of its own."""
    redis = ChaosRedis(work, "recording-redis", aof=False)
    await redis.start()
    try:
        env = _env_for(settings, redis.url, work / "recording", work / "recording-spool", sim_rate)
        return await record_session(settings.model_copy(update={"redis_url": SecretStr(redis.url)}),
                                    work / "recording", env, frames, log)
    finally:
        await redis.kill()


async def _run_stack(settings: Settings, work: Path, faults: list[str], recording: Recording, speed: float,
                     too_short: str, min_trades: int, mariadb: ChaosMariaDB | None,
                     on_result: Callable[[FaultResult], None] | None, log: Any) -> ChaosResult:
    from control.stack.up import load_instruments, wait_http

    redis = ChaosRedis(work)
    await redis.start()
    settings = settings.model_copy(update={"redis_url": SecretStr(redis.url)})
    env_vars = _env_for(settings, redis.url, work / "journal", work / "spool", settings.sim_rate)
    services = ("feed", "writer", "greeks", "monitor") if _needs_greeks(faults) else ("feed", "writer", "monitor")
    sup = Supervisor(work / "logs", stable_s=5.0)
    # the replay is the simulator's stand-in: same port, same URL; --hold keeps it up once the journal is served
    sup.add(ChildSpec("replay", ("replay", *map(str, recording.paths), "--speed", f"{speed:.6g}", "--hold",
                                 "--faults"), env=env_vars))
    for name in services:
        sup.add(ChildSpec(name, (name,), env=env_vars))
    client = aioredis.Redis.from_url(redis.url, socket_connect_timeout=1, socket_timeout=5)
    health = f"http://{settings.sim_host}:{settings.sim_port}/health"
    watch = ReplayWatch(health)
    env = ChaosEnv(settings, redis, sup, work, client, mariadb, replay=watch)

    async def progressing() -> None:
        since = time.time()  # a heartbeat from before the fault (e.g. kept by AOF) does not count
        await env.wait(lambda: env.healthy(services, since), f"{', '.join(services)} healthy")
        base = await env.ticks()
        await env.wait(lambda: env._more(base), "new trades in MySQL")
        await env.wait(env.no_alerts, "every alert cleared")

    async def replay_finished() -> bool:
        await watch.poll()
        return watch.finished

    results: list[FaultResult] = []
    try:
        await sup.start("replay")
        await wait_http(health, 60)
        await load_instruments(settings, log)  # the simulator's listing recorded in the journal's header
        started = time.monotonic()
        for name in services:
            await sup.start(name)
        env.too_short = too_short.format(done=0, total=len(faults))
        await progressing()
        await env.wait(lambda: env._more(min_trades), f"{min_trades} trades stored")
        for i, name in enumerate(faults):
            env.too_short = too_short.format(done=i, total=len(faults))
            await env.settle()
            await env.check_source()
            log.info("chaos_fault", fault=name)
            alerts_from = await env.alerts_last_id()
            start_ts = time.time()
            env.injected_at = None
            await FAULTS[name](env)
            t0 = env.injected_at or time.monotonic()
            await progressing()
            recovered_ts = time.time()
            fired, resolved = await env.alerts_since(alerts_from)
            result = FaultResult(name, start_ts, recovered_ts, time.monotonic() - t0, fired, resolved)
            results.append(result)
            if on_result is not None:
                on_result(result)
        env.too_short = None
        left_s = recording.duration_s / speed - (time.monotonic() - started) + RECOVER_TIMEOUT_S
        await env.wait(replay_finished, "the replay served the whole recording", max(left_s, RECOVER_TIMEOUT_S))
        replay_stats = dict(watch.stats)
        # a clean end: the feed stops (journal flushed), the writer drains what the feed published
        await sup.stop("feed")
        await sup.stop("replay")
        await env.wait(lambda: _drained(env), "writer drained the streams")
        await sup.stop("writer")
    finally:
        await sup.stop_all(["feed", "replay", "greeks", "monitor", "writer"])
        await client.aclose()
        await redis.kill()
    out = await _verify(settings, work / "journal", results)
    out.recording, out.speed, out.replay = recording, speed, replay_stats
    return out


async def _verify(settings: Settings, journal_dir: Path, results: list[FaultResult]) -> ChaosResult:
    """``dhan verify``'s check over the whole run, then every trade counted in its fault's window."""
    from control.audit.verify import check, scan_journal, trade_recv_ts
    from control.audit.verify_cli import report_lines

    journals = await asyncio.to_thread(journal_files, [journal_dir])
    scan = await asyncio.to_thread(scan_journal, journals)
    report = await check(settings, scan)
    windows = count_by_window(
        [r.fault for r in results], [(r.start_ts, r.recovered_ts) for r in results],
        (ts for day in scan.trades.values() for ts in day.recv_ts),
        trade_recv_ts(scan, report.missing_keys).values(), trade_recv_ts(scan, report.duplicated_keys).values(),
    )
    for r, w in zip(results, windows[1:], strict=False):
        r.events, r.lost, r.duplicated = w.events, w.lost, w.duplicated
    return ChaosResult(results, windows, trades=scan.trade_count, frames=scan.read.frames, missing=report.missing,
                       duplicated=report.duplicated, extra=report.extra, problems=report.problems,
                       lines=report_lines(report), closed_gaps=await _closed_gaps(settings))


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
