"""Writer throughput: pre-fill the streams with N tick/quote entries, drain them with the writer, print rates.

    .venv/bin/python bench/writer_drain.py                       # 1,000,000 entries, 3 runs, defaults
    .venv/bin/python bench/writer_drain.py --entries 200000 --sweep   # batch size / time / inflight sweeps

Runs against the local Redis and MariaDB with a private key prefix and database (both removed afterwards).
The mix is what the feed publishes in full mode: per instrument a quote on every change and a tick on every
trade (about 40 % ticks), over 250 instruments (options, futures, stocks). Each run starts from an empty
schema and a freshly filled stream; entries/s is the drain time of the whole backlog, start-up included.
"writer CPU" is this process's CPU time per entry (the writer runs in it): the writer's own cost, steadier
than entries/s when other work shares the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pymysql
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.clock import IST_OFFSET_S
from shared.db import init_schema
from shared.events import EVENT_FIELD
from shared.keys import Keys
from shared.logs import configure_logging
from shared.settings import Settings
from writer.service import WriterService

INSTRUMENTS = 250
TICK_SHARE = 0.4
SESSION_START_TS = 1_795_600_800 - 1_795_600_800 % 86_400 + 9 * 3600 + 15 * 60  # 09:15 IST, Dhan's epoch


def make_events(n: int, seed: int = 7) -> list[tuple[str, bytes]]:
    """``n`` (kind, payload) pairs in feed order: one exchange second per 2,000 events."""
    rng = random.Random(seed)
    price = {sid: rng.uniform(50, 25_000) for sid in range(INSTRUMENTS)}
    volume = dict.fromkeys(range(INSTRUMENTS), 0)
    out: list[tuple[str, bytes]] = []
    for i in range(n):
        sid = rng.randrange(INSTRUMENTS)
        ts = SESSION_START_TS + i // 2000
        recv = ts - IST_OFFSET_S + (i % 2000) / 2000
        p = price[sid] = max(1.0, price[sid] + rng.choice((-0.05, 0.0, 0.05)))
        ltp = round(round(p / 0.05) * 0.05, 2)
        seg = "NSE_FNO" if sid < 200 else "NSE_EQ"
        if rng.random() < TICK_SHARE:
            qty = rng.choice((25, 50, 75, 150, 300, 1))
            volume[sid] += qty
            ev = {
                "v": 1, "seg": seg, "sid": 40_000 + sid, "ltp": ltp, "qty": qty, "ltq": qty, "volume": volume[sid],
                "exchange_ts": ts, "oi": 1_000_000 + sid, "side": rng.choice("BS"), "bid": round(ltp - 0.05, 2),
                "ask": round(ltp + 0.05, 2), "recv_ts": recv,
            }  # fmt: skip
            out.append(("ticks", orjson.dumps(ev)))
        else:
            ev = {
                "v": 1, "seg": seg, "sid": 40_000 + sid, "ltp": ltp, "ltq": 75, "exchange_ts": ts, "atp": ltp,
                "volume": volume[sid], "tsq": 120_000, "tbq": 98_000, "oi": 1_000_000 + sid, "oi_high": 1_100_000,
                "oi_low": 900_000, "open": ltp, "close": ltp, "high": ltp + 5, "low": ltp - 5, "prev_close": ltp,
                "prev_oi": 950_000, "bid": round(ltp - 0.05, 2), "ask": round(ltp + 0.05, 2), "recv_ts": recv,
                "src": "full",
            }  # fmt: skip
            out.append(("quotes", orjson.dumps(ev)))
    return out


async def fill(
    client: aioredis.Redis, keys: Keys, events: list[tuple[str, bytes]], chunk: int = 10_000
) -> float:
    started = time.perf_counter()
    for start in range(0, len(events), chunk):
        pipe = client.pipeline(transaction=False)
        for kind, payload in events[start : start + chunk]:
            pipe.xadd(keys.stream(kind), {EVENT_FIELD: payload})
        await pipe.execute()
    return len(events) / (time.perf_counter() - started)


def _drop_database(settings: Settings) -> None:
    target = settings.mysql.target
    conn = pymysql.connect(
        host=target.host, port=target.port, user=target.user, password=target.password.get_secret_value()
    )
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{target.database}`")
    finally:
        conn.close()


async def one_run(events: list[tuple[str, bytes]], **overrides: Any) -> dict[str, float]:
    name = f"dhan_bench_{uuid.uuid4().hex[:8]}"
    base = os.environ.get("DHAN_BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306/x").rsplit("/", 1)[0]
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, key_prefix=f"bench{uuid.uuid4().hex[:6]}:", mysql_url=f"{base}/{name}",
        redis_url=os.environ.get("DHAN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"), health_port_base=0,
        heartbeat_interval_s=1.0, **overrides,
    )  # fmt: skip
    keys = Keys(settings.redis.key_prefix)
    client = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
    try:
        await init_schema(settings)
        fill_rate = await fill(client, keys, events)
        writer = WriterService(settings, drain=True, consumer="bench")
        started, cpu_started = time.perf_counter(), time.process_time()
        code = await writer.serve()
        elapsed = time.perf_counter() - started
        cpu_s = time.process_time() - cpu_started
        if code != 0:
            raise RuntimeError(f"writer exited with {code}: {writer.exit_error}")
        stats = writer.stats
        sizes = list(stats.recent_batch_sizes)
        return {
            "entries_per_s": stats.entries / elapsed,
            "cpu_us_per_entry": 1e6 * cpu_s / max(stats.entries, 1),
            "seconds": elapsed,
            "fill_per_s": fill_rate,
            "batches": stats.batches,
            "mean_batch": statistics.fmean(sizes) if sizes else 0.0,
            **{f"{t}_rows_per_s": n / elapsed for t, n in stats.rows.items()},
        }
    finally:
        names = [k async for k in client.scan_iter(match=f"{settings.redis.key_prefix}*", count=1000)]
        if names:
            await client.delete(*names)
        await client.aclose()
        _drop_database(settings)


def _line(label: str, results: list[dict[str, float]]) -> str:
    med = {k: statistics.median(r[k] for r in results) for k in results[0]}
    rows = ", ".join(f"{t} {med[f'{t}_rows_per_s']:,.0f}" for t in ("ticks", "summary", "quotes"))
    spread = ", ".join(f"{r['entries_per_s']:,.0f}" for r in results)
    return (
        f"{label:<34} {med['entries_per_s']:>9,.0f} entries/s (runs: {spread}); rows/s: {rows}; "
        f"mean batch {med['mean_batch']:,.0f}; writer CPU {med['cpu_us_per_entry']:.2f} us/entry"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sweep", action="store_true", help="batch size, batch time and inflight sweeps")
    args = parser.parse_args()
    configure_logging("bench", level="warning", fmt="console")
    events = make_events(args.entries)
    ticks = sum(1 for k, _ in events if k == "ticks")
    print(
        f"{len(events):,} entries ({ticks:,} ticks, {len(events) - ticks:,} quotes) over {INSTRUMENTS} instruments"
    )
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    label = (
        f"defaults (batch {defaults.writer.batch_max}, {defaults.writer.batch_ms} ms, "
        f"inflight {defaults.writer.inflight})"
    )
    results = [await one_run(events) for _ in range(args.runs)]
    print(_line(label, results), flush=True)
    print(f"  fill (pipelined XADD): {statistics.median(r['fill_per_s'] for r in results):,.0f} entries/s")
    if not args.sweep:
        return
    for batch_max in (500, 1000, 2000, 4000, 8000):
        res = [await one_run(events, writer_batch_max=batch_max) for _ in range(args.runs)]
        print(_line(f"writer_batch_max={batch_max}", res), flush=True)
    for batch_ms in (10, 50, 200):
        res = [await one_run(events, writer_batch_ms=batch_ms) for _ in range(args.runs)]
        print(_line(f"writer_batch_ms={batch_ms}", res), flush=True)
    for inflight in (1, 2, 3, 4):
        res = [
            await one_run(events, writer_inflight=inflight, writer_pool_size=max(4, inflight + 1))
            for _ in range(args.runs)
        ]
        print(_line(f"writer_inflight={inflight}", res), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
