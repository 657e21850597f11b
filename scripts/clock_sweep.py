"""Run test files under a faked wall clock (libfaketime) at the moments where "today" and market hours break.

    .venv/bin/python scripts/clock_sweep.py tests/viz tests/control          # every moment, one run per file
    .venv/bin/python scripts/clock_sweep.py --moment ist_0001 tests/viz/test_windows_price.py

Each file gets its own pytest process started at the moment, so its first tests run right at the boundary and
the later ones cross it. Redis and MariaDB keep the real time (separate processes); a test that compares their
clock with ours can fail for that reason alone: re-run such a failure under the real clock before blaming "today".
Prints ``moment file::test`` per failure and a count; exit status 1 when any test failed. Needs ``faketime``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# name -> (UTC start, why). IST = UTC + 5:30; the holiday is in shared/data/holidays.json; the
# simulator lists NIFTY weeklies on Tuesdays until 15:30 IST.
MOMENTS: dict[str, tuple[str, str]] = {
    "ist_0001": ("2026-12-03 18:31:00", "00:01 IST Fri: the IST day began a minute ago, the UTC day did not"),
    "ist_2359": ("2026-12-04 18:29:00", "23:59 IST Fri: the run crosses midnight IST into a Saturday"),
    "ist_0914": ("2026-12-04 03:44:00", "09:14 IST: a minute before the NSE open"),
    "ist_0915": ("2026-12-04 03:45:00", "09:15 IST: the NSE normal session opens"),
    "ist_1530": ("2026-12-04 09:59:30", "15:29:30 IST: the run crosses the NSE close"),
    "weekend": ("2026-12-05 06:00:00", "11:30 IST Saturday"),
    "holiday": ("2026-12-25 06:00:00", "11:30 IST on an NSE holiday (Christmas, a Friday)"),
    "new_year": ("2026-12-31 18:31:00", "00:01 IST 1 Jan 2027: IST year differs from UTC year; no holiday list"),
    "expiry_eve": ("2026-12-07 04:00:00", "09:30 IST Monday, a day before a NIFTY weekly expiry"),
    "expiry_day": ("2026-12-08 05:30:00", "11:00 IST Tuesday, a NIFTY weekly expiry day"),
}
FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)")


def test_files(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.rglob("test_*.py")) if p.is_dir() else [p])
    return out


def run_file(path: Path, utc_start: str, tz: str, timeout_s: float) -> list[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "TZ": tz}
    cmd = ["faketime", f"{utc_start} UTC", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE",
           str(path)]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return [f"{path} (timed out after {timeout_s:.0f} s)"]
    failed = [m.group(1) for line in proc.stdout.splitlines() if (m := FAILED.match(line))]
    if proc.returncode not in (0, 5) and not failed:
        failed.append(f"{path} (exit {proc.returncode}: {(proc.stdout + proc.stderr).strip().splitlines()[-1:]})")
    return failed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", help="test files or folders")
    ap.add_argument("--moment", action="append", choices=sorted(MOMENTS), help="default: all")
    ap.add_argument("--tz", default="UTC", help="the processes' local time zone (try Asia/Kolkata too)")
    ap.add_argument("--timeout-s", type=float, default=600.0, help="per file")
    args = ap.parse_args()
    if shutil.which("faketime") is None:
        print("faketime is not installed: apt-get install -y faketime", file=sys.stderr)
        return 2
    failures: list[str] = []
    for name in args.moment or list(MOMENTS):
        utc_start, why = MOMENTS[name]
        print(f"== {name}: {utc_start} UTC, {why} (TZ={args.tz})", flush=True)
        for path in test_files(args.paths):
            for node in run_file(path, utc_start, args.tz, args.timeout_s):
                print(f"{name} {node}", flush=True)
                failures.append(f"{name} {node}")
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
