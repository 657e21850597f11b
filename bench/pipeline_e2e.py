"""End to end: simulator -> feed -> Redis -> writer -> MySQL, at several rates.

Processes: the simulator (child, records the send time of every trade by (segment, id, cumulative volume)),
``dhan feed`` and ``dhan writer`` (children), and this script polling MySQL. Printed per rate (median of
--runs): rows/s committed per table, the writer group's lag on the ticks stream (max seen), and p50/p99 of
send -> commit for trades. Commit time is when this script first sees the trade's row: it polls
each instrument's last cumulative volume in ``dhan_trade_summary`` (committed with the ticks) every
--poll-ms, so figures carry up to that much polling delay plus the poll's own time (printed). Uses a
private database, dropped afterwards.
Run: .venv/bin/python bench/pipeline_e2e.py [--rates 1000,10000,max] [--seconds 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import pickle
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiomysql
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.feed_throughput import _free_port, _sim_child
from shared.lifeline import parent_env
from shared.settings import Settings

TABLES = ("dhan_ticks", "dhan_quotes", "dhan_depth", "dhan_trade_summary")


async def one_run(rate: float, seconds: float, redis_url: str, mysql_base: str, poll_ms: float) -> dict[str, float]:
    tag = uuid.uuid4().hex[:6]
    prefix, db = f"e2e{tag}:", f"dhan_bench_{tag}"
    port = _free_port()
    mysql_url = f"{mysql_base}/{db}"
    env = {**os.environ, "DHAN_KEY_PREFIX": prefix, "DHAN_SIM_PORT": str(port), "DHAN_REDIS_URL": redis_url,
           "DHAN_MYSQL_URL": mysql_url, "DHAN_LOG_LEVEL": "warning", "DHAN_NIFTY_STRIKES": "40",
           "DHAN_BANKNIFTY_STRIKES": "20", "DHAN_HEARTBEAT_INTERVAL_S": "0.5", "DHAN_HEALTH_PORT_BASE": "0"}
    subprocess.run([sys.executable, "-m", "shared.cli", "db", "init"], env=env, check=True, capture_output=True)
    settings = Settings(_env_file=None, key_prefix=prefix, sim_port=port, redis_url=redis_url,  # type: ignore[call-arg]
                        sim_rate=rate, log_level="warning", health_port_base=0, mysql_url=mysql_url)
    out_path = f"/tmp/{prefix[:-1]}-sent.pickle"
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    sim = ctx.Process(target=_sim_child, args=(settings, out_path, ready, os.getpid()), daemon=True)
    sim.start()
    ready.wait(30)
    procs = [subprocess.Popen([sys.executable, "-m", "shared.cli", name], env={**env, **parent_env()},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for name in ("writer", "feed")]
    target = settings.mysql.target
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    conn: Any = None
    seen: dict[tuple[int, int], list[tuple[int, float]]] = {}  # (seg code, sid) -> [(max volume, first seen)]
    seg_codes = {"IDX_I": 0, "NSE_EQ": 1, "NSE_FNO": 2, "MCX_COMM": 5}
    max_lag = 0
    poll_s: list[float] = []  # how long each poll took: the figures carry up to that much of its own delay
    try:  # everything after the children started: a failure still stops them and drops the database
        conn = await aiomysql.connect(**{**target.connect_kwargs(), "autocommit": True})
        t_end = time.monotonic() + 40
        while time.monotonic() < t_end and int((await client.hget(f"{prefix}svc:feed", "universe_changes")) or 0) < 1:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        async with conn.cursor() as cur:
            counts0 = {}
            for t in TABLES:
                await cur.execute(f"SELECT COUNT(*) FROM {t}")
                counts0[t] = (await cur.fetchone())[0]
            t0 = time.monotonic()
            t0_wall = time.time()
            last_lag_check = 0.0
            while time.monotonic() - t0 < seconds:
                q0 = time.perf_counter()
                # the day summary is upserted in the same transaction as the ticks: its last cumulative volume
                # is visible exactly when they are, and reading ~200 rows stays cheap as dhan_ticks grows
                await cur.execute("SELECT exchange_segment, security_id, MAX(last_cum_volume) FROM dhan_trade_summary "
                                  "GROUP BY exchange_segment, security_id")
                rows = await cur.fetchall()
                now = time.time()
                poll_s.append(time.perf_counter() - q0)
                for seg, sid, vol in rows:
                    key = (seg_codes.get(seg, -1), int(sid))
                    hist = seen.setdefault(key, [])
                    if not hist or hist[-1][0] < vol:
                        hist.append((int(vol), now))
                if time.monotonic() - last_lag_check > 0.5:
                    last_lag_check = time.monotonic()
                    try:
                        for g in await client.xinfo_groups(f"{prefix}ticks"):
                            if g["name"] == "writer" and g.get("lag") is not None:
                                max_lag = max(max_lag, int(g["lag"]))
                    except Exception:
                        pass
                await asyncio.sleep(poll_ms / 1000)
            el = time.monotonic() - t0
            t1_wall = time.time() - 1.0  # trades sent in the last second may not be committed yet
            counts1 = {}
            for t in TABLES:
                await cur.execute(f"SELECT COUNT(*) FROM {t}")
                counts1[t] = (await cur.fetchone())[0]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(20)
        sim.terminate()
        sim.join(30)
        if conn is not None:
            conn.close()
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        admin = await aiomysql.connect(**{**target.connect_kwargs(with_db=False), "autocommit": True})
        async with admin.cursor() as cur:
            await cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
        admin.close()
    with open(out_path, "rb") as fh:
        sent_at: dict[tuple[int, int, int], float] = pickle.load(fh)
    os.unlink(out_path)
    lat: list[float] = []
    for (seg, sid, vol), sent in sent_at.items():
        if not t0_wall <= sent <= t1_wall:
            continue
        for max_vol, first_seen in seen.get((seg, sid), []):
            if max_vol >= vol:
                if first_seen >= sent:
                    lat.append(first_seen - sent)
                break
    lat.sort()
    pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: float("nan"))
    out = {f"{t}_per_s": (counts1[t] - counts0[t]) / el for t in TABLES}
    out.update({"p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_lag": float(max_lag), "samples": float(len(lat)),
                "poll_ms": statistics.median(poll_s) * 1000 if poll_s else float("nan")})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="1000,10000,max")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--poll-ms", type=float, default=5)
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--mysql-base", default="mysql://root@127.0.0.1:3306")
    args = ap.parse_args()
    for r in args.rates.split(","):
        rate = 1_000_000.0 if r == "max" else float(r)
        runs = [asyncio.run(one_run(rate, args.seconds, args.redis_url, args.mysql_base, args.poll_ms))
                for _ in range(args.runs)]
        med = {k: statistics.median(x[k] for x in runs) for k in runs[0]}
        print(f"rate {r:>6}: ticks rows/s {med['dhan_ticks_per_s']:>8,.0f}  summary upserts/s "
              f"{med['dhan_trade_summary_per_s']:>6,.0f}  writer lag max {med['max_lag']:>8,.0f}  "
              f"send->commit p50 {med['p50_ms']:7.1f} ms  p99 {med['p99_ms']:7.1f} ms  "
              f"(trades {med['samples']:,.0f}; median of {args.runs}; one poll takes {med['poll_ms']:.1f} ms)",
              flush=True)


if __name__ == "__main__":
    main()
