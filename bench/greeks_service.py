"""Greeks service throughput on the local Redis: quotes/s consumed and greeks/s published. Run by hand:

    .venv/bin/python bench/greeks_service.py [--quotes 50000] [--runs 3] [--batch 1000] [--options-share 0.6]

Each run writes a NIFTY/BANKNIFTY universe (ATM +/- 20 and +/- 10, both expiries' futures) and ``--quotes``
quote events (futures and options mixed, option premiums from Black-76 on a 15 % flat vol) under a private
prefix, then drains them with the real service loop (group from ``0``) and deletes the prefix. Prints the
median of runs. ``coalesced`` shows how much of the work the per-batch coalescing saved.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
import redis.asyncio as aioredis

from feed.greeks.black76 import price, year_fraction
from feed.greeks.service import GreeksService
from shared.clock import ist_trading_day, to_dhan_epoch
from shared.events import EVENT_FIELD
from shared.keys import Keys
from shared.logs import configure_logging
from shared.settings import Settings


def build(n_quotes: int, options_share: float, rng: random.Random) -> tuple[dict[str, bytes], list[bytes]]:
    now = time.time()
    near = ist_trading_day(now) + timedelta(days=6)
    universe: dict[str, bytes] = {}
    futures: dict[str, tuple[int, float]] = {}
    options: list[tuple[int, str, float, bool]] = []
    sid = 50_000
    for u, spot, step, n in (("NIFTY", 26_050.0, 50.0, 20), ("BANKNIFTY", 59_300.0, 100.0, 10)):
        for days in (6, 34):
            sid += 1
            exp = ist_trading_day(now) + timedelta(days=days)
            universe[f"NSE_FNO:{sid}"] = orjson.dumps(
                {
                    "seg": "NSE_FNO",
                    "sid": sid,
                    "underlying": u,
                    "instrument": "FUTIDX",
                    "expiry": exp.isoformat(),
                    "strike": None,
                    "option_type": None,
                    "role": "future",
                }
            )
            if days == 6:
                futures[u] = (sid, spot)
        for i in range(-n, n + 1):
            for ot in ("CE", "PE"):
                sid += 1
                k = spot + i * step
                universe[f"NSE_FNO:{sid}"] = orjson.dumps(
                    {
                        "seg": "NSE_FNO",
                        "sid": sid,
                        "underlying": u,
                        "instrument": "OPTIDX",
                        "expiry": near.isoformat(),
                        "strike": k,
                        "option_type": ot,
                        "role": "option",
                    }
                )
                options.append((sid, u, k, ot == "CE"))
    t = year_fraction(near, now)
    entries: list[bytes] = []
    for _ in range(n_quotes):
        if rng.random() < options_share:
            sid, u, k, call = rng.choice(options)
            f = futures[u][1]
            ltp = round(max(0.05, price(f, k, t, 0.065, 0.15, call)) / 0.05) * 0.05
        else:
            u = rng.choice(("NIFTY", "BANKNIFTY"))
            sid, f = futures[u]
            ltp = f
        entries.append(
            orjson.dumps(
                {
                    "v": 1,
                    "seg": "NSE_FNO",
                    "sid": sid,
                    "ltp": round(ltp, 2),
                    "exchange_ts": to_dhan_epoch(now),
                    "recv_ts": now,
                    "bid": None,
                    "ask": None,
                }
            )
        )
    return universe, entries


async def one_run(args: argparse.Namespace, rng: random.Random) -> tuple[float, float, int, int]:
    settings = Settings(
        _env_file=None,
        key_prefix=f"bench{uuid.uuid4().hex[:8]}:",  # type: ignore[call-arg]
        heartbeat_interval_s=1.0,
    )
    keys = Keys(settings.redis.key_prefix)
    r = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
    try:
        universe, entries = build(args.quotes, args.options_share, rng)
        await r.hset(keys.universe, mapping=universe)
        for i in range(0, len(entries), 5000):
            pipe = r.pipeline(transaction=False)
            for e in entries[i : i + 5000]:
                pipe.xadd(keys.quotes, {EVENT_FIELD: e})
            await pipe.execute()
        svc = GreeksService(settings, drain=True, group_start="0", batch_max=args.batch)
        t0 = time.perf_counter()
        await svc.serve()
        elapsed = time.perf_counter() - t0
        return svc.quotes / elapsed, svc.greeks / elapsed, svc.greeks, svc.coalesced
    finally:
        stale = [k async for k in r.scan_iter(match=f"{settings.redis.key_prefix}*", count=1000)]
        if stale:
            await r.delete(*stale)
        await r.aclose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quotes", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--options-share", type=float, default=0.6)
    args = ap.parse_args()
    configure_logging("bench", level="warning", fmt="console")
    rng = random.Random(11)
    results = [asyncio.run(one_run(args, rng)) for _ in range(args.runs)]
    q = statistics.median(r[0] for r in results)
    g = statistics.median(r[1] for r in results)
    print(
        f"quotes {args.quotes} batch {args.batch}: {q:,.0f} quotes/s, {g:,.0f} greeks/s "
        f"(median of {args.runs}; {results[-1][2]} greeks, {results[-1][3]} option quotes coalesced)"
    )


if __name__ == "__main__":
    main()
