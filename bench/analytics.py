"""Throughput of the trader-analytics computations on a synthetic trading day of one instrument.

Run: .venv/bin/python bench/analytics.py [--ticks 1000000] [--runs 3]
A day of ``--ticks`` trades from 09:15 to 15:30 IST (a random walk on 0.05 ticks around 25,000, quantities of
1-100 lots of 75, random sides and OI), as columns (numpy) and as :class:`Trade` tuples. Each computation runs
``--runs`` times; the median CPU time gives ticks (or rows) per second. "bulk" is the numpy history path,
"live" one call per trade as a window or the writer makes it.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from shared.candle_arrays import candles_from_arrays
from shared.candles import DAY_S, LiveCandles, Trade, fold_candles, resample, session_open_s
from viz.models.sessions import NakedPocs, SessionLevels
from viz.models.tpo import TpoProfile
from viz.models.vwap import SessionRule, SessionVwap, session_vwap

OPEN = (date(2026, 3, 2) - date(1970, 1, 1)).days * DAY_S + session_open_s("NSE_FNO")
SESSION_S = 6 * 3600 + 15 * 60


def make_day(n: int) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    ts = OPEN + np.sort(rng.integers(0, SESSION_S, n)).astype(np.int64)
    price4 = (25_000 * 10_000 + np.cumsum(rng.integers(-1, 2, n)) * 500).astype(np.int64)
    qty = (rng.integers(1, 101, n) * 75).astype(np.int64)
    cum = np.cumsum(qty) + 1_000
    side = rng.integers(0, 3, n).astype(np.int8)
    oi = rng.integers(10**6, 2 * 10**6, n).astype(np.int64)
    sides = np.array(["", "B", "S"])[side]
    trades = [Trade(*row) for row in zip(ts.tolist(), cum.tolist(), price4.tolist(), qty.tolist(),
                                         sides.tolist(), oi.tolist(), strict=True)]
    return {"ts": ts, "price4": price4, "price": price4 / 10_000, "qty": qty, "cum": cum, "side": side, "oi": oi,
            "trades": trades}


def measure(label: str, items: int, unit: str, runs: int, fn: Callable[[], Any]) -> None:
    times = []
    for _ in range(runs):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    cpu = statistics.median(times)
    print(f"{label:<44} {items / cpu:>14,.0f} {unit}/s   ({cpu * 1000:8.1f} ms CPU for {items:,})")


def live_candles(trades: list[Trade]) -> None:
    live = LiveCandles()
    for t in trades:
        live.add(t)


def live_vwap(d: dict[str, Any]) -> None:
    vwap = SessionVwap(SessionRule.for_segment("NSE_FNO"))
    for t, p, q in zip(d["ts"].tolist(), d["price"].tolist(), d["qty"].tolist(), strict=True):
        vwap.add(t, p, q)


def live_tpo(d: dict[str, Any]) -> None:
    tpo = TpoProfile(0.05, OPEN)
    for t, p in zip(d["ts"].tolist(), d["price"].tolist(), strict=True):
        tpo.add(t, p)
    tpo.stats()


def naked_pocs(d: dict[str, Any]) -> None:
    pocs = NakedPocs()
    for i in range(250):  # a year of sessions, POCs spread around today's prices
        pocs.add_session(SessionLevels(date(2025, 1, 1), 24_900 + 0.8 * i, 0, 0, 0, 0))
    for t, p in zip(d["ts"].tolist(), d["price"].tolist(), strict=True):
        pocs.touch(p, p, t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ticks", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    d = make_day(args.ticks)
    n, runs = args.ticks, args.runs
    print(f"{n:,} ticks, one instrument, 09:15-15:30; median of {runs} runs")
    minutes = candles_from_arrays(d["ts"], d["cum"], d["price4"], d["qty"], d["side"], d["oi"])
    measure("candles 1m, bulk (candles_from_arrays)", n, "ticks", runs,
            lambda: candles_from_arrays(d["ts"], d["cum"], d["price4"], d["qty"], d["side"], d["oi"]))
    measure("candles 1m, writer fold (fold_candles)", n, "ticks", runs,
            lambda: fold_candles(("X", t) for t in d["trades"]))
    measure("candles 1m, live (LiveCandles.add)", n, "ticks", runs, lambda: live_candles(d["trades"]))
    for period in (300, 900, 3600, DAY_S):
        measure(f"resample 1m -> {period} s ({len(minutes)} minutes)", len(minutes), "rows", runs,
                functools.partial(resample, minutes, period, session_open_s("NSE_FNO")))
    rule = SessionRule.for_segment("NSE_FNO")
    measure("session VWAP + sigma per tick, bulk", n, "ticks", runs,
            lambda: session_vwap(d["ts"], d["price"], d["qty"], rule))
    measure("session VWAP + sigma, live (SessionVwap.add)", n, "ticks", runs, lambda: live_vwap(d))
    measure("TPO, bulk (add_many) + stats", n, "ticks", runs, lambda: _tpo_bulk(d))
    measure("TPO, live (add) + stats", n, "ticks", runs, lambda: live_tpo(d))
    measure("naked POCs, live touch (250 sessions)", n, "ticks", runs, lambda: naked_pocs(d))


def _tpo_bulk(d: dict[str, Any]) -> None:
    tpo = TpoProfile(0.05, OPEN)
    tpo.add_many(d["ts"], d["price"])
    tpo.stats()


if __name__ == "__main__":
    main()
