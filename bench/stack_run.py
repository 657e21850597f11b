"""One measured run of the whole stack for bench/stack.py: simulator -> feed -> Redis -> writer and greeks ->
MariaDB, every service its own process started from a checkout (``tree``: this one or a reference).

Method (bench/pipeline_e2e.py's): the simulator (this checkout's, a child process) records the send time of
every trade by (segment, id, cumulative volume); this process polls each instrument's last cumulative volume
in ``dhan_trade_summary`` (committed with the ticks) every ``poll_ms``, so send -> commit carries up to that
much polling delay. After the warm-up (the feed's first universe) the window starts: process CPU times
(psutil, user + system, children included) are taken at its start and once the writer has drained after
the burst; the burst is ``seconds`` long, then the simulator stops. Writer lag is the group's lag summed over
its four streams (XINFO GROUPS every 0.25 s); "back to 0" is the time from the simulator's stop until the
lag and the pending entries are both 0. Events are what the feed published (quotes + ticks + depth) in the
window; every process's CPU is divided by them.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import pickle
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomysql
import psutil
import redis.asyncio as aioredis

from bench.feed_throughput import _sim_child
from bench.stack_servers import Servers
from devkit.settings import free_port
from shared.lifeline import parent_env
from shared.settings import Settings

__all__ = ["SERVICES", "Stack", "cpu_seconds"]

SERVICES = ("feed", "writer", "greeks")
STREAMS = ("quotes", "ticks", "depth", "greeks")
SEG_CODES = {"IDX_I": 0, "NSE_EQ": 1, "NSE_FNO": 2, "MCX_COMM": 5}


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (0 when it is gone)."""
    try:
        proc = psutil.Process(pid)
        total = 0.0
        for p in [proc, *proc.children(recursive=True)]:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        return total
    except psutil.Error:
        return 0.0


