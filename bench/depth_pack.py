"""Packing 20-level books for dhan_depth20 (the writer's step per depth20 event): native against Python.

    .venv/bin/python bench/depth_pack.py [--books 20000] [--runs 7] [--levels 20]

The books are what the writer gets from a dhan:depth20 entry (orjson lists: [price, qty, orders], prices on a
0.05 tick with float noise, lot-multiple quantities). Prints books/s of CPU time, median of the runs, for
``shared._depthpack.pack`` (native) and ``shared.depth_pack.pack_py`` (Python), and their ratio.
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

from shared import depth_pack


def make_books(n: int, levels: int) -> list[tuple[Any, Any]]:
    rng = random.Random(11)
    out = []
    for _ in range(n):
        mid = rng.randrange(2_000, 600_000) * 0.05
        bids = [[mid - 0.05 * (i + 1), 75 * rng.randrange(1, 400), rng.randrange(1, 60)] for i in range(levels)]
        asks = [[mid + 0.05 * (i + 1), 75 * rng.randrange(1, 400), rng.randrange(1, 60)] for i in range(levels)]
        ev = orjson.loads(orjson.dumps({"bids": bids, "asks": asks}))  # as the writer reads them
        out.append((ev["bids"], ev["asks"]))
    return out


def rate(fn: Callable[[Any, Any], Any], books: list[tuple[Any, Any]]) -> float:
    t0 = time.process_time()
    for bids, asks in books:
        fn(bids, asks)
    return len(books) / (time.process_time() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--books", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--levels", type=int, default=20)
    args = ap.parse_args()
    if not depth_pack.NATIVE:
        sys.exit("shared._depthpack is not built (no C compiler at install): nothing to compare")
    from shared._depthpack import pack as native

    books = make_books(args.books, args.levels)
    for bids, asks in books[:200]:
        assert native(bids, asks) == depth_pack.pack_py(bids, asks)
    nat, py = [], []
    for _ in range(args.runs):
        nat.append(rate(native, books))
        py.append(rate(depth_pack.pack_py, books))
    n, p = statistics.median(nat), statistics.median(py)
    print(f"{args.levels} levels a side, {args.books:,} books, median of {args.runs} runs (CPU time):")
    print(f"  native {n:>12,.0f} books/s  ({1e6 / n:6.2f} us a book)")
    print(f"  python {p:>12,.0f} books/s  ({1e6 / p:6.2f} us a book)")
    print(f"  native / python: {n / p:.1f}x")


if __name__ == "__main__":
    main()
