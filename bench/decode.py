"""Decode + normalise rate (packets/s, one core), ours beside the official dhanhq client's parser.

Run: .venv/bin/python bench/decode.py [--n 200000] [--runs 5] [--kinds full,quote,ticker,oi,prev_close]
The dhanhq comparison runs when the package is importable (pip install dhanhq==2.3.0 into the venv); it parses
with its own per-packet struct.unpack + dict + string formatting, as it does in its feed loop.

Rates are packets per CPU-second of this process (time.process_time: steadier than wall time on a shared box).
Each run measures ours and the official client back to back, so both see the same load; the ratio printed is
the median of the runs' ratios.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feed.normalise import Normaliser

_clock = time.process_time
from feed.protocol.decode import Decoder
from feed.protocol.encode import pack_full, pack_oi, pack_prev_close, pack_quote, pack_ticker


def make_frames(n: int, kind: str) -> list[bytes]:
    rng = random.Random(7)
    frames = []
    vols = [0] * 200
    for i in range(n):
        sid = 40000 + (i % 200)
        vols[i % 200] += rng.randint(0, 3) * 75
        ltp = 25000 + rng.randint(-400, 400) * 0.05
        if kind == "full":
            depth = tuple((rng.randint(1, 900) * 75, rng.randint(1, 900) * 75, rng.randint(1, 30), rng.randint(1, 30),
                           ltp - 0.05 * (lvl + 1), ltp + 0.05 * (lvl + 1)) for lvl in range(5))
            frames.append(pack_full(2, sid, ltp=ltp, ltq=75, ltt=1795598100 + i // 1000, atp=25000.0,
                                    volume=vols[i % 200], total_sell_qty=1000, total_buy_qty=1200, oi=5_000_000,
                                    oi_high=5_100_000, oi_low=4_900_000, open=24950.0, close=24900.0,
                                    high=25100.0, low=24800.0, depth=depth))
        elif kind == "quote":
            frames.append(pack_quote(2, sid, ltp=ltp, ltq=75, ltt=1795598100, atp=25000.0, volume=vols[i % 200],
                                     total_sell_qty=1, total_buy_qty=1, open=1.0, close=1.0, high=1.0, low=1.0))
        elif kind == "oi":
            frames.append(pack_oi(2, sid, 5_000_000 + vols[i % 200]))
        elif kind == "prev_close":
            frames.append(pack_prev_close(2, sid, ltp, 5_000_000))
        else:
            frames.append(pack_ticker(0, sid, ltp, 1795598100))
    return frames


def run_ours(frames: list[bytes], fast: bool) -> float:
    """Frame -> decoded -> normalised events encoded as JSON bytes (what the publisher sends)."""
    dec = Decoder()
    norm = Normaliser(fast=fast)
    quotes: list[bytes] = []
    ticks: list[bytes] = []
    depth: list[bytes] = []
    feed = norm.feed_frame
    t0 = _clock()
    for i, f in enumerate(frames):
        feed(dec, f, 1795578300.123456, quotes, ticks, depth)
        if i & 1023 == 0:
            quotes.clear(); ticks.clear(); depth.clear()
    return len(frames) / (_clock() - t0)


def run_decode_only(frames: list[bytes]) -> float:
    dec = Decoder()
    t0 = _clock()
    for f in frames:
        dec.decode(f)
    return len(frames) / (_clock() - t0)


def run_dhanhq(frames: list[bytes]) -> float | None:
    try:
        from dhanhq.marketfeed import MarketFeed  # type: ignore[import-not-found]
    except Exception:
        return None
    feed = MarketFeed.__new__(MarketFeed)  # parser methods only; no connection
    t0 = _clock()
    for f in frames:
        feed.process_data(f)
    return len(frames) / (_clock() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--kinds", default="full,quote,ticker,oi,prev_close")
    args = ap.parse_args()
    for kind in args.kinds.split(","):
        frames = make_frames(args.n, kind)
        ours: list[float] = []
        pure: list[float] = []
        dec: list[float] = []
        ref: list[float | None] = []
        for _ in range(args.runs):  # interleaved: each run's numbers see the same load
            ours.append(run_ours(frames, True))
            pure.append(run_ours(frames, False))
            dec.append(run_decode_only(frames))
            ref.append(run_dhanhq(frames))
        line = (f"{kind:10s} decode-only {statistics.median(dec):>11,.0f}/s | decode+normalise+encode: "
                f"native {statistics.median(ours):>10,.0f}/s  pure-python {statistics.median(pure):>9,.0f}/s")
        if all(ref):
            refs = [r for r in ref if r]
            ratio = statistics.median(o / r for o, r in zip(ours, refs, strict=True))
            line += f"   dhanhq 2.3.0 median {statistics.median(refs):>9,.0f}/s  ratio {ratio:.1f}x"
        print(line, flush=True)


if __name__ == "__main__":
    main()
