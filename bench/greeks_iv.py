"""Implied-volatility solver throughput: IVs per second, median of runs. Run by hand:

    .venv/bin/python bench/greeks_iv.py [--n 20000] [--runs 7]

Two workloads: a tick-rounded NIFTY-like chain (ATM +/- 20 strikes, both sides, 1-30 days) and the whole
property-test domain (moneyness 0.5-1.5, 1 day-1 year, vol 5-150 %). Also prints evaluations per solve.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feed.greeks.black76 import greeks, price
from shared import iv as iv_module

Case = tuple[float, float, float, float, float, bool]


def chain_cases(n: int, rng: random.Random) -> list[Case]:
    out: list[Case] = []
    while len(out) < n:
        f = rng.uniform(24_000, 27_000)
        t = rng.uniform(1, 30) / 365
        atm = round(f / 50) * 50
        for i in range(-20, 21):
            k = float(atm + 50 * i)
            sigma = 0.12 + 0.25 * (k / f - 1.0) ** 2 * 10
            for is_call in (True, False):
                p = round(price(f, k, t, 0.065, sigma, is_call) / 0.05) * 0.05
                out.append((p, f, k, t, 0.065, is_call))
    return out[:n]


def domain_cases(n: int, rng: random.Random) -> list[Case]:
    out: list[Case] = []
    for _ in range(n):
        f = rng.uniform(50, 80_000)
        k = f * rng.uniform(0.5, 1.5)
        t, sigma, r = rng.uniform(1 / 365, 1.0), rng.uniform(0.05, 1.5), rng.uniform(0, 0.12)
        is_call = rng.random() < 0.5
        out.append((price(f, k, t, r, sigma, is_call), f, k, t, r, is_call))
    return out


def measure(cases: list[Case], runs: int) -> tuple[float, int]:
    solve = iv_module.implied_vol
    rates = []
    solved = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        solved = sum(1 for c in cases if solve(*c) is not None)
        rates.append(len(cases) / (time.perf_counter() - t0))
    return statistics.median(rates), solved


def evaluations(cases: list[Case]) -> tuple[float, int]:
    original = iv_module._otm_price_vega
    counts: list[int] = []
    n = [0]

    def counting(*a: object) -> tuple[float, float]:
        n[0] += 1
        return original(*a)  # type: ignore[arg-type]

    iv_module._otm_price_vega = counting  # type: ignore[assignment]
    try:
        for c in cases:
            n[0] = 0
            if iv_module.implied_vol(*c) is not None:
                counts.append(n[0])
    finally:
        iv_module._otm_price_vega = original  # type: ignore[assignment]
    return statistics.mean(counts), max(counts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(7)
    for name, cases in (("chain", chain_cases(args.n, rng)), ("domain", domain_cases(args.n, rng))):
        rate, solved = measure(cases, args.runs)
        mean_ev, max_ev = evaluations(cases)
        print(f"{name:<7} {rate:>10,.0f} IV/s (median of {args.runs})  solved {solved}/{len(cases)}  "
              f"evaluations mean {mean_ev:.2f} max {max_ev}")
    # greeks() for comparison: what the service spends after the solve
    g_cases = domain_cases(args.n, rng)
    t0 = time.perf_counter()
    for _p, f, k, t, r, c in g_cases:
        greeks(f, k, t, r, 0.2, c)
    print(f"greeks  {len(g_cases) / (time.perf_counter() - t0):>10,.0f} /s (one run)")


if __name__ == "__main__":
    main()
