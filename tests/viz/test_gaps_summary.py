"""The gap ledger's one-line summary shown in the price windows' status line."""

from __future__ import annotations

from datetime import datetime

from shared.clock import IST
from shared.gaps import Gap
from viz.models.gaps import gap_summary


def _ts(h: int, m: int, s: int = 0) -> float:
    return datetime(2026, 11, 25, h, m, s, tzinfo=IST).timestamp()


def test_no_gaps_no_text() -> None:
    assert gap_summary([], _ts(12, 0)) == ""
    marker = Gap(seg="NSE_FNO", sid=1, conn=None, kind="universe_in", start_ts=_ts(10, 0), end_ts=_ts(10, 0),
                 reason="")
    assert gap_summary([marker], _ts(12, 0)) == ""


def test_counts_total_and_latest() -> None:
    gaps = [
        Gap(seg=None, sid=None, conn=0, kind="disconnect", start_ts=_ts(9, 30), end_ts=_ts(9, 30, 30), reason="805"),
        Gap(seg=None, sid=None, conn=0, kind="stall", start_ts=_ts(10, 31, 5), end_ts=_ts(10, 31, 20), reason=""),
    ]
    assert gap_summary(gaps, _ts(12, 0)) == "GAPS today: 2 (45 s), last stall 10:31:05-10:31:20"


def test_open_gap_counts_to_now_and_says_so() -> None:
    gaps = [Gap(seg=None, sid=None, conn=0, kind="disconnect", start_ts=_ts(11, 59), end_ts=None, reason="")]
    assert gap_summary(gaps, _ts(12, 0)) == "GAPS today: 1 (60 s), last disconnect 11:59:00-now (OPEN)"
