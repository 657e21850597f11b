"""Cost of the OI window's day replay read: every trade (``dhan_ticks``) vs the one-minute candles, by hand.

    .venv/bin/python bench/oi_day_read.py [--instruments 180] [--per-minute 20] [--chain 82] [--repeat 5]

Fills a private database with one full NSE session (375 minutes) of trades for the default universe (180
instruments, ``--per-minute`` trades each minute each, generated inside the server from MariaDB's ``seq_``
tables), then the candles from them (``shared.candles_sql.candles_from_ticks``, what the writer keeps). Then
prints the median wall-clock time of the OI window's read of one chain (``--chain`` contracts: the NIFTY chain
of ATM +/- 20 strikes, calls and puts) before (each contract's last trade per minute, from every trade) and
after (``viz.data.history.fetch_oi_minutes``), with the rows each returns, and the model's replay of them
(``viz.models.oi_day.replay_minutes``, the same either way).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.candles import DAY_S, session_open_s
from shared.candles_sql import CANDLE_COLUMNS, CANDLE_TABLE, candles_from_ticks
from shared.db import create_pool, init_schema
from shared.events import instrument_key
from shared.settings import Settings
from viz.data import history
from viz.models.contracts import OptionSpec
from viz.models.oi import OiChainModel
from viz.models.oi_day import OiDay, replay_minutes

SEG = "NSE_FNO"
MINUTES = 375
DAY = date(2026, 11, 2)
TRADE_MINUTES_SQL = (  # the window's read before the candles: each contract's last trade of each minute
    "SELECT t.exchange_segment, t.security_id, t.exchange_ts, t.oi, t.cum_volume FROM dhan_ticks AS t JOIN ("
    "SELECT exchange_segment, security_id, MAX(cum_volume) AS cv FROM dhan_ticks "
    "WHERE trade_date = %s AND {clause} GROUP BY exchange_segment, security_id, exchange_ts DIV 60) AS m "
    "ON t.exchange_segment = m.exchange_segment AND t.security_id = m.security_id "
    "AND t.trade_date = %s AND t.cum_volume = m.cv"
)


def fill_sql(instruments: int, per_minute: int) -> tuple[str, dict[str, Any]]:
    open_s = session_open_s(SEG)
    t0 = (DAY - date(1970, 1, 1)).days * DAY_S + open_s
    step = 60 // per_minute
    sql = (
        "INSERT INTO dhan_ticks (exchange_segment, security_id, trade_date, cum_volume, ltp, qty, ltq, exchange_ts, "
        "exchange_time_ist, recv_ts, oi, side, bid, ask) "
        "SELECT %(seg)s, i.seq + 1, %(day)s, (m.seq * %(pm)s + k.seq + 1) * 25, 100 + i.seq + MOD(m.seq, 7), 25, "
        "25, %(t0)s + m.seq * 60 + k.seq * %(step)s, "
        "TIMESTAMP(%(day)s) + INTERVAL (%(open_s)s + m.seq * 60 + k.seq * %(step)s) SECOND, "
        "%(t0)s + m.seq * 60 + k.seq * %(step)s + 0.25, 100000 + i.seq * 100 + MOD(m.seq * 13 + k.seq, 997) * 75, "
        "IF(MOD(k.seq, 2) = 0, 'B', 'S'), NULL, NULL "
        f"FROM seq_0_to_{instruments - 1:d} AS i JOIN seq_0_to_{MINUTES - 1:d} AS m "
        f"JOIN seq_0_to_{per_minute - 1:d} AS k"
    )
    return sql, {"seg": SEG, "day": DAY, "pm": per_minute, "t0": t0, "step": step, "open_s": open_s}


def chain(contracts: int) -> tuple[OiChainModel, OiDay]:
    """Security ids 1..contracts as a chain: a call and a put per strike, 50 apart."""
    model = OiChainModel()
    model.set_contracts(
        [
            OptionSpec(instrument_key(SEG, sid), 25_000.0 + 50 * ((sid - 1) // 2), "CE" if sid % 2 else "PE")
            for sid in range(1, contracts + 1)
        ]
    )
    return model, OiDay()


async def timed(read: Callable[[], Awaitable[list[Any]]], repeat: int) -> tuple[float, int]:
    times, n = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        n = len(await read())
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), n


async def run(settings: Settings, args: argparse.Namespace) -> None:
    await init_schema(settings, today=DAY)
    pool = await create_pool(settings, maxsize=1)
    try:
        async with pool.acquire() as conn, conn.cursor() as cur:
            started = time.perf_counter()
            sql, params = fill_sql(args.instruments, args.per_minute)
            await cur.execute(sql, params)
            await cur.execute(
                f"INSERT INTO {CANDLE_TABLE} ({','.join(CANDLE_COLUMNS)}) "
                + candles_from_ticks("trade_date = %(day)s"),
                {"day": DAY},
            )
            await conn.commit()
            await cur.execute(f"SELECT (SELECT COUNT(*) FROM dhan_ticks), (SELECT COUNT(*) FROM {CANDLE_TABLE})")
            ticks, candles = await cur.fetchone()
        print(
            f"{ticks:,} trades and {candles:,} one-minute candles ({args.instruments} instruments x {MINUTES} "
            f"minutes) generated in {time.perf_counter() - started:.1f} s; the read of a {args.chain}-contract "
            f"chain's day, median of {args.repeat}:",
            flush=True,
        )
        keys = [(SEG, sid) for sid in range(1, args.chain + 1)]
        clause, kparams = history._pairs_clause(keys)

        async def before() -> list[Any]:
            return await history.fetch_all(pool, TRADE_MINUTES_SQL.format(clause=clause), [DAY, *kparams, DAY])

        for name, read in (
            ("trades (before)", before),
            ("candles (after)", lambda: history.fetch_oi_minutes(pool, keys, DAY)),
        ):
            ms, n = await timed(read, args.repeat)
            print(f"{name:>16}: {ms:9.1f} ms ({n:,} rows)", flush=True)
        rows = await history.fetch_oi_minutes(pool, keys, DAY)
        started = time.perf_counter()
        minutes = replay_minutes(*chain(args.chain), rows)
        print(f"{'replay (model)':>16}: {(time.perf_counter() - started) * 1000:9.1f} ms ({minutes} minutes)")
    finally:
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(f"DROP DATABASE IF EXISTS `{settings.mysql.target.database}`")
        pool.close()
        await pool.wait_closed()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=180)
    parser.add_argument("--per-minute", type=int, default=20, help="trades per instrument per minute (1..60)")
    parser.add_argument("--chain", type=int, default=82)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not 1 <= args.per_minute <= 60 or not 1 <= args.chain <= args.instruments:
        parser.error("--per-minute must be 1..60 and --chain 1..--instruments")
    base = os.environ.get("DHAN_BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306/x").rsplit("/", 1)[0]
    settings = Settings(_env_file=None, mysql_url=f"{base}/dhan_bench_{uuid.uuid4().hex[:8]}")  # type: ignore[call-arg]
    asyncio.run(run(settings, args))


if __name__ == "__main__":
    main()
