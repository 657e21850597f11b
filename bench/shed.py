"""Cost of shedding the publisher's buffer at its memory cap (feed/shed.py): one blocking call on the loop.

Run: .venv/bin/python bench/shed.py [--events 500000] [--instruments 5000] [--drop 100000] [--runs 3]
A buffer of quotes, depth and ticks (2:1:1) of ``--instruments`` instruments in time order, as the feed holds
it while Redis and the spool both fail; prints the CPU and wall seconds per shed of ``--drop`` events
(medians; CPU time is the figure to trust on a shared machine).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson

from feed.shed import shed

KINDS = ("quotes", "ticks", "depth", "greeks")


def make_buffer(n: int, instruments: int) -> list[tuple[int, bytes]]:
    rng = random.Random(7)
    out: list[tuple[int, bytes]] = []
    levels = [[25000.0 - 0.05 * i, 75 * i, i] for i in range(5)]
    for i in range(n):
        sid, kind, ts = 40000 + rng.randrange(instruments), rng.choice((0, 0, 1, 2)), 1_795_598_100.0 + i / 1000
        head = {"v": 1, "seg": "NSE_FNO", "sid": sid}
        if kind == 0:
            body = {"ltp": 25000.05, "ltq": 75, "exchange_ts": 1795598100, "atp": 25000.0, "volume": 1000 + i,
                    "tsq": 1000, "tbq": 1200, "oi": 5_000_000, "oi_high": 5_100_000, "oi_low": 4_900_000,
                    "open": 24950.0, "close": 24900.0, "high": 25100.0, "low": 24800.0, "prev_close": 24900.0,
                    "prev_oi": 4_950_000, "bid": 25000.0, "ask": 25000.1, "recv_ts": ts, "src": 8}
        elif kind == 1:
            body = {"ltp": 25000.05, "qty": 75, "ltq": 75, "volume": 1000 + i, "exchange_ts": 1795598100,
                    "oi": 5_000_000, "side": "B", "bid": 25000.0, "ask": 25000.1, "recv_ts": ts}
        else:
            body = {"exchange_ts": 1795598100, "recv_ts": ts, "bids": levels, "asks": levels}
        out.append((kind, orjson.dumps({**head, **body})))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=500_000)
    ap.add_argument("--instruments", type=int, default=5000)
    ap.add_argument("--drop", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    items = make_buffer(args.events, args.instruments)
    wall, cpu = [], []
    for _ in range(args.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        kept, dropped = shed(items, args.events - args.drop, frozenset({0, 2, 3}), KINDS)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print(f"shed {args.events:,} -> {len(kept):,} events ({dropped.superseded:,} superseded, "
          f"{len(dropped.instruments):,} instruments): {statistics.median(cpu):.3f} s CPU, "
          f"{statistics.median(wall):.3f} s wall (medians of {args.runs})")


if __name__ == "__main__":
    main()
