"""Depth-feed hot path rate (books/s, one core): a frame of bid and ask packets -> DepthDecoder -> BookMerger
-> the encoded dhan:depth20 events the publisher sends. Dhan's auto set is 22 instruments; even at several
updates a second each that is ~100 books/s, so this says how much of a core the depth sockets cost.

Run: .venv/bin/python bench/depth_books.py [--n 20000] [--runs 5] [--per-frame 1]
Measured here (2 shared cores, load ~10): 20 levels 18-27k books/s (37-55 us a book), 200 levels ~2.5k/s.
Measured 5 Dec 2026 (2 cores, quiet): 20 levels 62k books/s (16.0 us) before the native book rows, 75k
(13.3 us) with them; 200 levels 9.2k (108 us) -> 11.5k (87 us).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feed.fulldepth.books import BookMerger
from feed.protocol.depth import DepthDecoder
from feed.protocol.encode import pack_depth_side


def make_frames(n: int, levels: int, per_frame: int) -> list[bytes]:
    """``n`` instrument updates (a bid and an ask side each), ``per_frame`` instruments per WebSocket message."""
    rng = random.Random(7)
    frames: list[bytes] = []
    batch = b""
    for i in range(n):
        sid = 40000 + i % 22
        mid = 250.0 + rng.randint(-40, 40) * 0.05
        bids = [(round(mid - 0.05 * (k + 1), 2), 65 * rng.randint(1, 40), rng.randint(1, 30)) for k in range(levels)]
        asks = [(round(mid + 0.05 * (k + 1), 2), 65 * rng.randint(1, 40), rng.randint(1, 30)) for k in range(levels)]
        batch += (pack_depth_side(2, sid, bids, bid=True, levels=levels, sequence=i)
                  + pack_depth_side(2, sid, asks, bid=False, levels=levels, sequence=i))
        if (i + 1) % per_frame == 0:
            frames.append(batch)
            batch = b""
    if batch:
        frames.append(batch)
    return frames


def run(frames: list[bytes], levels: int, books: int) -> float:
    decoder = DepthDecoder(levels)
    merger = BookMerger(levels, tick_sizes={(2, 40000 + k): 0.05 for k in range(22)})
    out = 0
    t0 = time.perf_counter()
    for f in frames:
        out += len(merger.feed(decoder.decode(f), 1795578300.123456))
    elapsed = time.perf_counter() - t0
    assert out == books and decoder.stats.bad == 0
    return books / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--per-frame", type=int, default=1)
    args = ap.parse_args()
    for levels in (20, 200):
        n = args.n if levels == 20 else args.n // 10
        frames = make_frames(n, levels, args.per_frame)
        rates = [run(frames, levels, n) for _ in range(args.runs)]
        med = statistics.median(rates)
        print(f"{levels:>3} levels, {args.per_frame} instrument(s)/frame: {med:,.0f} books/s "
              f"(median of {args.runs}; {1e6 / med:.1f} us a book)")


if __name__ == "__main__":
    main()
