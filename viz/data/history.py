"""Reads of today's history from MySQL (``dhan_*`` tables, see ``shared/schema``). Read-only.

Every read ends its transaction (``rollback``) so the pooled connection's next read sees fresh data under
InnoDB's repeatable-read snapshots. Prices come back as DOUBLE (``CAST``): the tables keep exact DECIMALs,
the charts want floats, and converting a million ``Decimal`` objects in Python would stall the UI. Long
reads stream through a server-side cursor in chunks and yield to the event loop between chunks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date
from typing import Any

import aiomysql
import numpy as np

from shared.depth_pack import unpack
from shared.events import instrument_key
from viz.models.ticks import RULE_CODES, RULE_UNKNOWN, SIDE_CODES, TickSeries

__all__ = [
    "fetch_breadth_minutes",
    "fetch_closing_oi",
    "fetch_depth",
    "fetch_depth20_history",
    "fetch_depth20_latest",
    "fetch_greeks",
    "fetch_oi_minutes",
    "fetch_quotes",
    "fetch_second_last",
    "fetch_ticks",
    "key_pairs",
    "latest_trade_date",
]

CHUNK_ROWS = 20_000


def key_pairs(keys: Sequence[str]) -> list[tuple[str, int]]:
    """Instrument keys ``SEG:SID`` (``shared.events.instrument_key``) as the (segment, security id) pairs the
    fetches take."""
    return [(seg, int(sid)) for seg, sid in (k.split(":", 1) for k in keys)]
_QUOTE_COLS = (
    "exchange_segment", "security_id", "CAST(ltp AS DOUBLE)", "ltq", "exchange_ts", "CAST(atp AS DOUBLE)",
    "volume", "tsq", "tbq", "oi", "oi_high", "oi_low", "CAST(open AS DOUBLE)", "CAST(close AS DOUBLE)",
    "CAST(high AS DOUBLE)", "CAST(low AS DOUBLE)", "CAST(prev_close AS DOUBLE)", "prev_oi",
    "CAST(bid AS DOUBLE)", "CAST(ask AS DOUBLE)", "CAST(recv_ts AS DOUBLE)",
)  # fmt: skip
_QUOTE_NAMES = (
    "seg", "sid", "ltp", "ltq", "exchange_ts", "atp", "volume", "tsq", "tbq", "oi", "oi_high", "oi_low", "open",
    "close", "high", "low", "prev_close", "prev_oi", "bid", "ask", "recv_ts",
)  # fmt: skip
_GREEKS_COLS = (
    "exchange_segment", "security_id", "underlying_segment", "underlying_security_id", "CAST(strike AS DOUBLE)",
    "option_type", "expiry_date", "CAST(price AS DOUBLE)", "CAST(underlying_price AS DOUBLE)", "iv", "delta",
    "gamma", "vega", "theta", "rho", "exchange_ts", "CAST(recv_ts AS DOUBLE)",
)  # fmt: skip
_GREEKS_NAMES = (
    "seg", "sid", "underlying_seg", "underlying_sid", "strike", "option_type", "expiry", "price",
    "underlying_price", "iv", "delta", "gamma", "vega", "theta", "rho", "exchange_ts", "recv_ts",
)  # fmt: skip


def _pairs_clause(keys: Sequence[tuple[str, int]]) -> tuple[str, list[Any]]:
    """``(exchange_segment, security_id) IN ((%s,%s),...)`` and its parameters."""
    params: list[Any] = []
    for seg, sid in keys:
        params += [seg, int(sid)]
    marks = ",".join(["(%s,%s)"] * len(keys))
    return f"(exchange_segment, security_id) IN ({marks})", params


async def fetch_all(pool: aiomysql.Pool, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Every row of one read on a pooled connection, its snapshot ended afterwards."""
    async with pool.acquire() as conn:
        try:
            async with conn.cursor() as cur:
                await cur.execute(sql, params)
                return list(await cur.fetchall())
        finally:
            await conn.rollback()


