"""MySQL failures mid-stream: entries stay pending while the server is gone, land once when it returns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr
from structlog.testing import capture_logs

from shared.db import connect, init_schema
from shared.keys import Keys
from shared.settings import Settings
from tests.conftest import PrivateRedis, eventually, make_settings

from .conftest import (
    BASE_TS,
    RECOMPUTED_SQL,
    SUMMARY_SQL,
    count,
    group_pending,
    query,
    quote,
    running_writer,
    tick,
    xadd,
)
from .private_mariadb import PrivateMariaDB


def _trades(sids: range, n: int, start: int) -> list[dict]:
    return [
        tick(s, (start + i + 1) * 5, qty=5, ltp=100 + i * 0.05, ts=BASE_TS + start + i) for i in range(n) for s in sids
    ]


@pytest.fixture
def private_db(tmp_path: Path) -> Iterator[PrivateMariaDB]:
    server = PrivateMariaDB(tmp_path)
    server.install()
    server.start()
    try:
        yield server
    finally:
        server.kill()


async def test_mysql_crash_and_restart_loses_nothing(private_db: PrivateMariaDB) -> None:
    settings: Settings = make_settings(
        mysql_url=private_db.url("dhan_outage"), writer_batch_max=20, writer_retry_cap_s=0.5,
        writer_claim_idle_ms=1000, shutdown_deadline_s=3.0,
    )  # fmt: skip
    await init_schema(settings)
    client = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
    try:
        with capture_logs() as logs:
            async with running_writer(settings) as writer:
                await xadd(client, settings, "ticks", _trades(range(1, 5), 10, 0))
                await eventually(lambda: writer.stats.rows["ticks"] == 40, message="first 40 trades written")

                private_db.kill()
                await xadd(client, settings, "ticks", _trades(range(1, 5), 15, 10))
                await eventually(lambda: writer.health_problem() is not None, message="outage noticed")
                # the 60 new entries were read and are held pending, none acknowledged, none written
                await eventually(lambda: _equals(group_pending(client, settings), 60), message="60 pending")
                assert writer.metrics()["failures_per_min"] >= 1 and writer.stats.rows["ticks"] == 40

                private_db.start()
                await eventually(lambda: writer.stats.rows["ticks"] == 100, timeout_s=30, message="all 100 written")
                await eventually(lambda: _equals(group_pending(client, settings), 0), message="all acked")
                assert writer.health_problem() is None
        assert await count(settings, "dhan_ticks") == 100
        assert await query(settings, SUMMARY_SQL) == await query(settings, RECOMPUTED_SQL)
        events = [e["event"] for e in logs]
        assert events.count("mysql_write_failed") == 1  # once per incident, with its cause
        assert events.count("mysql_write_recovered") == 1
        failed = next(e for e in logs if e["event"] == "mysql_write_failed")
        assert "MySQL 2003" in failed["cause"] or "MySQL 2013" in failed["cause"]
    finally:
        keys = [k async for k in client.scan_iter(match=f"{settings.redis.key_prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def _equals(value: object, expected: int) -> bool:
    return await value == expected  # type: ignore[misc]


async def test_connection_killed_inside_a_transaction_is_retried(wsettings: Settings, wredis: aioredis.Redis) -> None:
    settings = wsettings.replaced(writer_retry_cap_s=0.5)
    admin = await connect(settings)
    try:
        async with running_writer(settings) as writer:
            await xadd(wredis, settings, "ticks", _trades(range(1, 3), 10, 0))
            await eventually(lambda: writer.stats.rows["ticks"] == 20, message="first trades written")
            async with admin.cursor() as cur:
                # hold the summary row of instrument 1: the writer's next transaction blocks inside it
                await cur.execute("SELECT * FROM dhan_trade_summary WHERE security_id = 1 FOR UPDATE")
                await xadd(wredis, settings, "ticks", _trades(range(1, 3), 10, 10))

                async def blocked_writer() -> int | None:
                    await cur.execute(
                        "SELECT ID FROM information_schema.PROCESSLIST "
                        "WHERE DB = %s AND ID <> CONNECTION_ID() "
                        "AND INFO LIKE 'INSERT INTO dhan_trade_summary%%'",
                        (settings.mysql.target.database,),
                    )
                    row = await cur.fetchone()
                    return int(row[0]) if row else None

                await eventually(blocked_writer, message="writer blocked inside its transaction")
                await cur.execute(f"KILL {await blocked_writer()}")  # its ticks are rolled back with it
            await admin.rollback()
            await eventually(lambda: writer.stats.rows["ticks"] == 40, timeout_s=20, message="all trades written")
            assert writer.stats.failures >= 1
        assert await count(settings, "dhan_ticks") == 40
        assert await query(settings, SUMMARY_SQL) == await query(settings, RECOMPUTED_SQL)
        assert await group_pending(wredis, settings) == 0
    finally:
        admin.close()


async def test_a_slow_writer_keeps_its_entries(wsettings: Settings, wredis: aioredis.Redis) -> None:
    """Entries of a live writer stuck in MySQL are renewed, so another writer does not steal them."""
    settings = wsettings.replaced(writer_retry_cap_s=0.5)
    admin = await connect(settings)
    try:
        async with running_writer(settings, consumer="slow") as slow:
            await xadd(wredis, settings, "ticks", _trades(range(1, 3), 5, 0))
            await eventually(lambda: slow.stats.rows["ticks"] == 10, message="first trades written")
            async with admin.cursor() as cur:
                await cur.execute("SELECT * FROM dhan_trade_summary WHERE security_id = 1 FOR UPDATE")
                await xadd(wredis, settings, "ticks", _trades(range(1, 3), 5, 5))

                async def slow_is_blocked() -> bool:
                    await cur.execute(
                        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = %s "
                        "AND INFO LIKE 'INSERT INTO dhan_trade_summary%%'",
                        (settings.mysql.target.database,),
                    )
                    return bool((await cur.fetchone())[0])

                await eventually(slow_is_blocked, message="slow writer blocked inside its transaction")
                async with running_writer(settings, consumer="other") as other:
                    renewed = slow.stats.lease_renewals
                    # more than a claim timeout passes with the slow writer's transaction blocked
                    await eventually(lambda: slow.stats.lease_renewals >= renewed + 4, message="leases renewed")
                    owners = await wredis.xpending_range(
                        Keys(settings.redis.key_prefix).ticks, Keys.WRITER_GROUP, min="-", max="+", count=100
                    )
                    assert {o["consumer"] for o in owners} == {b"slow"} and len(owners) == 10
                    assert slow.stats.rows["ticks"] == 10
                    await admin.rollback()
                    await eventually(lambda: slow.stats.rows["ticks"] == 20, message="slow writer finished")
                assert other.stats.entries == 0
        assert await count(settings, "dhan_ticks") == 20
        assert await group_pending(wredis, settings) == 0
    finally:
        admin.close()


async def test_redis_restart_mid_stream_loses_nothing(db_settings: Settings, tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path, persist=True)  # the stream, group and pending entries survive a restart
    server.start()
    try:
        settings = db_settings.replaced(redis_url=SecretStr(server.url), writer_claim_idle_ms=1000)
        await init_schema(settings)
        client = aioredis.Redis.from_url(server.url)
        async with running_writer(settings) as writer:
            await xadd(client, settings, "ticks", _trades(range(1, 3), 10, 0))
            await eventually(lambda: writer.stats.rows["ticks"] == 20, message="first trades written")
            server.stop()
            await client.aclose()
            server.start()
            client = aioredis.Redis.from_url(server.url)
            await xadd(client, settings, "ticks", _trades(range(1, 3), 10, 10))
            await eventually(lambda: writer.stats.rows["ticks"] == 40, timeout_s=20, message="all trades written")
            await eventually(lambda: _equals(group_pending(client, settings), 0), message="all acked")
        await client.aclose()
        assert await count(settings, "dhan_ticks") == 40
    finally:
        server.stop()


async def test_a_batch_waiting_for_the_commit_queue_is_held_once(wsettings: Settings, wredis: aioredis.Redis) -> None:
    """``held_entries`` while MySQL blocks: one batch written, one queued, one waiting for room, 15 entries."""
    settings = wsettings.replaced(writer_batch_max=5, writer_inflight=1)
    kw = {k: v for k, v in settings.mysql.target.connect_kwargs(with_db=False).items() if k != "autocommit"}
    locker = pymysql.connect(autocommit=True, database=settings.mysql.target.database, **kw)
    try:
        async with running_writer(settings) as writer:
            with locker.cursor() as cur:
                cur.execute("LOCK TABLES dhan_quotes WRITE")
            await xadd(wredis, settings, "quotes", [quote(sid) for sid in range(1, 16)])
            await eventually(lambda: writer.metrics()["inflight_batches"] == 3, message="three batches in hand")
            assert writer.metrics()["held_entries"] == 15
            with locker.cursor() as cur:
                cur.execute("UNLOCK TABLES")
            await eventually(lambda: writer.stats.entries == 15, timeout_s=20, message="all written")
    finally:
        locker.close()
    assert await count(settings, "dhan_quotes") == 15
