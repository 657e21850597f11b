"""The feed publisher's commands for one batch (XADD per event, PUBLISH per stream): native against Python.

    .venv/bin/python bench/publish_batch.py [--events 1000] [--runs 7]

A batch holds ``--events`` encoded events in the feed's mix (half quotes, a quarter trades, a quarter 5-level
depth; JSON of 150-400 bytes, as orjson writes them). Prints the CPU time per event of
``feed._fastfeed.resp_batch`` (native) and ``feed.publisher.resp_batch_py`` (Python), median of the runs,
and their ratio.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson

from feed import publisher
from feed.publisher import KIND_DEPTH, KIND_QUOTES, KIND_TICKS, command_prefixes, resp_batch_py
from shared.keys import Keys


def make_chunk(n: int) -> list[tuple[int, bytes]]:
    rng = random.Random(5)
    out = []
    for _ in range(n):
        kind = rng.choice((KIND_QUOTES, KIND_QUOTES, KIND_TICKS, KIND_DEPTH))
        ltp = rng.randrange(2_000, 600_000) * 0.05
        ev: dict[str, Any] = {"v": 1, "seg": "NSE_FNO", "sid": rng.randrange(35_000, 90_000), "ltp": ltp,
                              "exchange_ts": 1_764_900_000 + rng.randrange(20_000), "recv_ts": time.time()}
        if kind == KIND_QUOTES:
            ev.update(volume=rng.randrange(10**7), oi=rng.randrange(10**6), open=ltp, high=ltp, low=ltp, close=ltp,
                      atp=ltp, tbq=rng.randrange(10**5), tsq=rng.randrange(10**5), bid=ltp - 0.05, ask=ltp + 0.05)
        elif kind == KIND_TICKS:
            ev.update(volume=rng.randrange(10**7), qty=75 * rng.randrange(1, 40), side="buy")
        else:
            levels = range(1, 6)
            ev.update(bids=[[ltp - 0.05 * i, 75, 3] for i in levels], asks=[[ltp + 0.05 * i, 75, 3] for i in levels])
        out.append((kind, orjson.dumps(ev)))
    return out


def per_event_us(fn: Callable[..., Any], chunk: list[tuple[int, bytes]], xadd: list[bytes], pub: list[bytes]) -> float:
    reps = max(1, 200_000 // len(chunk))
    t0 = time.process_time()
    for _ in range(reps):
        fn(chunk, xadd, pub)
    return (time.process_time() - t0) / reps / len(chunk) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    native = publisher._native_batch
    if native is None:
        sys.exit("feed._fastfeed is not built (make venv with a C compiler)")
    keys = Keys("dhan:")
    streams = (keys.quotes, keys.ticks, keys.depth, keys.greeks, keys.depth20)
    xadd, pub = command_prefixes(streams, (2_000_000,) * len(streams))
    chunk = make_chunk(args.events)
    assert native(chunk, xadd, pub) == resp_batch_py(chunk, xadd, pub)
    size = sum(len(p) for _, p in chunk) / len(chunk)
    results: dict[str, list[float]] = {"native": [], "python": []}
    for _ in range(args.runs):
        results["native"].append(per_event_us(native, chunk, xadd, pub))
        results["python"].append(per_event_us(resp_batch_py, chunk, xadd, pub))
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"{args.events:,} events a batch, {size:.0f} bytes of JSON an event, {args.runs} runs (median):")
    for name, v in results.items():
        print(f"  {name:7} {med[name]:.3f} us CPU per event (min {min(v):.3f})")
    print(f"  native / python: {med['native'] / med['python']:.2f}")


if __name__ == "__main__":
    main()