async def latest_trade_date(pool: aiomysql.Pool, seg: str, sid: int) -> date | None:
    rows = await fetch_all(
        pool, "SELECT MAX(trade_date) FROM dhan_ticks WHERE exchange_segment = %s AND security_id = %s", (seg, sid)
    )
    return rows[0][0] if rows and rows[0][0] is not None else None


def _stored_rule(side: str, rule: str) -> int:
    """A row's rule code: a side stored with rule '' predates schema 006 (not recorded); no side is none."""
    if side and not rule:
        return RULE_UNKNOWN
    return RULE_CODES.get(rule, RULE_UNKNOWN)


async def fetch_ticks(pool: aiomysql.Pool, seg: str, sid: int, trade_date: date) -> TickSeries:
    """One instrument's trades of one day, in cumulative-volume order (the table's key order)."""
    out = TickSeries()
    sql = (
        "SELECT cum_volume, CAST(ltp AS DOUBLE), qty, side, exchange_ts, side_rule FROM dhan_ticks "
        "WHERE exchange_segment = %s AND security_id = %s AND trade_date = %s ORDER BY cum_volume"
    )
    sides = SIDE_CODES
    async with pool.acquire() as conn:
        try:
            async with conn.cursor(aiomysql.SSCursor) as cur:
                await cur.execute(sql, (seg, sid, trade_date))
                while True:
                    rows = await cur.fetchmany(CHUNK_ROWS)
                    if not rows:
                        break
                    cum, price, qty, side, ets, rule = zip(*rows, strict=True)
                    out.extend(
                        np.fromiter(cum, np.int64, len(rows)),
                        np.fromiter(price, np.float64, len(rows)),
                        np.fromiter(qty, np.int64, len(rows)),
                        np.fromiter((sides.get(s, 0) for s in side), np.int8, len(rows)),
                        np.fromiter(ets, np.int64, len(rows)),
                        np.fromiter((_stored_rule(s, r) for s, r in zip(side, rule, strict=True)), np.int8, len(rows)),
                    )
                    await asyncio.sleep(0)  # let the UI paint between chunks
        finally:
            await conn.rollback()
    return out


async def fetch_quotes(pool: aiomysql.Pool, keys: Sequence[tuple[str, int]] | None = None) -> dict[str, dict[str, Any]]:
    """Latest stored quote per instrument (all, or the given keys) as event-shaped dicts by ``SEG:ID``."""
    sql = f"SELECT {','.join(_QUOTE_COLS)} FROM dhan_quotes"
    params: list[Any] = []
    if keys is not None:
        if not keys:
            return {}
        clause, params = _pairs_clause(keys)
        sql += f" WHERE {clause}"
    rows = await fetch_all(pool, sql, params)
    return {instrument_key(r[0], r[1]): dict(zip(_QUOTE_NAMES, r, strict=True)) for r in rows}


async def fetch_greeks(pool: aiomysql.Pool, keys: Sequence[tuple[str, int]]) -> dict[str, dict[str, Any]]:
    if not keys:
        return {}
    clause, params = _pairs_clause(keys)
    rows = await fetch_all(pool, f"SELECT {','.join(_GREEKS_COLS)} FROM dhan_options_greeks WHERE {clause}", params)
    out = {}
    for r in rows:
        d = dict(zip(_GREEKS_NAMES, r, strict=True))
        d["expiry"] = d["expiry"].isoformat() if d["expiry"] is not None else None
        out[instrument_key(r[0], r[1])] = d
    return out


async def fetch_depth(pool: aiomysql.Pool, seg: str, sid: int) -> dict[str, Any] | None:
    """The stored 5-level book as a depth event (``bids``/``asks``: ``[price, qty, orders]`` x 5)."""
    cols = ["exchange_ts", "CAST(recv_ts AS DOUBLE)"]
    for side in ("bid", "ask"):
        for level in range(1, 6):
            cols += [f"CAST({side}_price_{level} AS DOUBLE)", f"{side}_qty_{level}", f"{side}_orders_{level}"]
    rows = await fetch_all(
        pool, f"SELECT {','.join(cols)} FROM dhan_depth WHERE exchange_segment = %s AND security_id = %s", (seg, sid)
    )
    if not rows:
        return None
    r = rows[0]
    levels = [list(r[2 + 3 * i : 5 + 3 * i]) for i in range(10)]
    return {"seg": seg, "sid": sid, "exchange_ts": r[0], "recv_ts": r[1], "bids": levels[:5], "asks": levels[5:]}


