"""dhan_instruments on the real local MariaDB: upsert, read back, update in place, missing-table error."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import aiomysql
import pymysql
import pytest

from feed.instruments.cli import run
from feed.instruments.parse import parse_scrip_master
from feed.instruments.store import fetch_stored_instruments, store_instruments
from shared.db import create_pool, init_schema
from shared.errors import SchemaMismatch
from shared.settings import Settings
from tests.conftest import DATA
from tests.feed.test_instruments import COMPACT_HEADER, GOLD_FUT, NIFTY_CE, NIFTY_FUT, USDINR_OPT


def _items() -> list[Any]:
    real = (DATA / "dhan-scrip-master-compact-nse-eq-idx-2026-07.csv").read_text(encoding="utf-8")
    extra = parse_scrip_master("\n".join([COMPACT_HEADER, NIFTY_CE, NIFTY_FUT, GOLD_FUT, USDINR_OPT]))
    return parse_scrip_master(real) + extra


async def _count(pool: Any) -> int:
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT COUNT(*) FROM dhan_instruments")
        (n,) = await cur.fetchone()
        await conn.commit()
    return int(n)


async def test_store_read_back_and_update_in_place(db_settings: Settings) -> None:
    await init_schema(db_settings)
    pool = await create_pool(db_settings)
    try:
        items = _items()
        assert await store_instruments(pool, items, batch=700) == len(items)
        assert await _count(pool) == len(items)
        back = await fetch_stored_instruments(pool)
        assert sorted(back, key=lambda i: i.key) == sorted(items, key=lambda i: i.key)
        fno = await fetch_stored_instruments(pool, segment="NSE_FNO")
        [ce] = [i for i in fno if i.option_type == "CE"]
        assert (ce.strike, ce.tick_size, ce.lot_size) == (25000.0, 0.05, 65)
        [usd] = await fetch_stored_instruments(pool, segment="NSE_CURRENCY")
        assert usd.tick_size == 0.0025  # DECIMAL(12,6) keeps currency ticks exact

        # The next day's master changes a lot size: the row is updated, not duplicated.
        changed = [dataclasses.replace(i, lot_size=75) if i.key == ce.key else i for i in items]
        await store_instruments(pool, changed)
        assert await _count(pool) == len(items)
        [ce2] = [i for i in await fetch_stored_instruments(pool, segment="NSE_FNO") if i.key == ce.key]
        assert ce2.lot_size == 75
    finally:
        pool.close()
        await pool.wait_closed()


async def test_cli_store(db_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:

    await init_schema(db_settings)
    args = argparse.Namespace(
        url=str(DATA / "dhan-scrip-master-compact-nse-eq-idx-2026-07.csv"),
        store=True,
        show=False,
        price=[],
        date=None,
        timeout=10.0,
    )
    assert await run(args, db_settings) == 0
    assert "stored 9777 instruments into dhan_instruments" in capsys.readouterr().out
    pool = await create_pool(db_settings)
    try:
        assert await _count(pool) == 9777
    finally:
        pool.close()
        await pool.wait_closed()


def _create_empty_database(settings: Settings) -> None:
    target = settings.mysql.target
    conn = pymysql.connect(
        **{k: v for k, v in target.connect_kwargs(with_db=False).items() if k != "autocommit"}
    )
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{target.database}`")
    finally:
        conn.close()


async def test_cli_store_without_schema_says_run_db_init(db_settings: Settings) -> None:
    _create_empty_database(db_settings)
    args = argparse.Namespace(
        url=str(DATA / "dhan-scrip-master-compact-nse-eq-idx-2026-07.csv"),
        store=True,
        show=False,
        price=[],
        date=None,
        timeout=10.0,
    )
    with pytest.raises(SchemaMismatch, match="dhan db init"):
        await run(args, db_settings)


async def test_missing_table_is_one_line_schema_mismatch(db_settings: Settings) -> None:
    _create_empty_database(db_settings)
    target = db_settings.mysql.target
    pool = await aiomysql.create_pool(minsize=1, maxsize=1, **target.connect_kwargs())
    try:
        with pytest.raises(SchemaMismatch, match="dhan db init") as err:
            await store_instruments(pool, _items()[:3])
        assert "\n" not in str(err.value)
        with pytest.raises(SchemaMismatch):
            await fetch_stored_instruments(pool)
        assert await store_instruments(pool, []) == 0
    finally:
        pool.close()
        await pool.wait_closed()
