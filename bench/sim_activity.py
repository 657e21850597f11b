"""What ``dhan sim`` + ``dhan feed`` deliver per instrument class with the default settings (run by hand).

Both run as child processes on the default universe (ATM +/- 20 NIFTY strikes, +/- 10 BANKNIFTY, two futures
each, the indices, the NIFTY 50) against the local Redis, under a key prefix of their own (deleted after).
After ``--seconds`` the feed's quote and tick streams are read back and, per class, printed: instruments, quote
events per second per instrument (median, min, max), trades per second per instrument (median), and how long
after the first event each instrument's first price came (the snapshot on subscribe; median, max).

Classes of options go by strikes out of the money against the near future at the end of the run: ATM (within
one strike), OTM 2-5, OTM > 5, ITM 2-5, ITM > 5 (a strike is 50 NIFTY / 100 BANKNIFTY points).
The opening/closing burst is off (``--burst`` to keep it) so the figures are mid-session ones.

Usage: ``.venv/bin/python bench/sim_activity.py [--seconds 60]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.lifeline import parent_env

STEP = {"NIFTY": 50.0, "BANKNIFTY": 100.0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def classify(info: dict[str, Any], near_future: dict[str, float]) -> str:
    role = info.get("role")
    if role != "option":
        if role == "future":
            return "future (near)" if info.get("rank", 0) == 0 else "future (next)"
        return str(role)
    f = near_future.get(info["underlying"])
    if f is None:
        return "option (no future)"
    out = (float(info["strike"]) - f) / STEP.get(info["underlying"], 50.0)
    out = out if info.get("option_type") == "CE" else -out
    if abs(out) <= 1.0:
        return "option ATM"
    if out > 0:
        return "option OTM 2-5" if out <= 5 else "option OTM >5"
    return "option ITM 2-5" if out >= -5 else "option ITM >5"


async def read_stream(client: aioredis.Redis, key: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    start = "-"
    while True:
        batch = await client.xrange(key, min=start, count=10_000)
        if not batch:
            return out
        out += [orjson.loads(fields[b"d"]) for _, fields in batch]
        start = "(" + batch[-1][0].decode()


def near_futures(universe: dict[str, dict[str, Any]], last: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    futures = sorted((x for x in universe.values() if x.get("role") == "future"), key=lambda x: x["expiry"])
    rank: dict[str, int] = defaultdict(int)
    for x in futures:
        x["rank"] = rank[x["underlying"]]
        rank[x["underlying"]] += 1
        key = f"{x['seg']}:{x['sid']}"
        if x["rank"] == 0 and key in last:
            out[x["underlying"]] = last[key]
    return out


async def run(seconds: float, redis_url: str, burst: bool) -> None:
    prefix = f"bench{uuid.uuid4().hex[:6]}:"
    env = {**os.environ, **parent_env(), "DHAN_KEY_PREFIX": prefix, "DHAN_SIM_PORT": str(_free_port()),
           "DHAN_REDIS_URL": redis_url, "DHAN_LOG_LEVEL": "warning", "DHAN_JOURNAL_ENABLED": "false",
           "DHAN_HEALTH_PORT_BASE": "0"}
    if not burst:
        env["DHAN_SIM_BURST_FACTOR"] = "0"
    for name in ("DHAN_SIM_RATE", "DHAN_CLIENT_ID", "DHAN_ACCESS_TOKEN"):
        env.pop(name, None)  # the defaults: live-session activity, the simulator
    procs = [subprocess.Popen([sys.executable, "-m", "shared.cli", cmd], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for cmd in ("sim", "feed")]
    client = aioredis.Redis.from_url(redis_url)
    try:
        await asyncio.sleep(seconds)
    finally:
        for p in procs[::-1]:
            p.terminate()
            p.wait(15)
    try:
        quotes = await read_stream(client, f"{prefix}quotes")
        ticks = await read_stream(client, f"{prefix}ticks")
        raw = await client.hgetall(f"{prefix}universe")
        universe = {k.decode(): orjson.loads(v) for k, v in raw.items()}
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    report(quotes, ticks, universe)


def report(quotes: list[dict[str, Any]], ticks: list[dict[str, Any]], universe: dict[str, dict[str, Any]]) -> None:
    if not quotes:
        print("no quote events: is Redis up, did the feed start?")
        return
    first: dict[str, float] = {}
    last_price: dict[str, float] = {}
    count: dict[str, int] = defaultdict(int)
    t0 = min(q["recv_ts"] for q in quotes)
    for q in quotes:
        key = f"{q['seg']}:{q['sid']}"
        count[key] += 1
        if q.get("ltp") is not None:  # a price (the previous close alone makes an event without one)
            first.setdefault(key, q["recv_ts"])
            last_price[key] = q["ltp"]
    trades: dict[str, int] = defaultdict(int)
    for t in ticks:
        trades[f"{t['seg']}:{t['sid']}"] += 1
    span = max(q["recv_ts"] for q in quotes) - t0
    futures = near_futures(universe, last_price)
    classes: dict[str, list[str]] = defaultdict(list)
    for key, info in universe.items():
        classes[classify(info, futures)].append(key)
    total = sum(count.values()) / span
    print(f"{len(universe)} instruments, {len(quotes):,} quote events and {len(ticks):,} trades in {span:.0f} s "
          f"({total:.0f} quote events/s)")
    print(f"{'class':<16}{'n':>4}  {'quotes/s each: median':>22}{'min':>7}{'max':>7}  {'trades/s':>9}"
          f"  {'first price after (s): median':>30}{'max':>7}")
    for name in sorted(classes):
        keys = classes[name]
        rates = [count.get(k, 0) / span for k in keys]
        late = [first[k] - t0 for k in keys if k in first]
        missing = len(keys) - len(late)
        print(f"{name:<16}{len(keys):>4}  {statistics.median(rates):>22.2f}{min(rates):>7.2f}{max(rates):>7.2f}  "
              f"{statistics.median(trades.get(k, 0) / span for k in keys):>9.2f}  "
              f"{statistics.median(late) if late else float('nan'):>30.2f}{max(late) if late else float('nan'):>7.2f}"
              + (f"  ({missing} without a price)" if missing else ""))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--burst", action="store_true", help="keep the opening/closing burst of the wall clock")
    args = ap.parse_args()
    started = time.monotonic()
    asyncio.run(run(args.seconds, args.redis_url, args.burst))
    print(f"(ran {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
