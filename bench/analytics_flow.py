"""Speed of the trader-analytics models (viz/models: footprint, straddle, gex, oi): live updates and bulk loads.

Run: .venv/bin/python bench/analytics_flow.py [--trades 200000] [--strikes 100] [--runs 3]

Live: one event at a time through the models' public calls, as a window's reader would feed them (footprint
``add_tick`` of tick events on 100-trade bars, straddle ``apply_quote`` over a chain with the future moving
the ATM, OI ``apply_quote``), and the on-demand computations a repaint makes (a footprint bar's view, GEX by
strike and the zero-gamma level over a ``--strikes`` chain, the OI table and max pain). Bulk: a day of
history through ``extend``. Prints the median of ``--runs`` runs as events (or calls) per second of CPU time
(the figure to trust on a shared machine).
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

import numpy as np

from viz.models.contracts import OptionSpec
from viz.models.footprint import FootprintConfig, FootprintModel
from viz.models.gex import GexModel
from viz.models.oi import OiChainModel
from viz.models.straddle import UNDERLYING, StraddleModel
from viz.models.ticks import SIDE_CODES

T0 = 1_795_598_100  # 09:15 IST in Dhan's epoch
NOW_UTC = 1_795_578_300.0
EXPIRY = "2026-11-26"


def rate(fn: Callable[[], int], runs: int) -> float:
    """Median of ``runs`` runs of ``fn`` (which returns how many events it handled) in events per CPU second."""
    out = []
    for _ in range(runs):
        c0 = time.process_time()
        n = fn()
        out.append(n / max(time.process_time() - c0, 1e-9))
    return statistics.median(out)


def tick_events(n: int) -> list[dict[str, Any]]:
    rng = random.Random(1)
    price, out = 25_000.0, list[dict[str, Any]]()
    for i in range(n):
        price = round(price + rng.choice((-0.1, -0.05, 0.0, 0.05, 0.1)), 2)
        out.append({"ltp": price, "qty": 75 * rng.randint(1, 4), "side": rng.choice(("B", "S", "")),
                    "rule": rng.choice(("q", "t")), "exchange_ts": T0 + i // 20})
    return out


def chain(strikes: int) -> list[OptionSpec]:
    base = 25_000.0 - 50.0 * (strikes // 2)
    return [OptionSpec(f"NSE_FNO:{2 * i + j}", base + 50.0 * i, ("CE", "PE")[j], lot_size=75, expiry=EXPIRY)
            for i in range(strikes) for j in (0, 1)]


def bench_footprint(n: int, runs: int) -> None:
    events = tick_events(n)
    cfg = FootprintConfig(tick_size=0.05, trades_per_bar=100)

    def live() -> int:
        fp = FootprintModel(cfg)
        for e in events:
            fp.add_tick(e)
        return len(events)

    fp = FootprintModel(cfg)
    for e in events[:150]:
        fp.add_tick(e)

    def view() -> int:
        for _ in range(2_000):
            fp.bars[-1].version += 1  # as if a trade arrived: the forming bar's view is rebuilt
            fp.view(len(fp.bars) - 1)
        return 2_000

    price = np.array([e["ltp"] for e in events], dtype=np.float64)
    qty = np.array([e["qty"] for e in events], dtype=np.int64)
    side = np.array([SIDE_CODES[e["side"]] for e in events], dtype=np.int64)
    ts = np.array([e["exchange_ts"] for e in events], dtype=np.int64)

    def bulk() -> int:
        return FootprintModel(cfg).extend(price, qty, side, ts)

    print(f"footprint add_tick (live, 100-trade bars)     {rate(live, runs):>12,.0f} trades/s")
    print(f"footprint view of the forming bar             {rate(view, runs):>12,.0f} views/s")
    print(f"footprint extend (bulk, {n:,} trades)     {rate(bulk, runs):>12,.0f} trades/s")


def straddle_events(specs: list[OptionSpec], n: int) -> list[tuple[int, int, float, int]]:
    rng = random.Random(2)
    atm_i, fut, volumes, out = len(specs) // 4, 25_000.0, [0] * len(specs), []
    for i in range(n):
        if rng.random() < 0.2:
            fut = round(fut + rng.choice((-7.5, -2.5, 2.5, 7.5)), 2)
            atm_i = round((fut - specs[0].strike) / 50.0)
            out.append((T0 + i // 50, UNDERLYING, fut, -1))
            continue
        k = min(max(atm_i + rng.randint(-3, 3), 0), len(specs) // 2 - 1) * 2 + rng.randint(0, 1)
        volumes[k] += 75
        out.append((T0 + i // 50, k, round(rng.uniform(50, 300), 2), volumes[k]))
    return out


def bench_straddle(n: int, strikes: int, runs: int) -> None:
    specs = chain(strikes)
    events = straddle_events(specs, n)
    quotes = [(("NSE_FNO:FUT" if c == UNDERLYING else specs[c].key),
               {"ltp": p, "volume": v if v >= 0 else None, "exchange_ts": t}) for t, c, p, v in events]

    def live() -> int:
        model = StraddleModel(specs, "NSE_FNO:FUT")
        for key, q in quotes:
            model.apply_quote(key, q)
        return len(quotes)

    cols = [np.array(col) for col in zip(*events, strict=True)]

    def bulk() -> int:
        StraddleModel(specs, "NSE_FNO:FUT").extend(*cols)
        return len(events)

    print(f"straddle apply_quote (live, {strikes}-strike chain) {rate(live, runs):>12,.0f} quotes/s")
    print(f"straddle extend (bulk, {n:,} events)      {rate(bulk, runs):>12,.0f} events/s")


def bench_chain(strikes: int, runs: int) -> None:
    specs = chain(strikes)
    rng = random.Random(3)
    gex, oi = GexModel(specs, rate=0.065), OiChainModel()
    oi.set_contracts(specs)
    for s in specs:
        quote = {"oi": 75 * rng.randint(100, 50_000), "prev_oi": 75 * rng.randint(100, 50_000),
                 "volume": 75 * rng.randint(0, 9_000), "ltp": 100.0, "prev_close": 90.0, "exchange_ts": T0}
        gex.apply_quote(s.key, quote)
        oi.apply_quote(s.key, quote)
        gex.apply_greeks(s.key, {"gamma": rng.uniform(1e-5, 5e-4), "iv": rng.uniform(0.1, 0.3),
                                 "underlying_price": 25_010.0})

    def gex_profile() -> int:
        for _ in range(500):
            gex.profile()
        return 500

    def zero_gamma() -> int:
        for _ in range(50):
            gex.zero_gamma(NOW_UTC)
        return 50

    def oi_table() -> int:
        for _ in range(200):
            oi.table("lots")
            oi.max_pain()
            oi.pcr()
        return 200

    batches = [[(s.key, {"oi": 75 * i, "volume": 75 * i, "ltp": 101.0, "exchange_ts": T0 + 1 + 1_000 * run + i})
                for i in range(200) for s in specs[:100]] for run in range(runs)]  # newer each run: all applied

    def oi_live() -> int:
        updates = batches.pop(0)
        applied = sum(oi.apply_quote(key, q) for key, q in updates)
        assert applied == len(updates)
        return applied

    print(f"gex profile, {2 * strikes} options                    {rate(gex_profile, runs):>12,.0f} recomputes/s")
    print(f"gex zero-gamma level (201-price grid)         {rate(zero_gamma, runs):>12,.0f} recomputes/s")
    print(f"oi table + max pain + pcr, {strikes} strikes       {rate(oi_table, runs):>12,.0f} recomputes/s")
    print(f"oi apply_quote (live)                         {rate(oi_live, runs):>12,.0f} quotes/s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trades", type=int, default=200_000)
    ap.add_argument("--strikes", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    bench_footprint(args.trades, args.runs)
    bench_straddle(args.trades, args.strikes, args.runs)
    bench_chain(args.strikes, args.runs)


if __name__ == "__main__":
    main()
