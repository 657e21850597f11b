"""``dhan up``: the headless stack with a live one-screen status, until Ctrl-C (or ``--duration``).

Order: pre-flight (Redis, MySQL), schema (created when missing), simulator (when no Dhan token), instrument
master into ``dhan_instruments``, then feed, writer and greeks as supervised child processes (restarted on
failure). The screen shows per service its state, rate, lag and errors from the heartbeats, and the rows in
each table. Ctrl-C stops the feed first, then greeks and writer (each finishing its batch), then the sim.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from control.status import StackStatus, render_plain, render_rich
from control.supervisor import ChildSpec, ChildState, Supervisor
from shared.errors import DhanError
from shared.logs import get_logger
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
    from shared.db import SCHEMA_VERSION, check_schema, create_pool, init_schema
    from shared.errors import DhanError, SchemaMismatch

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
    from feed.instruments import fetch_scrip_master, parse_scrip_master_report
    from feed.instruments_db import store_instruments
    from shared.db import create_pool

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


async def start_stack(settings: Settings, sup: Supervisor, status: StackStatus, log: Any) -> None:
    """Schema, simulator (no token), instrument master, then feed, writer and greeks, in that order."""
    status.step = "creating schema"
    await prepare_database(settings, log)
    if settings.use_simulator:
        status.step = "starting simulator"
        await sup.start("sim")
        await wait_http(f"http://{settings.sim_host}:{settings.sim_port}/health", 30)
    status.step = "loading instruments"
    await load_instruments(settings, log)
    for name in ("feed", "writer", "greeks"):
        if name in sup.children:
            status.step = f"starting {name}"
            await sup.start(name)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    from shared.preflight import check

    log = get_logger("up")
    problems = await check(settings)
    if problems:
        raise DhanError(problems[0])
    env: dict[str, str] = {}
    if args.rate is not None:
        env["DHAN_SIM_RATE"] = str(args.rate)
    stop = asyncio.Event()
    unwatched: list[str] = []  # children whose supervision died: the stack stops, exit 1

    def watch_failed(child: ChildState, exc: BaseException) -> None:
        unwatched.append(f"{child.spec.name} ({child.last_error})")
        stop.set()

    sup = Supervisor(args.log_dir, on_watch_failed=watch_failed)
    if settings.use_simulator:
        sup.add(ChildSpec("sim", ("sim",), env=env))
    sup.add(ChildSpec("feed", ("feed",), env=env))
    sup.add(ChildSpec("writer", ("writer",), env=env))
    if not args.no_greeks:
        sup.add(ChildSpec("greeks", ("greeks",), env=env))

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    status = StackStatus(settings, sup)
    live = not args.plain and sys.stdout.isatty()
    try:
        await start_stack(settings, sup, status, log)
        status.step = "running"
        await status.open()
        started = time.monotonic()
        if live:
            await render_rich(status, stop, args.duration)
        else:
            await render_plain(status, stop, args.duration)
        log.info("stack_stopping", ran_s=round(time.monotonic() - started, 1))
    finally:
        status.step = "stopping"
        await sup.stop_all(STOP_ORDER)
        await status.close()
    if unwatched:
        print(f"dhan up: stopped: supervision failed for {unwatched[0]} (see {args.log_dir}/)", file=sys.stderr)
        return 1
    crashed = [c.spec.name for c in sup.children.values() if c.state == "crashed"]
    if crashed:
        print(f"dhan up: stopped; crashed during the run: {', '.join(crashed)} (see {args.log_dir}/)", file=sys.stderr)
    return 0
