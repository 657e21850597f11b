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

A fault is one async function ``fault(env) -> None`` in :data:`~control.chaos.faults.FAULTS`. A Dhan-side
fault's recovery counts from the injection (it includes the reconnect), and the next fault waits until the
feed's new connection is a good session (``feed.connection.GOOD_SESSION_S``), so faults do not compound the
feed's reconnect backoff. Each fault's window runs from just before it is injected to the next fault's
start (the last one's to its recovery); :mod:`control.chaos.windows` counts each journaled, lost and
duplicated trade in the window holding its frame's journal receive time. :func:`run_chaos` returns one
:class:`~control.chaos.report.FaultResult` per fault (events, lost, duplicated, time to recover, alerts fired
and cleared), the rows before the first and after the last fault, and the whole-run verification
(:meth:`~control.chaos.report.ChaosResult.table`).

This module is the run's composition root: it builds the run's settings and :class:`~shared.keys.Keys` once
and hands them to the recording (:mod:`control.chaos.source`) and the stack under attack
(:mod:`control.chaos.target`); :mod:`control.chaos.report` verifies the run.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from pydantic import SecretStr

from control.chaos.faults import FAULTS
from control.chaos.report import ChaosResult, FaultResult, verify_run
from control.chaos.servers import ChaosMariaDB, ChaosRedis, free_port
from control.chaos.source import Recording, ReplayWatch, journal_files, read_recording, record_session, replay_speed
from control.chaos.target import (
    RECOVER_TIMEOUT_S,
    STOP_ORDER,
    ChaosEnv,
    RecordingTooShort,
    child_env,
    stack_services,
    stack_supervisor,
)
from control.stack.up import load_instruments, prepare_database, wait_http
from shared.keys import Keys
from shared.logs import add_secrets, get_logger
from shared.settings import Settings

__all__ = ["RecordingTooShort", "run_chaos"]

READY_S = 60.0  # the replay server answering


@dataclass(frozen=True)
class _Plan:
    """One run's faults over one recording."""

    faults: list[str]
    recording: Recording
    speed: float         # dhan replay --speed
    too_short: str       # the RecordingTooShort line; formatted with {done} and {total} faults
    min_trades: int      # trades stored before the first fault
    on_result: Callable[[FaultResult], None] | None

    def short_after(self, done: int) -> str:
        return self.too_short.format(done=done, total=len(self.faults))


async def run_chaos(settings: Settings, work: Path, faults: list[str], *, journals: list[Path] | None = None,
                    record_frames: int = 8_000, record_rate: float = 3000.0, rate: float = 220.0,
                    min_trades: int = 200, private_mariadb: bool = False,
                    on_result: Callable[[FaultResult], None] | None = None) -> ChaosResult:
    """Replay a recording through the stack in ``work``, apply ``faults`` in order, let the replay serve the
    whole recording, stop the stack cleanly, verify its journal against MySQL, per fault window.

    ``journals``: the recording (journal files or folders); None: record ``record_frames`` frames first, the
    simulator at ``record_rate`` updates/s, into ``work/recording``. ``rate``: replay pace in frames/s."""
    log = get_logger("chaos")
    await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
    mariadb: ChaosMariaDB | None = None
    update: dict[str, Any] = {"sim_port": free_port(), "key_prefix": f"chaos{uuid.uuid4().hex[:8]}:"}
    if settings.sim.token is None:  # POST /fault needs one (feed.sim.guard)
        update["sim_token"] = SecretStr(secrets.token_urlsafe(24))
        add_secrets([update["sim_token"].get_secret_value()])
    try:
        if private_mariadb:
            mariadb = ChaosMariaDB(work)
            await mariadb.install()
            await mariadb.start()
            update["mysql_url"] = SecretStr(mariadb.url("dhan_chaos"))
        settings = settings.replaced(**update)
        keys = Keys(settings.redis.key_prefix)
        await prepare_database(settings, log)
        if journals is None:
            recording = await _record(settings, keys, work, record_frames, record_rate, log)
            raise_hint = "raise --record-frames or lower --rate"
        else:
            recording = await asyncio.to_thread(read_recording, journal_files(journals))
            raise_hint = "replay a longer --journal or lower --rate"
        plan = _plan(faults, recording, rate, raise_hint, min_trades, on_result, log)
        return await _run_stack(settings, keys, work, plan, mariadb, log)
    finally:
        if mariadb is not None:
            await mariadb.kill()


def _plan(faults: list[str], recording: Recording, rate: float, raise_hint: str, min_trades: int,
          on_result: Callable[[FaultResult], None] | None, log: Any) -> _Plan:
    speed = replay_speed(rate, recording)
    log.info("chaos_replay", frames=recording.frames, recorded_per_s=round(recording.frames_per_s, 1),
             rate=rate, speed=round(speed, 4), expected_s=round(recording.duration_s / speed, 1))
    too_short = ("the recording ran out after {done} of {total} faults (" + f"{recording.frames} frames at "
                 f"{rate:g}/s last about {recording.duration_s / speed:.0f}s); {raise_hint}")
    return _Plan(faults, recording, speed, too_short, min_trades, on_result)


async def _record(settings: Settings, keys: Keys, work: Path, frames: int, sim_rate: float, log: Any) -> Recording:
    """``frames`` frames of sim -> feed journaled into ``work/recording``, on a Redis of its own."""
    redis = ChaosRedis(work, "recording-redis", aof=False)
    await redis.start()
    try:
        env = child_env(settings, redis.url, work / "recording", work / "recording-spool", sim_rate)
        return await record_session(settings.replaced(redis_url=SecretStr(redis.url)), keys,
                                    work / "recording", env, frames, log)
    finally:
        await redis.kill()


async def _run_stack(settings: Settings, keys: Keys, work: Path, plan: _Plan, mariadb: ChaosMariaDB | None,
                     log: Any) -> ChaosResult:
    """The stack on a private Redis, the faults, a clean stop; then the verification."""
    redis = ChaosRedis(work)
    await redis.start()
    settings = settings.replaced(redis_url=SecretStr(redis.url))
    services = stack_services(plan.faults)
    sup = stack_supervisor(settings, work, plan.recording, plan.speed, services)
    client = aioredis.Redis.from_url(redis.url, socket_connect_timeout=1, socket_timeout=5)
    watch = ReplayWatch(f"http://{settings.sim.host}:{settings.sim.port}/health")
    env = ChaosEnv(settings, keys, redis, sup, work, client, mariadb, replay=watch)
    try:
        started = await _start(env, services, plan, log)
        results = await _apply_faults(env, services, plan, log)
        served = await _serve_to_end(env, plan, started)
    finally:
        await sup.stop_all(STOP_ORDER)
        await client.aclose()
        await redis.kill()
    out = await verify_run(settings, work / "journal", results)
    out.recording, out.speed, out.replay = plan.recording, plan.speed, served
    return out


async def _start(env: ChaosEnv, services: Sequence[str], plan: _Plan, log: Any) -> float:
    """The replay, the instrument master it serves, the services; trades stored. When the services started
    (monotonic)."""
    assert env.replay is not None
    await env.sup.start("replay")
    await wait_http(env.replay.url, READY_S)
    await load_instruments(env.settings, log)  # the simulator's listing recorded in the journal's header
    started = time.monotonic()
    for name in services:
        await env.sup.start(name)
    env.too_short = plan.short_after(0)
    await env.recovered(services)
    await env.wait(lambda: env.more_ticks_than(plan.min_trades), f"{plan.min_trades} trades stored")
    return started


async def _apply_faults(env: ChaosEnv, services: Sequence[str], plan: _Plan, log: Any) -> list[FaultResult]:
    results: list[FaultResult] = []
    for i, name in enumerate(plan.faults):
        env.too_short = plan.short_after(i)
        result = await _inject(env, services, name, log)
        results.append(result)
        if plan.on_result is not None:
            plan.on_result(result)
    env.too_short = None
    return results


async def _inject(env: ChaosEnv, services: Sequence[str], name: str, log: Any) -> FaultResult:
    """One fault, then its recovery; the alerts it raised and cleared."""
    await env.settle()
    await env.check_source()
    log.info("chaos_fault", fault=name)
    alerts_from = await env.alerts_last_id()
    start_ts = time.time()
    env.injected_at = None
    await FAULTS[name](env)
    t0 = env.injected_at or time.monotonic()
    await env.recovered(services)
    recovered_ts = time.time()
    fired, resolved = await env.alerts_since(alerts_from)
    return FaultResult(name, start_ts, recovered_ts, time.monotonic() - t0, fired, resolved)


async def _serve_to_end(env: ChaosEnv, plan: _Plan, started: float) -> dict[str, Any]:
    """The replay serves the rest of the recording, then a clean stop: the feed (its journal flushed), the
    replay, the writer once it has drained what the feed published. The replay server's last ``/health``."""
    watch = env.replay
    assert watch is not None

    async def replay_finished() -> bool:
        await watch.poll()
        return watch.finished

    left_s = plan.recording.duration_s / plan.speed - (time.monotonic() - started) + RECOVER_TIMEOUT_S
    await env.wait(replay_finished, "the replay served the whole recording", max(left_s, RECOVER_TIMEOUT_S))
    served = dict(watch.stats)
    await env.sup.stop("feed")
    await env.sup.stop("replay")
    await env.wait(env.drained, "writer drained the streams")
    await env.sup.stop("writer")
    return served
