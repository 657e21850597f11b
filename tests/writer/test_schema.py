"""Schema on the real MariaDB: idempotent init, version check, partitions, pool errors, dhan db commands."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Awaitable
from datetime import date
from pathlib import Path

import pymysql
import pytest
import redis

from shared import db_cli
from shared.candles_sql import CANDLE_TABLE_DDL
from shared.db import SCHEMA_VERSION, check_schema, connect, create_pool, init_schema
from shared.errors import ConfigError, MySQLUnavailable, SchemaMismatch
from shared.schema import ensure_partitions, load_migrations, plan_partitions, split_statements
from shared.settings import Settings
from tests.clocks import PinnedClock, ist
from tests.conftest import eventually, free_port, make_settings

from .conftest import query

TABLES = {
    "dhan_schema_version", "dhan_instruments", "dhan_quotes", "dhan_depth", "dhan_ticks",
    "dhan_trade_summary",
    "dhan_options_greeks",
    "dhan_gaps",  # 002_gaps.sql (writer/gaps.py)
    "dhan_depth20", "dhan_depth20_history",  # 004_depth20.sql (writer/depth20.py)
    "dhan_oi_close",  # 007_oi_close.sql (writer/batch.py oi_close_row)
    "dhan_candles_1m",  # 005_candles.sql (shared/candles_sql.py)
}  # fmt: skip


async def test_init_is_idempotent_and_returns_the_version(db_settings: Settings) -> None:
    assert await init_schema(db_settings, today=date(2026, 11, 25)) == SCHEMA_VERSION
    assert await init_schema(db_settings, today=date(2026, 11, 25)) == SCHEMA_VERSION
    rows = await query(db_settings, "SELECT version, name FROM dhan_schema_version ORDER BY version")
    assert [r[0] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
    tables = {r[0] for r in await query(db_settings, "SHOW TABLES")}
    assert tables == TABLES
    columns = await query(
        db_settings, "SELECT COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'dhan_ticks' AND COLUMN_NAME = 'side_rule'")
    assert columns == [("char(1)", "NO", "''")]  # 006_side_rule.sql, once although init ran twice
    parts = [r[0] for r in await query(
        db_settings,
        "SELECT PARTITION_NAME FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = 'dhan_ticks' ORDER BY PARTITION_ORDINAL_POSITION",
    )]  # fmt: skip
    assert parts[0] == "p202610" and parts[-2] == "p202711" and parts[-1] == "pmax"
    candle_parts = [r[0] for r in await query(
        db_settings,
        "SELECT PARTITION_NAME FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = 'dhan_candles_1m' ORDER BY PARTITION_ORDINAL_POSITION",
    )]  # fmt: skip
    assert candle_parts == parts  # the candles follow their ticks' months
    pool = await create_pool(db_settings)
    try:
        await check_schema(pool)
    finally:
        pool.close()
        await pool.wait_closed()


async def test_check_schema_refuses_missing_old_and_newer_schemas(db_settings: Settings) -> None:
    with pytest.raises(SchemaMismatch, match="does not exist: run dhan db init"):
        await create_pool(db_settings)
    await init_schema(db_settings)
    pool = await create_pool(db_settings)
    try:
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("DELETE FROM dhan_schema_version WHERE version = %s", (SCHEMA_VERSION,))
            await conn.commit()
        with pytest.raises(SchemaMismatch, match=f"this code needs {SCHEMA_VERSION}: run dhan db init") as err:
            await check_schema(pool)
        assert "\n" not in str(err.value)
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(
                "INSERT INTO dhan_schema_version VALUES (%s, 'x', UTC_TIMESTAMP(6)), (%s, 'y', UTC_TIMESTAMP(6))",
                (SCHEMA_VERSION, SCHEMA_VERSION + 1),
            )
            await conn.commit()
        with pytest.raises(SchemaMismatch, match="newer than this code"):
            await check_schema(pool)
    finally:
        pool.close()
        await pool.wait_closed()


async def test_unreachable_server_is_one_line_without_the_password() -> None:
    settings = make_settings(mysql_url=f"mysql://app:s3cretpw@127.0.0.1:{free_port()}/x")
    with pytest.raises(MySQLUnavailable) as err:
        await create_pool(settings)
    text = str(err.value)
    assert "s3cretpw" not in text and "mysql://app:***@127.0.0.1" in text and "\n" not in text


def test_plan_partitions_fills_months_up_to_the_horizon() -> None:
    first = plan_partitions([("pmax", "MAXVALUE")], date(2026, 1, 31), months_ahead=2)
    assert first == [
        ("p202512", date(2026, 1, 1)), ("p202601", date(2026, 2, 1)), ("p202602", date(2026, 3, 1)),
        ("p202603", date(2026, 4, 1)),
    ]  # fmt: skip
    existing = [("p202603", "'2026-04-01'"), ("pmax", "MAXVALUE")]
    assert plan_partitions(existing, date(2026, 2, 10), months_ahead=1) == []
    assert plan_partitions(existing, date(2026, 12, 1), months_ahead=0) == [
        (f"p2026{m:02d}", date(2026, m + 1, 1) if m < 12 else date(2027, 1, 1)) for m in range(4, 13)
    ]


async def test_ensure_partitions_adds_months_and_rows_land_in_them(db_settings: Settings) -> None:
    await init_schema(db_settings, today=date(2026, 11, 25), months_ahead=1)
    conn = await connect(db_settings)
    try:
        assert await ensure_partitions(conn, today=date(2026, 11, 25), months_ahead=1) == []
        assert await ensure_partitions(conn, today=date(2027, 2, 3), months_ahead=1) == [
            "p202701",
            "p202702",
            "p202703",
        ]
        async with conn.cursor() as cur:
            await cur.execute(
                "INSERT INTO dhan_ticks (exchange_segment, security_id, trade_date, cum_volume, ltp, qty, "
                "exchange_ts, exchange_time_ist, recv_ts) VALUES "
                "('NSE_EQ', 1, '2027-02-14', 5, 1.5, 5, 1, '2027-02-14 09:15:00', 1),"
                " ('NSE_EQ', 1, '2031-01-01', 5, 1.5, 5, 1, '2031-01-01 09:15:00', 1)"
            )
            await cur.execute("SELECT COUNT(*) FROM dhan_ticks PARTITION (p202702)")
            assert (await cur.fetchone())[0] == 1
            await cur.execute("SELECT COUNT(*) FROM dhan_ticks PARTITION (pmax)")
            assert (await cur.fetchone())[0] == 1  # beyond the horizon still stored, in pmax
        await conn.rollback()
    finally:
        conn.close()


def test_the_candles_migration_is_the_shared_ddl() -> None:
    def words(text: str) -> list[str]:
        return " ".join(line.split("--")[0] for line in text.splitlines()).split()

    [statement] = next(m for m in load_migrations() if m.name == "candles").statements
    assert words(statement) == words(CANDLE_TABLE_DDL)


def test_migrations_are_numbered_and_split() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, SCHEMA_VERSION + 1))
    assert split_statements("-- c\nCREATE TABLE a (x INT);\n\nCREATE TABLE b (\n y INT\n);\n") == [
        "CREATE TABLE a (x INT)",
        "CREATE TABLE b (\n y INT\n)",
    ]


async def test_db_cli_init_status_and_least_privilege_user(
    db_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await db_cli.run(argparse.Namespace(action="init", months_ahead=2), db_settings) == 0
    assert f"at version {SCHEMA_VERSION}" in capsys.readouterr().out
    assert await db_cli.run(argparse.Namespace(action="status"), db_settings) == 0
    out = capsys.readouterr().out
    assert "ok" in out and "dhan_ticks" in out and "+ pmax" in out
    assert "partitions dhan_depth20_history: " in out

    user, password = f"app{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    args = argparse.Namespace(action="create-user", user=user, password_env="DHAN_TEST_APP_PW", host="127.0.0.1")
    with pytest.raises(ConfigError, match="DHAN_TEST_APP_PW is not set"):
        await db_cli.run(args, db_settings)
    monkeypatch.setenv("DHAN_TEST_APP_PW", password)
    try:
        assert await db_cli.run(args, db_settings) == 0
        assert password not in capsys.readouterr().out
        grants = " ".join(r[0] for r in await query(db_settings, f"SHOW GRANTS FOR '{user}'@'127.0.0.1'"))
        assert f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{db_settings.mysql.target.database}`.*" in grants
        app = pymysql.connect(
            host="127.0.0.1",
            port=db_settings.mysql.target.port,
            user=user,
            password=password,
            database=db_settings.mysql.target.database,
        )
        try:
            with app.cursor() as cur:
                cur.execute("SELECT COUNT(*) FROM dhan_quotes")
                with pytest.raises(pymysql.err.OperationalError, match="denied"):
                    cur.execute("CREATE TABLE x (a INT)")
        finally:
            app.close()
    finally:
        conn = await connect(db_settings, with_db=False)
        async with conn.cursor() as cur:
            await cur.execute("DROP USER IF EXISTS %s@%s", (user, "127.0.0.1"))
        conn.close()


def _delete_prefix(prefix: str) -> None:
    client = redis.Redis.from_url(make_settings().redis.url.get_secret_value())
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["db", "status"], 5, "is not reachable"),
        (["writer", "--drain"], 5, "is not reachable"),
    ],
)
def test_cli_errors_are_one_line_without_secrets(argv: list[str], code: int, message: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    env = {**os.environ, "DHAN_MYSQL_URL": f"mysql://app:s3cretpw@127.0.0.1:{free_port()}/x",
           "DHAN_HEALTH_PORT_BASE": "0", "DHAN_KEY_PREFIX": prefix}  # fmt: skip
    try:
        proc = subprocess.run([sys.executable, "-m", "shared.cli", *argv], capture_output=True, text=True,
                              env=env, timeout=60, cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    finally:
        _delete_prefix(prefix)
    assert proc.returncode == code
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "s3cretpw" not in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


def test_writer_refuses_a_database_without_schema(db_settings: Settings) -> None:
    env = {**os.environ, "DHAN_MYSQL_URL": db_settings.mysql.url.get_secret_value(), "DHAN_HEALTH_PORT_BASE": "0",
           "DHAN_KEY_PREFIX": db_settings.redis.key_prefix}  # fmt: skip
    try:
        proc = subprocess.run([sys.executable, "-m", "shared.cli", "writer", "--drain"], capture_output=True,
                              text=True, env=env, timeout=60, cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    finally:
        _delete_prefix(db_settings.redis.key_prefix)
    assert proc.returncode == 6
    assert proc.stderr.strip() == (
        f"dhan writer: error: database {db_settings.mysql.target.database!r} does not exist: run dhan db init"
    )


async def test_the_running_writer_adds_the_partitions_of_its_clocks_ist_month(db_settings: Settings) -> None:
    """At 00:01 IST on 1 Feb (31 Jan in UTC) one month ahead means up to March's partition."""
    from writer.service import WriterService

    await init_schema(db_settings, today=date(2026, 11, 25), months_ahead=1)
    s = db_settings.replaced(writer_partition_months_ahead=1, shutdown_deadline_s=3.0)
    writer = WriterService(s, clock=PinnedClock(ist(2027, 2, 1, 0, 1)))
    task = asyncio.create_task(writer.serve())
    sql = ("SELECT PARTITION_NAME FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = DATABASE() "
           "AND TABLE_NAME = 'dhan_ticks' ORDER BY PARTITION_ORDINAL_POSITION")

    async def partitions() -> list[str]:
        return [r[0] for r in await query(s, sql)]

    try:
        await eventually(lambda: writer.state == "running" or task.done(), timeout_s=20, message="writer running")
        await eventually(lambda: _has(partitions(), "p202703"), timeout_s=20, message="March's partition added")
        assert (await partitions())[-5:] == ["p202612", "p202701", "p202702", "p202703", "pmax"]
    finally:
        writer.stop("test")
        assert await asyncio.wait_for(task, 20) == 0


async def _has(names: Awaitable[list[str]], name: str) -> bool:
    return name in await names
