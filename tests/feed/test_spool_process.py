"""Real processes: ``dhan feed`` started against ``dhan sim`` with a damaged spool file left by an earlier run
quarantines the file, publishes everything else, stays healthy, and stops with exit code 0."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis

from control.stack.up import wait_http
from feed.publisher import KIND_TICKS
from feed.spool import REC
from shared.keys import Keys
from tests.conftest import eventually, free_port, make_settings

ROOT = Path(__file__).resolve().parents[2]


def _marker(n: int) -> bytes:
    return orjson.dumps({"v": 1, "seg": "NSE_FNO", "sid": 999_000 + n, "ltp": 1.0, "qty": 1, "marker": n})


def _records(items: list[tuple[int, bytes]]) -> bytes:
    return b"".join(REC.pack(k, len(p)) + p for k, p in items)


async def _start(args: list[str], env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with open(log, "ab") as out:  # noqa: ASYNC230 (a test's log file, opened once)
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shared.cli", *args, cwd=ROOT, env=env, stdout=out,
            stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL)


async def _health(port: int) -> int | None:
    try:
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/health") as r:
            return r.status
    except aiohttp.ClientError:
        return None


@pytest.mark.timeout(180)
async def test_feed_with_a_damaged_spool_file_quarantines_it_and_stays_healthy(tmp_path: Path) -> None:
    settings = make_settings(spool_dir=tmp_path / "spool", journal_dir=tmp_path / "journal")
    spool = tmp_path / "spool"
    spool.mkdir()
    markers = [(KIND_TICKS, _marker(n)) for n in range(6)]
    # what the issue saw: a record with an unknown kind byte between good ones; then a second, intact file
    (spool / "spool-00000000000000000001-000001.bin").write_bytes(
        _records(markers[:2]) + REC.pack(7, 10) + b'{"x":true}' + _records(markers[2:4]))
    (spool / "spool-00000000000000000002-000001.bin").write_bytes(_records(markers[4:]))
    feed_health_port = free_port()
    env = {**os.environ, "DHAN_REDIS_URL": settings.redis.url.get_secret_value(),
           "DHAN_KEY_PREFIX": settings.redis.key_prefix, "DHAN_SIM_PORT": str(settings.sim.port),
           "DHAN_SIM_RATE": "300",
           "DHAN_NIFTY_STRIKES": "2", "DHAN_BANKNIFTY_STRIKES": "1", "DHAN_SPOOL_DIR": str(spool),
           "DHAN_JOURNAL_DIR": str(tmp_path / "journal"), "DHAN_HEARTBEAT_INTERVAL_S": "0.2",
           "DHAN_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"}
    client = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
    keys = Keys(settings.redis.key_prefix)
    sim = await _start(["sim"], {**env, "DHAN_HEALTH_PORT_BASE": "0"}, tmp_path / "sim.log")
    feed: asyncio.subprocess.Process | None = None
    try:
        await wait_http(f"http://127.0.0.1:{settings.sim.port}/health", 60)
        # the feed's /health on a free port (offset 1 from the base)
        feed = await _start(["feed"], {**env, "DHAN_HEALTH_PORT_BASE": str(feed_health_port - 1)},
                            tmp_path / "feed.log")
        await eventually(lambda: _health_is(feed_health_port, 200), timeout_s=60, message="feed healthy")
        statuses: list[int | None] = []

        async def markers_and_trades() -> bool:
            statuses.append(await _health(feed_health_port))
            payloads = [f[b"d"] for _, f in await client.xrange(keys.ticks)]
            return {p for _, p in markers} <= set(payloads) and len(payloads) > 50

        await eventually(markers_and_trades, timeout_s=60, interval_s=0.1, message="spool sent, trades flowing")
        assert set(statuses) == {200}, statuses  # healthy all along: the damaged record blocked nothing
        hb: dict[bytes, bytes] = {}

        async def heartbeat_with_spool_counts() -> bool:
            # the next heartbeat, not one read at a random moment: on a busy machine the hash can be between
            # two heartbeats (or, past its TTL, briefly gone) just when the trades come in
            hb.update(await client.hgetall(keys.svc("feed")))
            return b"spool_quarantined" in hb

        await eventually(heartbeat_with_spool_counts, timeout_s=30, message="a heartbeat with the spool counts")
        assert hb[b"spool_quarantined"] == b"1" and hb[b"spool_bad_records"] == b"1" and hb[b"spool_files"] == b"0"
        ticks = [f[b"d"] for _, f in await client.xrange(keys.ticks)]
        assert [t for t in ticks if b'"marker"' in t] == [p for _, p in markers]  # once each, in order
        assert [p.name for p in (spool / "quarantine").iterdir()] == ["spool-00000000000000000001-000001.bin"]
        feed.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(feed.wait(), 30) == 0
        log = (tmp_path / "feed.log").read_text()
        assert '"event":"spool_damaged"' in log and "Traceback" not in log
    finally:
        for proc in (feed, sim):
            if proc is not None and proc.returncode is None:
                proc.kill()
                await proc.wait()
        found = [k async for k in client.scan_iter(match=f"{settings.redis.key_prefix}*")]
        if found:
            await client.delete(*found)
        await client.aclose()


async def _health_is(port: int, status: int) -> bool:
    return await _health(port) == status