@dataclass
class Stack:
    """The processes of one run; ``start`` -> ``measure`` -> ``stop``."""

    tree: Path
    servers: Servers
    rate: float
    services: tuple[str, ...] = SERVICES
    extra_env: dict[str, str] = field(default_factory=dict)
    poll_ms: float = 10.0
    profile: Path | None = None  # py-spy flame graphs of feed and writer during the burst go here (SVG)
    profile_format: str = "flamegraph"  # or "raw" (collapsed stacks, .txt)
    keep_logs: Path | None = None  # each service's output (its JSON log and stderr) is copied here at stop

    def __post_init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.prefix, self.db = f"stk{tag}:", f"dhan_stack_{tag}"
        self.port = free_port()
        self.tmp = Path(f"/tmp/dhan-stack-{tag}")
        self.sent_path = self.tmp / "sent.pickle"
        self.env = {**os.environ, "PYTHONPATH": str(self.tree), "DHAN_KEY_PREFIX": self.prefix,
                    "DHAN_SIM_PORT": str(self.port), "DHAN_REDIS_URL": self.servers.redis_url,
                    "DHAN_MYSQL_URL": f"{self.servers.mysql_base}/{self.db}", "DHAN_LOG_LEVEL": "warning",
                    "DHAN_NIFTY_STRIKES": "40", "DHAN_BANKNIFTY_STRIKES": "20", "DHAN_HEARTBEAT_INTERVAL_S": "0.5",
                    "DHAN_HEALTH_PORT_BASE": "0", "DHAN_SPOOL_DIR": str(self.tmp / "spool"),
                    "DHAN_JOURNAL_DIR": str(self.tmp / "journal"), **self.extra_env}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.sim: Any = None

    # --- processes ---
    def start(self, *, market_hours: bool = False) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        init = subprocess.run([sys.executable, "-m", "shared.cli", "db", "init"], env=self.env, cwd=self.tree,
                              capture_output=True, text=True)
        if init.returncode:
            raise RuntimeError(f"dhan db init failed: {init.stderr.strip()[-300:]}")
        settings = Settings(_env_file=None, key_prefix=self.prefix, sim_port=self.port,  # type: ignore[call-arg]
                            redis_url=self.servers.redis_url, sim_rate=self.rate, sim_burst_factor=0.0,
                            sim_market_hours=market_hours, log_level="warning", health_port_base=0)
        ctx = mp.get_context("spawn")
        ready = ctx.Event()
        self.sim = ctx.Process(target=_sim_child, args=(settings, str(self.sent_path), ready, os.getpid()),
                               daemon=True)
        self.sim.start()
        ready.wait(30)
        for name in self.services:
            self.procs[name] = subprocess.Popen([sys.executable, "-m", "shared.cli", name], cwd=self.tree,
                                                env={**self.env, **parent_env()}, stderr=subprocess.STDOUT,
                                                stdout=open(self.tmp / f"{name}.err", "wb"))  # noqa: SIM115

    def pids(self) -> dict[str, int]:
        out = {"sim": int(self.sim.pid)} if self.sim is not None else {}
        out.update({name: p.pid for name, p in self.procs.items()})
        out.update(self.servers.pids)
        return out

    def stop_sim(self) -> None:
        if self.sim is not None and self.sim.is_alive():
            self.sim.terminate()
            self.sim.join(30)

    async def stop(self) -> None:
        for p in self.procs.values():
            p.terminate()
        for p in self.procs.values():
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        self.stop_sim()
        client = aioredis.Redis.from_url(self.servers.redis_url)
        keys = [k async for k in client.scan_iter(match=f"{self.prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        conn = await _connect(self.servers.mysql_base, None)
        async with conn.cursor() as cur:
            await cur.execute(f"DROP DATABASE IF EXISTS `{self.db}`")
        conn.close()
        if self.keep_logs is not None:
            into = self.keep_logs / f"{self.rate:.0f}-{self.db}"
            into.mkdir(parents=True, exist_ok=True)
            for log in self.tmp.glob("*.err"):
                shutil.copy(log, into / f"{log.stem}.log")
        subprocess.run(["rm", "-rf", str(self.tmp)], check=False)

    def failed(self) -> str | None:
        """A service that exited early, with the last line of its output (its log's last event or a traceback)."""
        for name, p in self.procs.items():
            if p.poll() is not None:
                lines = (self.tmp / f"{name}.err").read_text(errors="replace").strip().splitlines()
                return f"{name} exited {p.returncode}: {lines[-1] if lines else ''}"
        return None

    # --- readings ---
    async def warm_up(self, client: aioredis.Redis, timeout_s: float = 60.0) -> None:
        """Until the feed centred its first universe (and a second more), or a service died."""
        t_end = time.monotonic() + timeout_s
        while time.monotonic() < t_end:
            if (why := self.failed()) is not None:
                raise RuntimeError(why)
            if int((await client.hget(f"{self.prefix}svc:feed", "universe_changes")) or 0) >= 1:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)

    async def published(self, client: aioredis.Redis) -> tuple[int, int]:
        """(events the feed published, frames it decoded), from its heartbeat."""
        fields = ("published_quotes", "published_ticks", "published_depth", "frames")
        vals = [int(v or 0) for v in await client.hmget(f"{self.prefix}svc:feed", *fields)]
        return sum(vals[:3]), vals[3]

    async def writer_lag(self, client: aioredis.Redis) -> tuple[int, int]:
        """(lag, pending) of group ``writer`` summed over its streams."""
        lag = pending = 0
        for kind in STREAMS:
            try:
                groups = await client.xinfo_groups(f"{self.prefix}{kind}")
            except Exception:  # no stream yet
                continue
            for g in groups:
                name = g["name"].decode() if isinstance(g["name"], bytes) else g["name"]
                if name == "writer":
                    lag += int(g.get("lag") or 0)
                    pending += int(g.get("pending") or 0)
        return lag, pending

    def latencies(self, seen: dict[tuple[int, int], list[tuple[int, float]]], t0: float, t1: float) -> list[float]:
        """Send -> first seen committed, ms, for trades sent in [t0, t1] (wall clock)."""
        with open(self.sent_path, "rb") as fh:
            sent_at: dict[tuple[int, int, int], float] = pickle.load(fh)
        lat: list[float] = []
        for (seg, sid, vol), sent in sent_at.items():
            if not t0 <= sent <= t1:
                continue
            for max_vol, first_seen in seen.get((seg, sid), []):
                if max_vol >= vol:
                    if first_seen >= sent:
                        lat.append((first_seen - sent) * 1000)
                    break
        return sorted(lat)


async def _connect(mysql_base: str, db: str | None) -> Any:
    s = Settings(_env_file=None, mysql_url=f"{mysql_base}/{db or 'mysql'}")  # type: ignore[call-arg]
    return await aiomysql.connect(**{**s.mysql.target.connect_kwargs(with_db=db is not None), "autocommit": True})


async def poll_commits(cur: Any, seen: dict[tuple[int, int], list[tuple[int, float]]]) -> None:
    """One poll of every instrument's last committed cumulative volume, stamped with the time seen."""
    await cur.execute("SELECT exchange_segment, security_id, MAX(last_cum_volume) FROM dhan_trade_summary "
                      "GROUP BY exchange_segment, security_id")
    now = time.time()
    for seg, sid, vol in await cur.fetchall():
        hist = seen.setdefault((SEG_CODES.get(seg, -1), int(sid)), [])
        if not hist or hist[-1][0] < vol:
            hist.append((int(vol), now))


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def profile(stack: Stack, seconds: float) -> list[subprocess.Popen[bytes]]:
    """py-spy on the feed and the writer for the burst (``--nonblocking``: the target is never paused)."""
    if stack.profile is None:
        return []
    stack.profile.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    ext = "svg" if stack.profile_format == "flamegraph" else "txt"
    return [subprocess.Popen([str(spy), "record", "--nonblocking", "--rate", "200", "--duration", str(int(seconds)),
                              "--format", stack.profile_format, "--pid", str(stack.procs[name].pid), "--output",
                              str(stack.profile / f"{name}-{stack.rate:.0f}.{ext}")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for name in ("feed", "writer")]


async def measure_rate(stack: Stack, seconds: float, drain_timeout_s: float = 60.0) -> dict[str, Any]:
    """The burst: ``seconds`` at the stack's rate, then the simulator stops and the writer drains."""
    client = aioredis.Redis.from_url(stack.servers.redis_url)
    conn = await _connect(stack.servers.mysql_base, stack.db)
    seen: dict[tuple[int, int], list[tuple[int, float]]] = {}
    try:
        await stack.warm_up(client)
        pids = stack.pids()
        cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        ev0, fr0 = await stack.published(client)
        spies = profile(stack, seconds)
        t0, t0_wall, max_lag, next_lag = time.monotonic(), time.time(), 0, 0.0
        async with conn.cursor() as cur:
            while time.monotonic() - t0 < seconds:
                await poll_commits(cur, seen)
                if time.monotonic() >= next_lag:
                    next_lag = time.monotonic() + 0.25
                    max_lag = max(max_lag, (await stack.writer_lag(client))[0])
                await asyncio.sleep(stack.poll_ms / 1000)
            t1_wall, burst_s = time.time(), time.monotonic() - t0
            _, fr1 = await stack.published(client)
            sim_cpu = cpu_seconds(pids["sim"])  # gone once stopped
            # stopped on a thread while the commits are still polled: a slow exit of the simulator must not
            # delay when the last trades are seen committed (it once added 15 s to the p99 of a run)
            stopper = asyncio.ensure_future(asyncio.to_thread(stack.stop_sim))
            t_stop = time.monotonic()
            drain_s = float("nan")
            while time.monotonic() - t_stop < drain_timeout_s:
                await poll_commits(cur, seen)
                lag, pending = await stack.writer_lag(client)
                max_lag = max(max_lag, lag)
                if lag == 0 and pending == 0 and stopper.done():
                    drain_s = time.monotonic() - t_stop
                    break
                await asyncio.sleep(0.02)
            await stopper
            cpu1 = {name: cpu_seconds(pid) for name, pid in pids.items()} | {"sim": sim_cpu}
            await asyncio.sleep(0.6)  # the feed's next heartbeat carries its last counts
            ev1, _ = await stack.published(client)
    finally:
        conn.close()
        await client.aclose()
    for spy in spies:
        spy.wait(30)
    lat = stack.latencies(seen, t0_wall, t1_wall)
    events = max(1, ev1 - ev0)
    out: dict[str, Any] = {"frames_per_s": (fr1 - fr0) / burst_s, "events_per_s": events / burst_s,
                           "p50_ms": percentile(lat, 0.5), "p99_ms": percentile(lat, 0.99), "trades": len(lat),
                           "lag_max": max_lag, "lag_zero_s": drain_s}
    out["cpu_per_1m"] = {name: (cpu1[name] - cpu0[name]) / events * 1e6 for name in pids}
    return out


async def measure_idle(stack: Stack, seconds: float) -> dict[str, Any]:
    """No events: every process's share of a core over ``seconds`` after the warm-up."""
    client = aioredis.Redis.from_url(stack.servers.redis_url)
    try:
        await stack.warm_up(client)
        await asyncio.sleep(2.0)  # the snapshot on subscribe written away
        pids = stack.pids()
        cpu0, t0 = {name: cpu_seconds(pid) for name, pid in pids.items()}, time.monotonic()
        ev0, _ = await stack.published(client)
        await asyncio.sleep(seconds)
        cpu1, el = {name: cpu_seconds(pid) for name, pid in pids.items()}, time.monotonic() - t0
        ev1, _ = await stack.published(client)
    finally:
        await client.aclose()
    return {"core_pct": {name: (cpu1[name] - cpu0[name]) / el * 100 for name in pids}, "events": ev1 - ev0}
