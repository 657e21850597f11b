"""Cost of bars from ``dhan_candles_1m`` at query time (``shared.candles_sql.RESAMPLE_QUERY``), run by hand.

    .venv/bin/python bench/candles_query.py [--days 21] [--instruments 180] [--repeat 7]

Fills a private database with a month of one-minute rows for the default universe (180 instruments: the 2
indices, the NIFTY 50, 4 index futures, ATM +/- 20 NIFTY and +/- 10 BANKNIFTY strikes, calls and puts), a full
NSE session each (375 minutes, 09:15-15:29), 21 trading days: 1.4 million rows, generated inside the server
(MariaDB's ``seq_`` tables). Then prints, per timeframe (1m read as stored, 5m, 15m, 1h, 1d), the median time of
one instrument's bars over its last day and over the whole month (a chart's history load), and of every
instrument's bars for the last day (a screen of the whole universe). Times are wall-clock, medians of
``--repeat`` runs over different instruments, on the live server (the buffer pool warm after the first).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.candles import DAY_S, session_open_s
from shared.candles_sql import CANDLE_COLUMNS, RESAMPLE_QUERY, resample_params
from shared.db import init_schema
from shared.settings import Settings

SEG = "NSE_FNO"
MINUTES = 375
FRAMES = (("1m", 60), ("5m", 300), ("15m", 900), ("1h", 3600), ("1d", DAY_S))
FIRST_DAY = date(2026, 11, 2)


def trading_days(n: int) -> list[date]:
    out, day = [], FIRST_DAY
    while len(out) < n:
        if day.weekday() < 5:
            out.append(day)
        day += timedelta(days=1)
    return out


def fill(cur: Any, days: list[date], instruments: int) -> int:
    """One day at a time: instruments x minutes rows, prices a deterministic wave per instrument."""
    open_s = session_open_s(SEG)
    for day in days:
        day_ts = (day - date(1970, 1, 1)).days * DAY_S
        cur.execute(
            f"INSERT INTO dhan_candles_1m ({', '.join(CANDLE_COLUMNS)}) "
            "SELECT %(seg)s, i + 1, %(day)s, %(t0)s + m * 60, TIMESTAMP(%(day)s) + INTERVAL (%(open_s)s + m * 60) "
            "SECOND, o, o + 1.5, o - 1.25, o + 0.25, 100 + MOD(m, 17), 50, 40, 10 + MOD(m, 5), 1000 + m, "
            "o * (100 + MOD(m, 17)), 100 + MOD(m, 17), m * 1000, m * 1000 + 1, m * 1000 + 200 FROM ("
            "SELECT i.seq AS i, m.seq AS m, ROUND(100 + i.seq + 5 * SIN(m.seq / 30 + i.seq), 2) AS o "
            f"FROM seq_0_to_{instruments - 1:d} AS i JOIN seq_0_to_{MINUTES - 1:d} AS m) AS g",
            {"seg": SEG, "day": day, "t0": day_ts + open_s, "open_s": open_s},
        )
    cur.execute("SELECT COUNT(*) FROM dhan_candles_1m")
    (rows,) = cur.fetchone()
    return int(rows)


def timed(cur: Any, params: dict[str, Any]) -> tuple[float, int]:
    started = time.perf_counter()
    cur.execute(RESAMPLE_QUERY, params)
    n = len(cur.fetchall())
    return (time.perf_counter() - started) * 1000, n


def run(cur: Any, days: list[date], instruments: int, repeat: int) -> None:
    anchor = session_open_s(SEG)
    last = days[-1]
    print(f"{'bars':>4}  {'1 instrument, 1 day':>24}  {'1 instrument, month':>24}  {'all instruments, 1 day':>26}")
    for name, period in FRAMES:
        day_ms, month_ms, bars_day, bars_month = [], [], 0, 0
        for k in range(repeat):
            sid = 1 + (k * 37) % instruments
            ms, bars_day = timed(cur, resample_params(SEG, sid, last, last, period, anchor))
            day_ms.append(ms)
            ms, bars_month = timed(cur, resample_params(SEG, sid, days[0], last, period, anchor))
            month_ms.append(ms)
        started = time.perf_counter()
        for sid in range(1, instruments + 1):
            timed(cur, resample_params(SEG, sid, last, last, period, anchor))
        all_ms = (time.perf_counter() - started) * 1000
        print(f"{name:>4}  {statistics.median(day_ms):8.2f} ms ({bars_day:>4} bars)  "
              f"{statistics.median(month_ms):8.2f} ms ({bars_month:>5} bars)  "
              f"{all_ms:9.1f} ms ({instruments} queries)", flush=True)


async def setup(settings: Settings) -> None:
    await init_schema(settings, today=FIRST_DAY)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=21)
    parser.add_argument("--instruments", type=int, default=180)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    base = os.environ.get("DHAN_BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306/x").rsplit("/", 1)[0]
    settings = Settings(_env_file=None, mysql_url=f"{base}/dhan_bench_{uuid.uuid4().hex[:8]}")  # type: ignore[call-arg]
    asyncio.run(setup(settings))
    target = settings.mysql.target
    conn = pymysql.connect(host=target.host, port=target.port, user=target.user,
                           password=target.password.get_secret_value(), database=target.database)
    try:
        with conn.cursor() as cur:
            days = trading_days(args.days)
            started = time.perf_counter()
            rows = fill(cur, days, args.instruments)
            conn.commit()
            print(f"{rows:,} one-minute rows ({args.instruments} instruments x {MINUTES} minutes x {len(days)} "
                  f"days) generated in {time.perf_counter() - started:.1f} s; bars per query (medians of "
                  f"{args.repeat}):", flush=True)
            run(cur, days, args.instruments, args.repeat)
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{target.database}`")
        conn.close()


if __name__ == "__main__":
    main()
