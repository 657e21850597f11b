"""The scrip master in MySQL: upsert :class:`InstrumentInfo` rows into ``dhan_instruments``, read them back.

The table (created by ``dhan db init``, see ``shared/schema``) is keyed by (exchange_segment, security_id).
Loading is a multi-row ``INSERT ... ON DUPLICATE KEY UPDATE col = VALUES(col)``: that form is accepted by
both MariaDB 10.11 and MySQL 8 (MySQL 8.0.20+ marks it deprecated with a note but still runs it; the row-alias
form it prefers is a syntax error on MariaDB). One transaction per load: no reader sees half a master.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pymysql

from feed.instruments.parse import InstrumentInfo
from shared.errors import MySQLUnavailable, SchemaMismatch

__all__ = ["COLUMNS", "fetch_stored_instruments", "store_instruments"]

TABLE = "dhan_instruments"
# Table columns in InstrumentInfo field order, then updated_at.
COLUMNS = (
    "exchange_segment", "security_id", "exch_id", "segment_code", "instrument", "trading_symbol",
    "custom_symbol", "underlying", "expiry_date", "strike", "option_type", "lot_size", "tick_size",
    "expiry_flag", "series", "symbol_name", "updated_at",
)  # fmt: skip
_KEY = ("exchange_segment", "security_id")
_ROW_PLACEHOLDER = "(" + ",".join(["%s"] * len(COLUMNS)) + ")"
_INSERT_HEAD = f"INSERT INTO {TABLE} ({','.join(COLUMNS)}) VALUES "
_UPSERT_TAIL = " ON DUPLICATE KEY UPDATE " + ",".join(f"{c}=VALUES({c})" for c in COLUMNS if c not in _KEY)
_SELECT = f"SELECT {','.join(COLUMNS[:-1])} FROM {TABLE}"
# Column widths of the table: longer text is cut rather than failing the whole load (names only, never keys).
_TEXT_LIMITS = {5: 96, 6: 160, 7: 48, 14: 16, 15: 160}

_ER_NO_SUCH_TABLE = 1146
_ER_BAD_DB = 1049


def _row(info: InstrumentInfo, updated_at: datetime) -> list[Any]:
    row: list[Any] = [
        info.segment, info.security_id, info.exch_id, info.segment_code, info.instrument, info.trading_symbol,
        info.custom_symbol, info.underlying, info.expiry, info.strike, info.option_type, info.lot_size,
        info.tick_size, info.expiry_flag, info.series, info.symbol_name, updated_at,
    ]  # fmt: skip
    for i, limit in _TEXT_LIMITS.items():
        if len(row[i]) > limit:
            row[i] = row[i][:limit]
    return row


def _chunks(items: Sequence[InstrumentInfo], size: int) -> Iterable[Sequence[InstrumentInfo]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _translate(exc: pymysql.MySQLError) -> Exception:
    code = exc.args[0] if exc.args else 0
    if code in (_ER_NO_SUCH_TABLE, _ER_BAD_DB):
        return SchemaMismatch(f"table {TABLE} is missing: run 'dhan db init' first")
    first = str(exc.args[1] if len(exc.args) > 1 else exc).splitlines()[0]
    return MySQLUnavailable(f"storing instruments failed: MySQL error {code}: {first}")


async def store_instruments(pool: Any, instruments: Sequence[InstrumentInfo], *, batch: int = 2000) -> int:
    """Upsert ``instruments`` into ``dhan_instruments`` in one transaction; returns the rows sent."""
    if batch < 1:
        raise ValueError("batch must be >= 1")
    if not instruments:
        return 0
    now = datetime.now(UTC).replace(tzinfo=None)  # updated_at is UTC (not an *_ist column)
    try:
        async with pool.acquire() as conn:
            try:
                async with conn.cursor() as cur:
                    for chunk in _chunks(instruments, batch):
                        sql = _INSERT_HEAD + ",".join([_ROW_PLACEHOLDER] * len(chunk)) + _UPSERT_TAIL
                        args = [v for info in chunk for v in _row(info, now)]
                        await cur.execute(sql, args)
                await conn.commit()
            except BaseException:
                await conn.rollback()
                raise
    except pymysql.MySQLError as exc:
        raise _translate(exc) from None
    return len(instruments)


async def fetch_stored_instruments(pool: Any, *, segment: str | None = None) -> list[InstrumentInfo]:
    """Rows of ``dhan_instruments`` (optionally of one segment) back as :class:`InstrumentInfo`."""
    sql = (
        _SELECT
        + (" WHERE exchange_segment=%s" if segment else "")
        + " ORDER BY exchange_segment, security_id"
    )
    try:
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(sql, (segment,) if segment else None)
            rows = await cur.fetchall()
            await conn.commit()  # end the read snapshot (autocommit is off)
    except pymysql.MySQLError as exc:
        raise _translate(exc) from None
    return [_info(r) for r in rows]


def _info(r: Sequence[Any]) -> InstrumentInfo:
    expiry = r[8]
    return InstrumentInfo(
        segment=r[0], security_id=int(r[1]), exch_id=r[2], segment_code=r[3], instrument=r[4],
        trading_symbol=r[5], custom_symbol=r[6], underlying=r[7],
        expiry=expiry if isinstance(expiry, date) else None,
        strike=float(r[9]) if r[9] is not None else None, option_type=r[10], lot_size=int(r[11]),
        tick_size=float(r[12]), expiry_flag=r[13], series=r[14], symbol_name=r[15],
    )  # fmt: skip