async def fetch_breadth_minutes(
    pool: aiomysql.Pool, keys: Sequence[tuple[str, int]], trade_date: date
) -> list[tuple[str, int, float]]:
    """``(SEG:ID, minute start (Dhan epoch), last price in that minute)`` for each traded minute of the day."""
    if not keys:
        return []
    clause, params = _pairs_clause(keys)
    sql = (
        "SELECT t.exchange_segment, t.security_id, t.exchange_ts, CAST(t.ltp AS DOUBLE) FROM dhan_ticks AS t JOIN ("
        "SELECT exchange_segment, security_id, MAX(cum_volume) AS cv FROM dhan_ticks "
        f"WHERE trade_date = %s AND {clause} GROUP BY exchange_segment, security_id, exchange_ts DIV 60) AS m "
        "ON t.exchange_segment = m.exchange_segment AND t.security_id = m.security_id "
        "AND t.trade_date = %s AND t.cum_volume = m.cv"
    )
    rows = await fetch_all(pool, sql, [trade_date, *params, trade_date])
    return [(instrument_key(r[0], r[1]), int(r[2]) - int(r[2]) % 60, float(r[3])) for r in rows]


def _book_event(seg: str, sid: int, levels: int, seq: int, recv_ts: float, blob: bytes) -> dict[str, Any] | None:
    """A stored packed book as a ``dhan:depth20`` event; None when the bytes are not a book."""
    try:
        bids, asks = unpack(bytes(blob))
    except ValueError:
        return None
    return {"seg": seg, "sid": sid, "levels": int(levels), "seq": int(seq), "recv_ts": float(recv_ts),
            "bids": [list(b) for b in bids], "asks": [list(a) for a in asks]}  # fmt: skip


async def fetch_depth20_latest(pool: aiomysql.Pool, seg: str, sid: int) -> dict[int, dict[str, Any]]:
    """The stored latest 20- and 200-level books of an instrument, by depth, as events."""
    rows = await fetch_all(
        pool,
        "SELECT levels, seq, CAST(recv_ts AS DOUBLE), book FROM dhan_depth20 "
        "WHERE exchange_segment = %s AND security_id = %s",
        (seg, sid),
    )
    out = {}
    for levels, seq, recv_ts, blob in rows:
        ev = _book_event(seg, sid, levels, seq, recv_ts, blob)
        if ev is not None:
            out[int(levels)] = ev
    return out


async def fetch_depth20_history(
    pool: aiomysql.Pool, seg: str, sid: int, levels: int, span_s: float
) -> list[dict[str, Any]]:
    """The sampled books of the last ``span_s`` seconds that were stored (up to the newest sample, whatever
    day it is on), oldest first, as events. Two range reads of the primary key."""
    key = (seg, sid, levels)
    where = "exchange_segment = %s AND security_id = %s AND levels = %s"
    last = await fetch_all(
        pool,
        f"SELECT trade_date, sample_ms FROM dhan_depth20_history WHERE {where} "
        "ORDER BY trade_date DESC, sample_ms DESC LIMIT 1",
        key,
    )
    if not last:
        return []
    last_day, last_ms = last[0]
    lo_ms = int(last_ms) - int(span_s * 1000)
    rows = await fetch_all(
        pool,
        f"SELECT seq, CAST(recv_ts AS DOUBLE), book FROM dhan_depth20_history WHERE {where} "
        "AND trade_date BETWEEN %s - INTERVAL 1 DAY AND %s AND sample_ms >= %s ORDER BY trade_date, sample_ms",
        (*key, last_day, last_day, lo_ms),
    )
    out = []
    for i, (seq, recv_ts, blob) in enumerate(rows, 1):
        ev = _book_event(seg, sid, levels, seq, recv_ts, blob)
        if ev is not None:
            out.append(ev)
        if i % 2000 == 0:
            await asyncio.sleep(0)  # let the UI paint while a long span unpacks
    return out


