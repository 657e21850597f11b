"""Trade summary upkeep: incremental upsert (the writer's default) vs recomputing from dhan_ticks per batch.

    .venv/bin/python bench/writer_summary.py

For 20 instruments with K trades already stored today (K = 1,000 / 10,000 / 100,000), times one batch of
2,000 trades on those instruments, committed (a) all new, with the batch's summary increments (the
writer's common path); (b) half of them replays, through the writer's partial path (rollback, locking
read of the keys, insert and increment the new half); (c) with the touched summaries recomputed from
dhan_ticks (GROUP BY over the day). Median of 5 commits, in ms. (a) and (b) stay flat; (c) scans every
trade of the day for each touched instrument and grows with K, so the writer keeps it as a last resort.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import orjson
import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.clock import IST_OFFSET_S
from shared.db import connect, init_schema
from shared.settings import Settings
from writer import sql
from writer.batch import BatchBuilder, Entry
from writer.sink import MySQLSink

INSTRUMENTS = 20
BATCH = 2000
TS = 1_795_600_800 - 1_795_600_800 % 86_400 + 9 * 3600 + 15 * 60


def _tick(sid: int, volume: int, n: int) -> bytes:
    return orjson.dumps({
        "v": 1, "seg": "NSE_FNO", "sid": sid, "ltp": 100 + (n % 40) * 0.05, "qty": 1, "ltq": 1, "volume": volume,
        "exchange_ts": TS + n // 100, "oi": 5, "side": "B", "bid": 99.95, "ask": 100.05,
        "recv_ts": TS - IST_OFFSET_S + n / 1000,
    })  # fmt: skip


async def main() -> None:
    base = os.environ.get("DHAN_BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306/x").rsplit("/", 1)[0]
    settings = Settings(_env_file=None, mysql_url=f"{base}/dhan_bench_{uuid.uuid4().hex[:8]}")  # type: ignore[call-arg]
    await init_schema(settings)
    builder = BatchBuilder()
    conn = await connect(settings)
    sink = MySQLSink(settings)
    await sink.open()
    stored = 0
    try:
        for per_instrument in (1_000, 10_000, 100_000):
            while stored < per_instrument:  # bulk-load the day so far (through the writer's own rows)
                step = min(per_instrument - stored, 5_000)
                entries = [
                    Entry("ticks", b"0-0", _tick(sid, stored + i + 1, stored + i))
                    for sid in range(INSTRUMENTS) for i in range(step)
                ]  # fmt: skip
                batch = builder.build(entries)
                async with conn.cursor() as cur:
                    for text in sql.render_statements(sql.tick_insert, batch.ticks):
                        await cur.execute(text)
                    for text in sql.render_statements(sql.summary_increment, batch.summary):
                        await cur.execute(text)
                await conn.commit()
                stored += step
            timings: dict[str, list[float]] = {"increment": [], "partial": [], "recompute": []}
            for mode in ("increment", "partial", "recompute") * 5:
                per = BATCH // INSTRUMENTS
                first = stored - per // 2 if mode == "partial" else stored  # half of them already stored
                entries = [
                    Entry("ticks", b"0-0", _tick(sid, first + i + 1, first + i))
                    for sid in range(INSTRUMENTS) for i in range(per)
                ]  # fmt: skip
                batch = builder.build(entries)
                started = time.perf_counter()
                if mode == "recompute":
                    async with conn.cursor() as cur:
                        for text in sql.render_statements(sql.tick_insert, batch.ticks):
                            await cur.execute(text)
                        await cur.execute(sql.summary_recompute(batch.summary_keys))
                    await conn.commit()
                else:
                    result = await sink.write(batch)
                    assert result.summary_mode == mode, result
                timings[mode].append((time.perf_counter() - started) * 1000)
                stored = first + per
            inc, part, rec = (statistics.median(timings[m]) for m in ("increment", "partial", "recompute"))
            print(
                f"{stored:>7,} trades/instrument today, batch of {BATCH}: all new + increments {inc:6.1f} ms, "
                f"half replayed (locking read) {part:6.1f} ms, recompute {rec:8.1f} ms",
                flush=True,
            )
    finally:
        conn.close()
        await sink.close()
        target = settings.mysql.target
        admin = pymysql.connect(
            host=target.host, port=target.port, user=target.user, password=target.password.get_secret_value()
        )
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{target.database}`")
        admin.close()


if __name__ == "__main__":
    asyncio.run(main())
