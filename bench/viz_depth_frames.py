"""Frame time of the depth window (``dhan viz depth``) with 20-level books arriving live at ``--rate`` a second.

Setup: a private database and key prefix; ten minutes of a NIFTY future's 20-level books and trades from the
simulator's book model (devkit/depth_books.py), written to MySQL by the writer, ending now. Load: a producer
process publishes the session's continuation in real time (``--rate`` books a second, default 20, and the
trades of the same walk, about 15 a second). The window then runs alone for ``--seconds`` exactly as in
production, measured by bench/viz_frames.py's child (its 30 Hz frame timer; a frame is the model push plus
the paint events it causes; "full" repaints everything, sampled three times a second).

    .venv/bin/python bench/viz_depth_frames.py [--seconds 10] [--rate 20] [--cpu-clock]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import redis

from shared.db import init_schema
from shared.logs import configure_logging

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.viz_frames import _cleanup, _settings
from devkit.depth_books import Session, seed, session
from shared.lifeline import bound_argv, die_with

HISTORY_S = 600.0
CATCH_UP_S = 20.0  # the newest books are left in the stream for the seam's catch-up


def _produce(parent_pid: int, redis_url: str, prefix: str, books: list[dict[str, Any]],
             trades: list[dict[str, Any]]) -> None:  # fmt: skip
    """Publish each event when the wall clock reaches its receive time (stream and channel, like the feed)."""
    die_with(parent_pid)
    client = redis.Redis.from_url(redis_url)
    events = sorted([(b["recv_ts"], "depth20", b) for b in books] + [(t["recv_ts"], "ticks", t) for t in trades],
                    key=lambda e: e[0])  # fmt: skip
    i = 0
    while i < len(events):
        now = time.time()
        pipe = client.pipeline(transaction=False)
        while i < len(events) and events[i][0] <= now:
            _, kind, ev = events[i]
            pipe.xadd(f"{prefix}{kind}", {"d": orjson.dumps(ev)})
            i += 1
        pipe.execute()
        time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0, help="books per second")
    parser.add_argument("--profile", action="store_true", help="cProfile the window's run (top functions)")
    parser.add_argument("--cpu-clock", action="store_true", help="frames in CPU time, not wall time (viz_frames.py)")
    args = parser.parse_args()

    configure_logging("viz-bench", level="error", fmt="console")
    db, prefix = f"dhan_viz_depth_bench_{os.getpid()}", f"vizdepth{os.getpid()}:"
    settings = _settings(prefix, db)
    now = time.time()
    demo = session(start=now - HISTORY_S, seconds=HISTORY_S + args.seconds + 120, rate=args.rate)
    past = Session([b for b in demo.books if b["recv_ts"] < now], [t for t in demo.trades if t["recv_ts"] < now])
    future_b = [b for b in demo.books if b["recv_ts"] >= now]
    future_t = [t for t in demo.trades if t["recv_ts"] >= now]

    async def prepare() -> None:
        await init_schema(settings)
        await seed(settings, past, stored=len(past.books) - int(CATCH_UP_S * args.rate))

    asyncio.run(prepare())
    print(f"seeded: {len(past.books):,} books and {len(past.trades):,} trades of one NIFTY future over "
          f"{HISTORY_S:.0f} s; live {args.rate:g} books/s and ~{len(future_t) / (len(future_b) / args.rate):.0f} "
          f"trades/s; heatmap span 10 min (the default)")  # fmt: skip
    producer = multiprocessing.Process(
        target=_produce, daemon=True,
        args=(os.getpid(), settings.redis.url.get_secret_value(), prefix, future_b, future_t),
    )  # fmt: skip
    producer.start()
    try:
        cmd = [sys.executable, str(Path(__file__).with_name("viz_frames.py")), "--one", "depth", "--prefix", prefix,
               "--database", db, "--seconds", str(args.seconds)]  # fmt: skip
        cmd += (["--profile"] if args.profile else []) + (["--cpu-clock"] if args.cpu_clock else [])
        child = subprocess.run(bound_argv(cmd), capture_output=True, text=True, timeout=args.seconds + 180,
                               check=False)  # fmt: skip
        lines = [ln for ln in child.stdout.splitlines() if ln.startswith("RESULT ")]
        if args.profile or os.environ.get("VIZ_BENCH_TRACE"):
            print(child.stdout)
        if not lines:
            print(f"failed: {child.stderr.strip().splitlines()[-3:] or child.returncode}")
            return
        r = json.loads(lines[-1][7:])
        print(f"{'window':<10}{'load s':>7}{'frames':>7}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'full p50':>9}"
              f"{'full p99':>9}{'CPU %':>7}{'ev/s in':>9}")  # fmt: skip
        print(f"{r['window']:<10}{r['load_s']:>7.2f}{r['frames']:>7}{r['p50']:>8.2f}{r['p99']:>8.2f}{r['max']:>8.2f}"
              f"{r['full_p50']:>9.2f}{r['full_p99']:>9.2f}{r['cpu'] * 100:>7.1f}{r['events']:>9,.0f}")  # fmt: skip
    finally:
        producer.terminate()
        producer.join()
        asyncio.run(_cleanup(settings, db))


if __name__ == "__main__":
    main()
