"""Writer fixtures: a private database with the schema, a Redis client on the test prefix, event builders
shaped as the feed publishes them (shared/events.py), and helpers to run a writer to completion."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from shared.candles_sql import CANDLE_COLUMNS, candles_from_ticks
from shared.clock import IST_OFFSET_S
from shared.db import connect, init_schema
from shared.events import EVENT_FIELD
from shared.keys import Keys
from shared.settings import Settings
from tests.conftest import eventually
from writer.service import WriterService

# 2026-11-25 10:00:00 IST as Dhan sends it (IST wall time counted as UTC).
BASE_TS = 1_795_600_800 - 1_795_600_800 % 86_400 + 10 * 3600
RECV_BASE = BASE_TS - IST_OFFSET_S + 0.25


def tick(
    sid: int,
    volume: int,
    *,
    ltp: float = 100.0,
    qty: int = 1,
    ts: int = BASE_TS,
    recv_ts: float | None = None,
    seg: str = "NSE_FNO",
    oi: int | None = 1000,
    side: str = "B",
    bid: float | None = None,
    ask: float | None = None,
    ltq: int | None = None,
) -> dict[str, Any]:
    return {
        "v": 1, "seg": seg, "sid": sid, "ltp": ltp, "qty": qty, "ltq": qty if ltq is None else ltq,
        "volume": volume, "exchange_ts": ts, "oi": oi, "side": side,
        "bid": bid if bid is not None else round(ltp - 0.05, 2),
        "ask": ask if ask is not None else round(ltp + 0.05, 2),
        "recv_ts": recv_ts if recv_ts is not None else ts - IST_OFFSET_S + 0.123456,
    }  # fmt: skip


def quote(
    sid: int,
    *,
    ltp: float = 100.0,
    volume: int = 10,
    ts: int = BASE_TS,
    recv_ts: float | None = None,
    seg: str = "NSE_FNO",
    **extra: Any,
) -> dict[str, Any]:
    ev = {
        "v": 1, "seg": seg, "sid": sid, "ltp": ltp, "ltq": 1, "exchange_ts": ts, "atp": ltp, "volume": volume,
        "tsq": 500, "tbq": 700, "oi": 1000, "oi_high": 1100, "oi_low": 900, "open": ltp, "close": ltp - 1,
        "high": ltp + 1, "low": ltp - 2, "prev_close": ltp - 1, "prev_oi": 950, "bid": round(ltp - 0.05, 2),
        "ask": round(ltp + 0.05, 2), "recv_ts": recv_ts if recv_ts is not None else ts - IST_OFFSET_S + 0.5,
        "src": "full",
    }  # fmt: skip
    ev.update(extra)
    return ev


def depth(
    sid: int, *, ts: int = BASE_TS, recv_ts: float | None = None, mid: float = 100.0, seg: str = "NSE_FNO"
) -> dict[str, Any]:
    return {
        "v": 1, "seg": seg, "sid": sid, "exchange_ts": ts,
        "recv_ts": recv_ts if recv_ts is not None else ts - IST_OFFSET_S + 0.5,
        "bids": [[round(mid - 0.05 * (i + 1), 2), 10 * (i + 1), i + 1] for i in range(5)],
        "asks": [[round(mid + 0.05 * (i + 1), 2), 11 * (i + 1), i + 2] for i in range(5)],
    }  # fmt: skip


def greeks(sid: int, *, ts: int = BASE_TS, recv_ts: float | None = None, iv: float | None = 0.14) -> dict[str, Any]:
    return {
        "v": 1, "seg": "NSE_FNO", "sid": sid, "underlying_seg": "NSE_FNO", "underlying_sid": 35001,
        "strike": 26000.0, "option_type": "CE", "expiry": "2026-11-27", "price": 120.5,
        "underlying_price": 26046.95,
        "iv": iv, "delta": 0.51, "gamma": 0.0011, "vega": 12.3, "theta": -20.5, "rho": 1.2, "exchange_ts": ts,
        "recv_ts": recv_ts if recv_ts is not None else ts - IST_OFFSET_S + 0.5,
    }  # fmt: skip


@pytest.fixture
async def wsettings(db_settings: Settings) -> Settings:
    """Private database with the schema; small batches and claim timeouts so tests run fast."""
    await init_schema(db_settings)
    return db_settings.replaced(writer_claim_idle_ms=1000, shutdown_deadline_s=3.0)


@pytest.fixture
async def wredis(wsettings: Settings) -> AsyncIterator[aioredis.Redis]:
    client: aioredis.Redis = aioredis.Redis.from_url(wsettings.redis.url.get_secret_value())
    yield client
    keys = [k async for k in client.scan_iter(match=f"{wsettings.redis.key_prefix}*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def xadd(
    client: aioredis.Redis,
    settings: Settings,
    kind: str,
    events: Iterable[dict[str, Any] | bytes],
    *,
    maxlen: int | None = None,
) -> list[bytes]:
    """XADD events to a stream as the feed does (one field ``d`` = orjson event), pipelined."""
    name = Keys(settings.redis.key_prefix).stream(kind)
    pipe = client.pipeline(transaction=False)
    for ev in events:
        data = ev if isinstance(ev, bytes) else orjson.dumps(ev)
        pipe.xadd(name, {EVENT_FIELD: data}, maxlen=maxlen, approximate=False)
    return list(await pipe.execute())


async def drain(settings: Settings, *, timeout_s: float = 60.0, **kwargs: Any) -> WriterService:
    """Run a writer in drain mode to completion; returns it (for its metrics)."""
    service = WriterService(settings, drain=True, **kwargs)
    code = await asyncio.wait_for(service.serve(), timeout_s)
    assert code == 0, f"writer exited with {code}: {service.exit_error}"
    return service


async def query(settings: Settings, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    conn = await connect(settings)
    try:
        async with conn.cursor() as cur:
            await cur.execute(sql, args)
            rows = list(await cur.fetchall())
        await conn.rollback()
        return rows
    finally:
        conn.close()


@contextlib.asynccontextmanager
async def running_writer(settings: Settings, **kwargs: Any) -> AsyncIterator[WriterService]:
    """A writer serving in the background (not draining) for the duration of the block."""
    service = WriterService(settings, **kwargs)
    task = asyncio.create_task(service.serve())
    try:
        await eventually(lambda: service.state == "running" or task.done(), message="writer running")
        if task.done():
            task.result()
        yield service
    finally:
        service.stop("test_done")
        code = await asyncio.wait_for(task, 30)
        assert code == 0, f"writer exited with {code}: {service.exit_error}"


SUMMARY_SQL = (
    "SELECT exchange_segment, security_id, trade_date, open, high, low, close, volume, turnover, vwap, oi, "
    "tick_count, first_cum_volume, last_cum_volume, first_exchange_ts, last_exchange_ts "
    "FROM dhan_trade_summary "
    "ORDER BY exchange_segment, security_id, trade_date"
)
# The summary recomputed from dhan_ticks with a plain GROUP BY (the reference the writer must match).
RECOMPUTED_SQL = (
    "SELECT g.exchange_segment, g.security_id, g.trade_date, f.ltp, g.high, g.low, l.ltp, g.volume, "
    "g.turnover, ROUND(g.turnover / NULLIF(g.volume, 0), 4), l.oi, g.n, g.first_cv, g.last_cv, "
    "f.exchange_ts, l.exchange_ts FROM (SELECT exchange_segment, security_id, trade_date, "
    "MAX(ltp) AS high, MIN(ltp) AS low, SUM(qty) AS volume, "
    "SUM(ltp * qty) AS turnover, COUNT(*) AS n, MIN(cum_volume) AS first_cv, MAX(cum_volume) AS last_cv "
    "FROM dhan_ticks GROUP BY exchange_segment, security_id, trade_date) AS g "
    "JOIN dhan_ticks AS f ON f.exchange_segment = g.exchange_segment AND f.security_id = g.security_id "
    "AND f.trade_date = g.trade_date AND f.cum_volume = g.first_cv "
    "JOIN dhan_ticks AS l ON l.exchange_segment = g.exchange_segment AND l.security_id = g.security_id "
    "AND l.trade_date = g.trade_date AND l.cum_volume = g.last_cv "
    "ORDER BY g.exchange_segment, g.security_id, g.trade_date"
)
CANDLES_SQL = f"SELECT {', '.join(CANDLE_COLUMNS)} FROM dhan_candles_1m ORDER BY 1, 2, 3, 4"
# The candles recomputed from dhan_ticks (shared.candles_sql, checked against shared.candles in
# tests/shared/test_candles_sql.py): what the writer's incremental rows must equal.
CANDLES_RECOMPUTED_SQL = candles_from_ticks("1 = 1")
SNAPSHOT_SQL = {
    "ticks": "SELECT * FROM dhan_ticks ORDER BY 1, 2, 3, 4",
    "summary": SUMMARY_SQL,
    "candles": CANDLES_SQL,
    "quotes": "SELECT * FROM dhan_quotes ORDER BY 1, 2",
    "depth": "SELECT * FROM dhan_depth ORDER BY 1, 2",
    "greeks": "SELECT * FROM dhan_options_greeks ORDER BY 1, 2",
}


async def snapshot(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    return {name: await query(settings, text) for name, text in SNAPSHOT_SQL.items()}


async def count(settings: Settings, table: str) -> int:
    return int((await query(settings, f"SELECT COUNT(*) FROM {table}"))[0][0])


async def group_pending(client: aioredis.Redis, settings: Settings) -> int:
    keys = Keys(settings.redis.key_prefix)
    total = 0
    for kind in ("quotes", "ticks", "depth", "greeks"):
        with contextlib.suppress(aioredis.ResponseError):  # no group yet
            total += int((await client.xpending(keys.stream(kind), Keys.WRITER_GROUP))["pending"])
    return total
