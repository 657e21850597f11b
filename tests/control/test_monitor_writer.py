"""Monitor rules fed by the real writer: MySQL write failures and an exhausted pool, produced for real.

A private MariaDB database per test; writes fail because the table is renamed away under the writer, and
the pool is exhausted because a test connection holds a table lock while two batches want to commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pymysql
import redis.asyncio as aioredis

from control.monitor.service import MonitorService
from shared.db import init_schema
from shared.keys import Keys
from shared.settings import Settings
from tests.clocks import PinnedClock, ist
from tests.conftest import eventually
from tests.control.test_monitor_live import running, wait_alert
from tests.writer.conftest import quote
from writer.service import WriterService

SUNDAY = PinnedClock(ist(2026, 6, 7, 11, 0))  # market closed: no quiet-feed alert among the writer's


def _sql(s: Settings) -> pymysql.connections.Connection:
    kw = {k: v for k, v in s.mysql.target.connect_kwargs(with_db=False).items() if k != "autocommit"}
    return pymysql.connect(autocommit=True, database=s.mysql.target.database, **kw)


@asynccontextmanager
async def writer_running(s: Settings) -> AsyncIterator[WriterService]:
    w = WriterService(s)
    task = asyncio.create_task(w.serve())
    await eventually(lambda: w.state == "running" or task.done(), timeout_s=20, message="writer running")
    try:
        yield w
    finally:
        w.stop("test")
        await asyncio.wait_for(task, 20)


async def _add_quote(r: aioredis.Redis, keys: Keys, sid: int, ts_shift: int = 0) -> None:
    await r.xadd(keys.quotes, {"d": orjson.dumps(quote(sid, ts=quote(sid)["exchange_ts"] + ts_shift))})


def _settings(db: Settings, **kw: Any) -> Settings:
    base: dict[str, Any] = {
        "monitor_interval_s": 0.1,
        "monitor_stale_s": 2.0,
        "monitor_market_hours": "exchange",
        "writer_claim_idle_ms": 1000,
        "shutdown_deadline_s": 3.0,
    }
    return db.replaced(**(base | kw))


async def test_writer_failures_per_minute_raise_an_alert(
    db_settings: Settings, redis_client: aioredis.Redis
) -> None:
    s = _settings(
        db_settings, writer_retry_base_s=0.05, writer_retry_cap_s=0.2, monitor_db_failures_per_min=5.0
    )
    keys = Keys(s.redis.key_prefix)
    await init_schema(s)
    conn = _sql(s)
    try:
        async with writer_running(s) as w, running(MonitorService(s, market_clock=SUNDAY)) as mon:
            await _add_quote(redis_client, keys, 1)
            await eventually(lambda: w.stats.entries >= 1, message="first quote written")
            assert not [c for c in mon.conditions if c.rule == "db_write_failures"]
            with conn.cursor() as cur:
                cur.execute("RENAME TABLE dhan_quotes TO dhan_quotes_away")
            await _add_quote(redis_client, keys, 2)
            fired = await wait_alert(redis_client, keys, "db_write_failures:writer", timeout_s=30)
            assert (
                fired["severity"] == "critical"
                and "MySQL write failures in the last minute" in fired["detail"]
            )
            with conn.cursor() as cur:
                cur.execute("RENAME TABLE dhan_quotes_away TO dhan_quotes")
            await eventually(lambda: w.stats.entries >= 2, timeout_s=30, message="writer recovered")
    finally:
        conn.close()


async def test_exhausted_writer_pool_raises_an_alert(
    db_settings: Settings, redis_client: aioredis.Redis
) -> None:
    s = _settings(
        db_settings, writer_pool_size=1, writer_inflight=2, writer_batch_ms=20, monitor_pool_exhausted_s=0.5
    )
    keys = Keys(s.redis.key_prefix)
    await init_schema(s)
    locker = _sql(s)
    try:
        async with writer_running(s) as w, running(MonitorService(s, market_clock=SUNDAY)):
            await _add_quote(redis_client, keys, 1)
            await eventually(lambda: w.stats.entries >= 1, message="first quote written")
            with locker.cursor() as cur:
                cur.execute("LOCK TABLES dhan_quotes WRITE")
            await _add_quote(redis_client, keys, 2, ts_shift=1)  # batch 1: holds the one connection
            await eventually(lambda: w.sink.pool_stats()["pool_in_use"] == 1, message="connection busy")
            await _add_quote(redis_client, keys, 3, ts_shift=2)  # batch 2: waits for the pool
            fired = await wait_alert(redis_client, keys, "mysql_pool_exhausted:writer")
            assert "all 1 pooled MySQL connections busy, 1 waiting" in fired["detail"]
            assert fired["ts"] - fired["since"] >= 0.5
            with locker.cursor() as cur:
                cur.execute("UNLOCK TABLES")
            await eventually(lambda: w.stats.entries >= 3, timeout_s=30, message="both batches written")
            await wait_alert(redis_client, keys, "mysql_pool_exhausted:writer", "resolved")
    finally:
        locker.close()