async def fetch_closing_oi(pool: aiomysql.Pool, keys: Sequence[tuple[str, int]], before: date) -> dict[str, int]:
    """Each instrument's closing OI of its last trading day before ``before`` (``dhan_oi_close``), by ``SEG:ID``.

    The previous session is per instrument (the latest stored day before ``before``), so a holiday or a day
    the stack did not run falls back to the session before it rather than to nothing.
    """
    if not keys:
        return {}
    clause, params = _pairs_clause(keys)
    sql = (
        "SELECT c.exchange_segment, c.security_id, c.oi FROM dhan_oi_close AS c JOIN ("
        "SELECT exchange_segment, security_id, MAX(trade_date) AS d FROM dhan_oi_close "
        f"WHERE trade_date < %s AND {clause} "
        "GROUP BY exchange_segment, security_id) AS m ON c.exchange_segment = m.exchange_segment "
        "AND c.security_id = m.security_id AND c.trade_date = m.d"
    )
    rows = await fetch_all(pool, sql, [before, *params])
    return {instrument_key(r[0], r[1]): int(r[2]) for r in rows}


async def fetch_oi_minutes(
    pool: aiomysql.Pool, keys: Sequence[tuple[str, int]], trade_date: date
) -> list[tuple[str, int, int | None, int]]:
    """``(SEG:ID, minute start, OI, cum volume)`` at the close of each instrument's traded minutes of the day.

    From ``dhan_candles_1m`` (one row per instrument and traded minute, kept by the writer with the ticks):
    its ``oi`` and ``last_cum_volume`` are those of the minute's last trade, so the rows are the day's last
    trade per minute without reading every trade (a range read of the key per instrument).
    """
    if not keys:
        return []
    clause, params = _pairs_clause(keys)
    sql = (
        "SELECT exchange_segment, security_id, minute_ts, oi, last_cum_volume FROM dhan_candles_1m "
        f"WHERE trade_date = %s AND {clause}"
    )
    rows = await fetch_all(pool, sql, [trade_date, *params])
    return [(instrument_key(r[0], r[1]), int(r[2]), None if r[3] is None else int(r[3]), int(r[4])) for r in rows]


async def fetch_second_last(
    pool: aiomysql.Pool, keys: Sequence[tuple[str, int]], trade_date: date
) -> list[tuple[str, int, int, float, float | None, float | None]]:
    """``(SEG:ID, exchange_ts, cum volume, ltp, bid, ask)`` of each instrument's last trade in each exchange
    second of the day (the straddle's history, :mod:`viz.models.straddle_history`)."""
    if not keys:
        return []
    clause, params = _pairs_clause(keys)
    sql = (
        "SELECT t.exchange_segment, t.security_id, t.exchange_ts, t.cum_volume, CAST(t.ltp AS DOUBLE), "
        "CAST(t.bid AS DOUBLE), CAST(t.ask AS DOUBLE) FROM dhan_ticks AS t JOIN ("
        "SELECT exchange_segment, security_id, MAX(cum_volume) AS cv FROM dhan_ticks "
        f"WHERE trade_date = %s AND {clause} GROUP BY exchange_segment, security_id, exchange_ts) AS m "
        "ON t.exchange_segment = m.exchange_segment AND t.security_id = m.security_id "
        "AND t.trade_date = %s AND t.cum_volume = m.cv"
    )
    rows = await fetch_all(pool, sql, [trade_date, *params, trade_date])
    return [(instrument_key(r[0], r[1]), int(r[2]), int(r[3]), float(r[4]), r[5], r[6]) for r in rows]
