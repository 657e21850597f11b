"""``dhan up``: the headless stack with a live one-screen status, until Ctrl-C (or ``--duration``).

Order: pre-flight (Redis, MySQL), schema (created when missing), simulator (when no Dhan token), instrument
master into ``dhan_instruments``, then feed, writer and greeks as supervised child processes (restarted on
failure). The screen shows per service its state, rate, lag and errors from the heartbeats, and the rows in
each table. Ctrl-C, SIGTERM or SIGHUP (the terminal closed) stops the feed first, then greeks and writer (each
finishing its batch), then the sim; the children are bound to this process, so they stop too when it is
SIGKILLed (``shared.lifeline``).

One stack per key prefix (:mod:`control.stack.lock`): a second ``dhan up`` refuses in one line naming the
first. Each child counts as started once its own heartbeat (its pid) says running; a child that exits or
does not get there stops the whole stack with one line naming it and why (:mod:`control.stack.readiness`), so a
feed never runs against a simulator that is not this stack's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from control.stack.lock import StackLock
from control.stack.readiness import ChildFailed, wait_ready
from control.stack.status import StackStatus, render_plain, render_rich
from control.stack.supervisor import ChildSpec, ChildState, Supervisor
from feed.instruments.parse import fetch_scrip_master, parse_scrip_master_report
from feed.instruments.store import store_instruments
from shared.bus import connect_redis
from shared.db import SCHEMA_VERSION, check_schema, create_pool, init_schema
from shared.errors import DhanError, SchemaMismatch
from shared.keys import Keys
from shared.lifeline import detach_output, on_hangup, output_lost
from shared.logs import get_logger
from shared.preflight import check
from shared.settings import Settings

HELP = "headless stack: sim (no token), feed, writer, greeks with a live status screen"
STOP_ORDER = ["feed", "greeks", "writer", "sim"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=float, default=None, help="simulator updates per second (DHAN_SIM_RATE)")
    parser.add_argument("--no-greeks", action="store_true", help="do not start the greeks service")
    parser.add_argument("--log-dir", type=Path, default=Path("var/log"), help="child logs (default var/log)")
    parser.add_argument("--plain", action="store_true", help="plain status lines instead of the live screen")


async def wait_http(url: str, deadline_s: float) -> None:
    """Until ``url`` answers 200 (the simulator's /health), or a one-line error after ``deadline_s``."""
    end = time.monotonic() + deadline_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while True:
            try:
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            except (aiohttp.ClientError, OSError, TimeoutError):
                pass
            if time.monotonic() > end:
                raise DhanError(f"the simulator did not answer at {url} within {deadline_s:.0f}s; see var/log/sim.log")
            await asyncio.sleep(0.1)


async def prepare_database(settings: Settings, log: Any) -> None:
    """Create or migrate the schema when it is missing or behind; a current schema is left alone, so the stack
    also runs as the least-privilege application user (which may not CREATE or ALTER)."""
    try:
        pool = await create_pool(settings, maxsize=1)
    except DhanError:
        pool = None  # database missing (or not reachable yet): init_schema creates it or says why
    if pool is not None:
        try:
            await check_schema(pool)
            log.info("schema_ready", version=SCHEMA_VERSION)
            return
        except SchemaMismatch:
            pass
        finally:
            pool.close()
            await pool.wait_closed()
    version = await init_schema(settings)
    log.info("schema_ready", version=version, migrated=True)


async def load_instruments(settings: Settings, log: Any) -> int:
    """Fetch the scrip master (Dhan's or the simulator's) and upsert it into ``dhan_instruments``."""
    text = await fetch_scrip_master(settings.effective_instruments_url)
    report = parse_scrip_master_report(text)
    pool = await create_pool(settings, maxsize=2)
    try:
        n = await store_instruments(pool, report.instruments)
    finally:
        pool.close()
        await pool.wait_closed()
    log.info("instruments_stored", rows=n)
    return n


def _supervisor(args: argparse.Namespace, settings: Settings, unwatched: list[str], stop: asyncio.Event) -> Supervisor:
    """The stack's children; a child whose supervision dies is noted in ``unwatched`` and stops the stack."""
    env: dict[str, str] = {}
    if args.rate is not None:
        env["DHAN_SIM_RATE"] = str(args.rate)

    def watch_failed(child: ChildState, _exc: BaseException) -> None:
        unwatched.append(f"{child.spec.name} ({child.last_error})")
        stop.set()

    sup = Supervisor(args.log_dir, on_watch_failed=watch_failed)
    if settings.use_simulator:
        sup.add(ChildSpec("sim", ("sim",), env=env))
    sup.add(ChildSpec("feed", ("feed",), env=env))
    sup.add(ChildSpec("writer", ("writer",), env=env))
    if not args.no_greeks:
        sup.add(ChildSpec("greeks", ("greeks",), env=env))
    return sup


async def start_stack(sup: Supervisor, settings: Settings, redis: aioredis.Redis, keys: Keys,
                      status: StackStatus, log: Any) -> None:
    """Schema, simulator, instruments, then feed, writer and greeks: each child counts as started once its
    own heartbeat says running (:class:`ChildFailed` otherwise)."""
    status.step = "creating schema"
    await prepare_database(settings, log)
    if settings.use_simulator:
        status.step = "starting simulator"
        await sup.start("sim")
        await wait_ready(sup, "sim", redis, keys)
    status.step = "loading instruments"
    await load_instruments(settings, log)
    services = [n for n in ("feed", "writer", "greeks") if n in sup.children]
    for name in services:
        await sup.start(name)
    for name in services:
        status.step = f"starting {name}"
        await wait_ready(sup, name, redis, keys)
        log.info("child_ready", child=name, pid=sup.children[name].pid)


async def _until_stopped(work: Awaitable[None], stop: asyncio.Event, timeout_s: float | None) -> bool:
    """Run ``work`` unless ``stop`` or ``timeout_s`` comes first (then cancel it): True when it completed."""
    task = asyncio.ensure_future(work)
    stop_wait = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stop_wait}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop_wait.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        return False
    task.result()  # raises what the work raised
    return True


