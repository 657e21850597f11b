"""The gap ledger on the charts: the price windows' status-line summary and the bands' x ranges (pure)."""

from __future__ import annotations

from datetime import datetime

import pytest

from shared.clock import IST, IST_OFFSET_S
from shared.gaps import Gap
from viz.models.gaps import bar_slots, gap_bands, gap_summary, period_slots, span_slots


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


# --- bands: where a gap is shaded on a chart's x axis (viz.models.gaps.gap_bands) ---

def _ets(h: int, m: int, s: int = 0) -> int:
    """Dhan exchange time (IST wall clock counted as epoch) of the same IST moment as ``_ts``."""
    return int(_ts(h, m, s)) + IST_OFFSET_S


def _gap(start: float, end: float | None, kind: str = "disconnect", seg: str | None = None) -> Gap:
    return Gap(seg=seg, sid=None if seg is None else 1, conn=None if seg else 0, kind=kind, start_ts=start,
               end_ts=end, reason="test")


# four bars: 10:00:00-10:00:09, 10:00:10-10:00:19, then (a hole) 10:01:00-10:01:09, 10:01:10-10:01:19
BARS = bar_slots([_ets(10, 0, 0), _ets(10, 0, 10), _ets(10, 1, 0), _ets(10, 1, 10)],
                 [_ets(10, 0, 9), _ets(10, 0, 19), _ets(10, 1, 9), _ets(10, 1, 19)])
NOW = _ts(12, 0)


def test_a_gap_between_two_bars_is_a_narrow_band_at_their_seam() -> None:
    # no trade from 10:00:20 to 10:01:00: the feed was down 10:00:20.4 -> 10:00:59.7
    (band,) = gap_bands([_gap(_ts(10, 0, 20) + 0.4, _ts(10, 0, 59) + 0.7)], BARS, NOW, min_width=0.3)
    assert (band.x0, band.x1) == pytest.approx((1.5 - 0.15, 1.5 + 0.15))  # the seam of bars 1 and 2
    assert band.kind == "disconnect" and not band.is_open
    assert band.text.startswith("disconnect 10:00:20-10:00:59 (39 s), whole feed, conn 0")


def test_a_gap_inside_a_bar_shades_its_part_of_the_bar() -> None:
    # bar 0 covers 10:00:00 to 10:00:10 (its last trade's second included): 10:00:02-10:00:07 is half of it
    (band,) = gap_bands([_gap(_ts(10, 0, 2), _ts(10, 0, 7))], BARS, NOW, min_width=0.3)
    assert (band.x0, band.x1) == pytest.approx((-0.5 + 0.2, -0.5 + 0.7))


def test_a_gap_across_bars_spans_them() -> None:
    (band,) = gap_bands([_gap(_ts(10, 0, 5), _ts(10, 1, 5))], BARS, NOW, min_width=0.3)
    assert (band.x0, band.x1) == pytest.approx((0.0, 2.0))  # the middle of bar 0 to the middle of bar 2


def test_gaps_before_and_after_the_data_sit_at_its_edges() -> None:
    before, after = gap_bands([_gap(_ts(9, 0), _ts(9, 5)), _gap(_ts(11, 0), _ts(11, 5))], BARS, NOW,
                              min_width=0.3)
    assert (before.x0, before.x1) == pytest.approx((-0.65, -0.35))  # left edge of bar 0
    assert (after.x0, after.x1) == pytest.approx((3.35, 3.65))      # right edge of the last bar


def test_an_open_gap_runs_to_now_and_past_the_last_bar() -> None:
    (band,) = gap_bands([_gap(_ts(10, 1, 30), None)], BARS, NOW, min_width=0.3, open_tail=12)
    assert band.is_open and band.text.startswith("disconnect 10:01:30-now (OPEN)")
    assert (band.x0, band.x1) == pytest.approx((3.5, 3.5 + 12))
    (inside,) = gap_bands([_gap(_ts(10, 1, 15), None)], BARS, _ts(10, 1, 19), min_width=0.3, open_tail=12)
    assert (inside.x0, inside.x1) == pytest.approx((3.0, 3.4))  # now is still inside the forming bar


def test_markers_are_not_bands_and_no_data_means_no_bands() -> None:
    marker = _gap(_ts(10, 0, 5), _ts(10, 0, 5), kind="universe_in", seg="NSE_FNO")
    assert gap_bands([marker], BARS, NOW, min_width=0.3) == []
    assert gap_bands([_gap(_ts(10, 0, 5), None)], bar_slots([], []), NOW, min_width=0.3) == []
    (out,) = gap_bands([_gap(_ts(10, 0, 5), _ts(10, 0, 8), kind="universe_out", seg="NSE_FNO")], BARS, NOW,
                       min_width=0.3)
    assert out.kind == "universe_out" and "NSE_FNO:1" in out.text


def test_period_columns_and_a_plain_time_axis() -> None:
    # 5-minute columns at 10:00 and 10:10 (10:05 had no trade): a gap 10:06-10:08 is at their seam (x = 1)
    cols = period_slots([_ets(10, 0), _ets(10, 10)], 300)
    (seam,) = gap_bands([_gap(_ts(10, 6), _ts(10, 8))], cols, NOW, min_width=0.2)
    assert (seam.x0, seam.x1) == pytest.approx((0.9, 1.1))
    (part,) = gap_bands([_gap(_ts(10, 11), _ts(10, 12, 30))], cols, NOW, min_width=0.2)
    assert (part.x0, part.x1) == pytest.approx((1.2, 1.5))
    line = span_slots(_ets(9, 15), _ets(15, 30))
    (band,) = gap_bands([_gap(_ts(11, 0), _ts(11, 10))], line, NOW, min_width=90)
    assert (band.x0, band.x1) == (_ets(11, 0), _ets(11, 10))  # x is exchange time itself


def test_a_gap_open_since_an_earlier_day_counts_only_today() -> None:
    gaps = [Gap(seg="NSE_FNO", sid=1, conn=None, kind="universe_out", start_ts=_ts(10, 0) - 3 * 86_400,
                end_ts=None, reason="")]
    midnight = _ts(0, 0)
    assert gap_summary(gaps, _ts(0, 10), since=midnight).startswith("GAPS today: 1 (600 s), last universe_out")
