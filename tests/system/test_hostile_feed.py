"""A hostile feed: simulator (``hostile`` fault) -> feed -> writer -> greeks -> viz models, on the real stack.

Every service keeps running through two bursts of bad values; the feed counts each bad value by kind exactly
as the simulator says it sent them (heartbeat and ``/metrics``); nothing bad reaches MySQL (prices within
0..PRICE_MAX, exchange times near the session, every trade a rise of cumulative volume, no dead letter) nor
a quote board or an option chain; and the journal, raw hostile frames included, replays to the very trades
MySQL holds (``dhan verify``).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis

from control.audit.journal_scan import scan_journal
from control.audit.verify import check
from feed.greeks.service import GreeksService
from feed.prices import BAD_VALUE_KINDS
from feed.service import FeedService
from feed.sim.hostile import HOSTILE_OI
from feed.sim.server import SimServer
from shared.clock import to_dhan_epoch
from shared.db import init_schema
from shared.events import PRICE_MAX
from shared.keys import Keys
from shared.settings import Settings
from tests.conftest import eventually
from tests.writer.conftest import query
from viz.models.board import BoardModel
from viz.models.chain import SIDE_FIELDS, ChainModel, OptionContract
from writer.service import WriterService

PRICE_COLUMNS = {
    "dhan_quotes": ("ltp", "atp", "open", "close", "high", "low", "prev_close", "bid", "ask"),
    "dhan_ticks": ("ltp", "bid", "ask"),
    "dhan_depth": tuple(f"{s}_price_{i}" for s in ("bid", "ask") for i in range(1, 6)),
    "dhan_trade_summary": ("open", "high", "low", "close", "vwap"),
    "dhan_options_greeks": ("price", "underlying_price", "strike"),
}


def gauges(metrics_text: str) -> dict[str, float]:
    """``/metrics`` text -> {metric name: value} (labels dropped: one service, one instance)."""
    out = {}
    for line in metrics_text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name.split("{", 1)[0]] = float(value)
    return out


@asynccontextmanager
async def stack(settings: Settings) -> AsyncIterator[tuple[SimServer, FeedService, WriterService, GreeksService]]:
    sim = SimServer(settings)
    await sim.start()
    feed, writer, greeks = FeedService(settings), WriterService(settings), GreeksService(settings)
    feed.health_port = 0  # /metrics on a free port
    tasks = [asyncio.create_task(s.serve(), name=s.name) for s in (feed, writer, greeks)]
    try:
        yield sim, feed, writer, greeks
    finally:
        for s in (feed, writer, greeks):
            s.stop("test")
        await asyncio.gather(*tasks, return_exceptions=True)
        await sim.stop()


async def idle(redis: aioredis.Redis, keys: Keys) -> bool:
    """The writer and greeks groups have read and acknowledged everything."""
    for kind in ("quotes", "ticks", "depth", "greeks"):
        for g in await redis.xinfo_groups(keys.stream(kind)):
            if g["pending"] or g.get("lag"):
                return False
    return True


async def hostile_burst(sim: SimServer, feed: FeedService, writer: WriterService) -> None:
    ticks_before = writer.stats.rows["ticks"]
    assert await sim.inject_fault("hostile", count=3) >= 1
    expected = dict.fromkeys(BAD_VALUE_KINDS, 0) | dict(sim.hostile_sent)
    await eventually(lambda: feed.normaliser.bad_values == expected, timeout_s=30,
                     message=f"feed counted {expected}")
    # and the data keeps flowing to MySQL
    await eventually(lambda: writer.stats.rows["ticks"] > ticks_before + 20, timeout_s=60, message="ticks flow")


async def check_mysql(settings: Settings) -> None:
    for table, columns in PRICE_COLUMNS.items():
        for col in columns:
            (lo, hi), = await query(settings, f"SELECT MIN({col}), MAX({col}) FROM {table}")
            assert lo is None or 0 <= lo <= hi < PRICE_MAX, (table, col, lo, hi)
    now = to_dhan_epoch(time.time())
    (lo, hi, days), = await query(settings, "SELECT MIN(exchange_ts), MAX(exchange_ts), "
                                            "COUNT(DISTINCT trade_date) FROM dhan_ticks")
    assert now - 2 * 86_400 < lo <= hi < now + 86_400 and days == 1
    (lo, hi), = await query(settings, "SELECT MIN(exchange_ts), MAX(exchange_ts) FROM dhan_quotes "
                                      "WHERE exchange_ts > 0")
    assert now - 2 * 86_400 < lo <= hi < now + 86_400
    rows = await query(settings, "SELECT exchange_segment, security_id, cum_volume, qty FROM dhan_ticks "
                                 "ORDER BY exchange_segment, security_id, cum_volume")
    for prev, row in itertools.pairwise(rows):
        if prev[:2] == row[:2]:  # every trade is the rise of cumulative volume since the one before
            assert row[3] == row[2] - prev[2] > 0, (prev, row)
    (bad_greeks,), = await query(settings, "SELECT COUNT(*) FROM dhan_options_greeks WHERE NOT (iv IS NULL OR "
                                           "(iv > 0 AND iv <= 5)) OR NOT (delta IS NULL OR delta BETWEEN -1 AND 1)")
    assert bad_greeks == 0
    (n_greeks,), = await query(settings, "SELECT COUNT(*) FROM dhan_options_greeks WHERE iv IS NOT NULL")
    assert n_greeks > 0


def clean_text(text: str) -> bool:
    low = text.lower()
    return "nan" not in low and "inf" not in low and "e+" not in low


async def check_viz(redis: aioredis.Redis, keys: Keys) -> None:
    universe = {k.decode(): orjson.loads(v) for k, v in (await redis.hgetall(keys.universe)).items()}
    quotes = [orjson.loads(f[b"d"]) for _, f in await redis.xrange(keys.quotes)]
    greeks = [orjson.loads(f[b"d"]) for _, f in await redis.xrange(keys.greeks)]
    assert HOSTILE_OI in {q["oi"] for q in quotes}  # OI above 2^31 went through whole
    board = BoardModel()
    for key, rec in universe.items():
        board.add_instrument(key, rec["symbol"], segment=rec["seg"], role=rec["role"], tick_size=rec["tick_size"])
    options = [rec for rec in universe.values() if rec["option_type"] in ("CE", "PE")]
    near = min(rec["expiry"] for rec in options if rec["underlying"] == "NIFTY")
    chain = ChainModel("NIFTY", near)
    chain.set_contracts([OptionContract(f"{r['seg']}:{r['sid']}", float(r["strike"]), r["option_type"])
                         for r in options if r["underlying"] == "NIFTY" and r["expiry"] == near])
    for q in quotes:
        key = f"{q['seg']}:{q['sid']}"
        board.apply(key, q)
        chain.apply_quote(key, q)
    for g in greeks:
        chain.apply_greeks(f"{g['seg']}:{g['sid']}", g)
    shown = [text for key in board.order for text, _, _ in board.view(key, 0.5)]
    assert shown and all(clean_text(t) for t in shown), [t for t in shown if not clean_text(t)]
    assert any(row.ltp for row in board.rows.values())
    values = [side.value(name) for side in chain.sides.values() for name, _ in SIDE_FIELDS]
    assert all(v is None or (math.isfinite(v) and abs(v) < PRICE_MAX) for v in values)
    assert any(side.iv is not None for side in chain.sides.values())


async def test_hostile_feed_every_service_keeps_running_and_nothing_bad_gets_through(
    db_settings: Settings, tmp_path: Path
) -> None:
    settings = db_settings.replaced(
        include_nifty50=False, nifty_strikes=2, banknifty_strikes=1, sim_rate=300.0,
        writer_batch_ms=20, journal_dir=tmp_path / "journal", spool_dir=tmp_path / "spool"
    )
    await init_schema(settings)
    keys = Keys(settings.redis.key_prefix)
    redis: aioredis.Redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
    try:
        async with stack(settings) as (sim, feed, writer, greeks):
            await eventually(lambda: greeks.greeks > 0 and writer.stats.rows["ticks"] > 0, timeout_s=60,
                             message="greeks and ticks flowing")
            await hostile_burst(sim, feed, writer)
            await hostile_burst(sim, feed, writer)
            total = feed.normaliser.bad_total
            assert total == sum(sim.hostile_sent.values()) and feed.frame_errors == 0
            await eventually(lambda: feed.last_heartbeat.get("bad_values") == total, timeout_s=10)
            assert all(feed.last_heartbeat[f"bad_values_{k}"] == n for k, n in sim.hostile_sent.items())
            assert feed.health is not None
            async with aiohttp.ClientSession() as http, http.get(
                    f"http://127.0.0.1:{feed.health.port}/metrics") as resp:
                metrics = gauges(await resp.text())
            assert metrics["dhan_bad_values"] == total
            assert all(metrics[f"dhan_bad_values_{k}"] == n for k, n in sim.hostile_sent.items())
            for svc in (feed, writer, greeks):
                assert svc.state == "running" and svc.exit_error is None, svc.name
            journal = feed.journal.path
            feed.stop("test")
            await eventually(lambda: feed.state == "stopped", timeout_s=30)
            await eventually(lambda: idle(redis, keys), timeout_s=60, message="writer and greeks drained")
            assert writer.stats.dead_letters == 0 and writer.state == greeks.state == "running"
        await check_mysql(settings)
        await check_viz(redis, keys)
        # the journal holds the raw frames, hostile ones included, and replays to the very trades in MySQL
        assert journal is not None
        scan = scan_journal([journal])
        report = await check(settings, scan)
        assert report.problems == 0, report.examples
        assert scan.trade_count == report.found > 0
    finally:
        found: list[Any] = [k async for k in redis.scan_iter(match=f"{settings.redis.key_prefix}*", count=1000)]
        if found:
            await redis.delete(*found)
        await redis.aclose()