def _on_signals(stop: asyncio.Event) -> None:
    """SIGINT, SIGTERM and SIGHUP (the terminal closed: ``make run``'s window) all stop the stack cleanly."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_hangup(stop.set))


async def run(args: argparse.Namespace, settings: Settings) -> int:
    log = get_logger("up")
    stop = asyncio.Event()
    _on_signals(stop)
    problems = await check(settings)
    if problems:
        raise DhanError(problems[0])
    keys = Keys(settings.redis.key_prefix)
    redis = await connect_redis(settings, decode=True)
    try:
        lock = StackLock(redis, keys)
        await lock.acquire()
        try:
            return await _run_locked(args, settings, redis, keys, lock, stop, log)
        finally:
            await lock.release()
    finally:
        await redis.aclose()


async def _run_locked(args: argparse.Namespace, settings: Settings, redis: aioredis.Redis, keys: Keys,
                      lock: StackLock, stop: asyncio.Event, log: Any) -> int:
    unwatched: list[str] = []  # children whose supervision died: the stack stops, exit 1
    sup = _supervisor(args, settings, unwatched, stop)
    status = StackStatus(settings, keys, sup)
    live = not args.plain and sys.stdout.isatty()
    keeper = asyncio.create_task(lock.keep(stop), name="up.lock")
    try:
        try:
            # --duration bounds the start-up too: a stack that cannot start still ends by itself
            ready = await _until_stopped(start_stack(sup, settings, redis, keys, status, log), stop, args.duration)
        except ChildFailed as exc:  # said once everything is stopped (the finally below)
            raise ChildFailed(exc.name, f"{exc.reason}; stopped everything (logs in {args.log_dir}/)") from None
        if ready:
            status.step = "running"
            await status.open()
            started = time.monotonic()
            try:
                if live:
                    await render_rich(status, stop, args.duration)
                else:
                    await render_plain(status, stop, args.duration)
            except OSError as exc:
                if not output_lost(exc):
                    raise
                # the screen is gone (terminal closed before SIGHUP's handler ran, or the reader of the pipe
                # exited): nobody sees the stack any more, so it stops cleanly as on SIGHUP
                detach_output((1,), terminals_only=False)
                log.warning("output_lost", error=str(exc))
            log.info("stack_stopping", ran_s=round(time.monotonic() - started, 1))
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        status.step = "stopping"
        await sup.stop_all(STOP_ORDER)
        await status.close()
    if lock.lost:
        raise DhanError(lock.lost)
    if unwatched:
        print(f"dhan up: stopped: supervision failed for {unwatched[0]} (see {args.log_dir}/)", file=sys.stderr)
        return 1
    crashed = [c.spec.name for c in sup.children.values() if c.state == "crashed"]
    if crashed:
        print(f"dhan up: stopped; crashed during the run: {', '.join(crashed)} (see {args.log_dir}/)", file=sys.stderr)
    return 0
