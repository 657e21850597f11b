"""How fast the scrip master parses, and how long universe selection takes on a full-size master.

    .venv/bin/python bench/instruments_parse.py [--rounds 3]

Dhan's full daily compact master is about 200k rows, mostly option contracts. This parses the real July 2026
NSE equity + index sample (tests/data), then a ~200k-row master made of that sample plus generated option and
future rows in Dhan's layout, and times UniverseSelector construction + initial() + one recentre() on it.
Prints rows/s; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from feed.instruments.parse import parse_scrip_master_report
from feed.universe import UniverseSelector
from shared.settings import Settings

T = TypeVar("T")
SAMPLE = ROOT / "tests" / "data" / "dhan-scrip-master-compact-nse-eq-idx-2026-07.csv"
UNDERLYINGS = {"NIFTY": (26000, 50, 65), "BANKNIFTY": (59300, 100, 30), "FINNIFTY": (27500, 50, 60)}


def _derivative_rows(first_id: int, today: date, target_rows: int) -> list[str]:
    rows: list[str] = []
    sid = first_id
    stocks = [f"STOCK{i:03d}" for i in range(200)]
    names = [*UNDERLYINGS, *stocks]
    expiries = [today + timedelta(days=7 * k + 1) for k in range(8)]
    while len(rows) < target_rows:
        for name in names:
            base, step, lot = UNDERLYINGS.get(name, (1000, 10, 500))
            instr = "OPTIDX" if name in UNDERLYINGS else "OPTSTK"
            for exp in expiries[: 8 if name in UNDERLYINGS else 2]:
                mon = exp.strftime("%b%Y")
                rows.append(
                    f"NSE,D,{sid},FUT{instr[3:]},1,{name}-{mon}-FUT,{lot},{name} FUT,{exp} 14:30:00,"
                    f"-0.01000,XX,10.0000,M,FUT,NA,"
                )
                sid += 1
                for k in range(-60, 61):
                    strike = base + k * step
                    for kind in ("CE", "PE"):
                        rows.append(
                            f"NSE,D,{sid},{instr},1,{name}-{mon}-{strike}-{kind},{lot},"
                            f"{name} {exp:%d %b} {strike} {kind},{exp} 14:30:00,{strike}.00000,{kind},"
                            f"5.0000,W,OP,NA,"
                        )
                        sid += 1
                if len(rows) >= target_rows:
                    return rows
    return rows


def _time(fn: Callable[[], T], rounds: int) -> tuple[float, T]:
    """Median seconds of ``rounds`` calls, and the last result."""
    times: list[float] = []
    for _ in range(max(1, rounds)):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rows", type=int, default=200_000, help="size of the full-size master")
    args = ap.parse_args()

    sample = SAMPLE.read_text(encoding="utf-8")
    dt, report = _time(lambda: parse_scrip_master_report(sample), args.rounds)
    n = report.rows
    print(f"real sample: {n} rows in {dt * 1000:.1f} ms = {n / dt:,.0f} rows/s")

    today = date(2026, 11, 11)
    lines = sample.rstrip("\n").split("\n")
    full = "\n".join(lines + _derivative_rows(10_000_000, today, args.rows - len(lines))) + "\n"
    dt, report = _time(lambda: parse_scrip_master_report(full), args.rounds)
    items, n = report.instruments, report.rows
    print(f"full-size master: {n} rows ({len(full) / 1e6:.1f} MB) in {dt:.2f} s = {n / dt:,.0f} rows/s")

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    dt, sel = _time(lambda: UniverseSelector(items, settings, today), args.rounds)
    print(f"UniverseSelector over {len(items)} instruments: {dt * 1000:.0f} ms")
    prices = {"NIFTY": 26046.95, "BANKNIFTY": 59330.0}
    dt, uni = _time(lambda: sel.initial(prices), args.rounds)
    print(f"initial(): {len(uni.members)} members in {dt * 1000:.2f} ms")
    moved = {"NIFTY": 26101.0, "BANKNIFTY": 59330.0}
    dt, change = _time(lambda: sel.recentre(uni, moved), args.rounds)
    assert change is not None
    print(f"recentre() one step: +{len(change.added)} -{len(change.removed)} in {dt * 1000:.2f} ms")


if __name__ == "__main__":
    main()
