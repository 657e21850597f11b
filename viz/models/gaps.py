"""The gap ledger in one line for a window's status: how many holes today, how long, the latest (Qt-free)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared.clock import IST
from shared.gaps import Gap

__all__ = ["gap_summary"]


def _hms(ts: float) -> str:
    return datetime.fromtimestamp(ts, IST).strftime("%H:%M:%S")


def gap_summary(gaps: Sequence[Gap], now: float) -> str:
    """``""`` without gaps; else e.g. ``"GAPS today: 2 (47 s), last disconnect 10:31:05-10:31:20"``.

    Zero-length ``universe_in`` markers (an instrument entering the window) are not holes and are skipped;
    a gap still open says so, since data is missing right now."""
    holes = [g for g in gaps if g.kind != "universe_in"]
    if not holes:
        return ""
    total_s = sum(max(0.0, (g.end_ts if g.end_ts is not None else now) - g.start_ts) for g in holes)
    last = max(holes, key=lambda g: g.start_ts)
    end = _hms(last.end_ts) if last.end_ts is not None else "now (OPEN)"
    return f"GAPS today: {len(holes)} ({total_s:,.0f} s), last {last.kind} {_hms(last.start_ts)}-{end}"
