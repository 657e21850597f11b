"""Session and anchored VWAP with sigma bands (viz.models.vwap), against cases worked by hand.

Times are Dhan's epoch (IST wall time as UTC): ``at(9, 15)`` is 09:15:00 IST on 2026-03-02.
"""

from __future__ import annotations

import math
import random
from datetime import date
from fractions import Fraction

import numpy as np
import pytest

from shared.clock import IST_OFFSET_S
from viz.models.vwap import (
    AnchoredVwaps,
    SessionRule,
    SessionVwap,
    VwapAccumulator,
    VwapPoint,
    anchored_vwap,
    index_at,
    session_vwap,
)

DAY_S = 86_400
DAY0 = (date(2026, 3, 2) - date(1970, 1, 1)).days * DAY_S
NSE = SessionRule.for_segment("NSE_FNO")
MCX = SessionRule.for_segment("MCX_COMM")


def at(hh: int, mm: int, ss: int = 0, day: int = 0) -> int:
    return DAY0 + day * DAY_S + hh * 3600 + mm * 60 + ss


# Three trades: 100 x 10, 102 x 30, 101 x 60.
# After 1: V 10, VWAP 100, sigma 0.
# After 2: V 40, sum pv = 1000 + 3060 = 4060, VWAP 101.5;
#          sum v (p - 101.5)^2 = 10 * 2.25 + 30 * 0.25 = 22.5 + 7.5 = 30, var 30/40 = 0.75, sigma sqrt(0.75).
# After 3: V 100, sum pv = 4060 + 6060 = 10120, VWAP 101.2;
#          sum v (p - 101.2)^2 = 10 * 1.44 + 30 * 0.64 + 60 * 0.04 = 14.4 + 19.2 + 2.4 = 36, var 0.36, sigma 0.6;
#          bands +-1: 100.6 .. 101.8, +-2: 100.0 .. 102.4, +-3: 99.4 .. 103.0.
PRICES, QTYS = [100.0, 102.0, 101.0], [10, 30, 60]
EXPECTED = [(100.0, 0.0), (101.5, math.sqrt(0.75)), (101.2, 0.6)]


def test_accumulator_worked_by_hand() -> None:
    acc = VwapAccumulator()
    assert acc.point() == VwapPoint(None, None)  # empty: no VWAP, no band
    assert acc.point().band(1) is None
    for (p, q), (vwap, sigma) in zip(zip(PRICES, QTYS, strict=True), EXPECTED, strict=True):
        acc.add(p, q)
        assert acc.vwap == pytest.approx(vwap, abs=1e-12)
        assert acc.sigma == pytest.approx(sigma, abs=1e-12)
    point = acc.point()
    for k, (lo, hi) in {1: (100.6, 101.8), 2: (100.0, 102.4), 3: (99.4, 103.0)}.items():
        band = point.band(k)
        assert band is not None
        assert band == pytest.approx((lo, hi), abs=1e-12)


def test_single_trade_and_zero_volume() -> None:
    acc = VwapAccumulator()
    acc.add(250.5, 0)  # no volume: nothing, and it does not become the shift
    assert acc.point() == VwapPoint(None, None)
    acc.add(99.0, 7)
    assert acc.point() == VwapPoint(99.0, 0.0)
    series = session_vwap([at(9, 15), at(9, 16)], [250.5, 99.0], [0, 7], NSE)
    assert math.isnan(series.vwap[0]) and math.isnan(series.sigma[0])
    assert (series.vwap[1], series.sigma[1]) == (99.0, 0.0)
    empty = session_vwap([], [], [], NSE)
    assert len(empty) == 0


def test_bulk_equals_incremental_and_hand_values() -> None:
    ts = [at(9, 15), at(9, 15, 30), at(9, 16)]
    series = session_vwap(ts, PRICES, QTYS, NSE)
    assert series.vwap == pytest.approx([e[0] for e in EXPECTED], abs=1e-12)
    assert series.sigma == pytest.approx([e[1] for e in EXPECTED], abs=1e-12)
    lo, hi = series.band(2)
    assert (lo[-1], hi[-1]) == pytest.approx((100.0, 102.4), abs=1e-12)
    live = SessionVwap(NSE)
    points = [live.add(t, p, q) for t, p, q in zip(ts, PRICES, QTYS, strict=True)]
    assert [pt.vwap for pt in points] == pytest.approx(list(series.vwap), abs=1e-12)
    assert [pt.sigma for pt in points] == pytest.approx(list(series.sigma), abs=1e-12)


def test_merge_in_any_grouping() -> None:
    whole = VwapAccumulator()
    whole.add_many(PRICES, QTYS)
    assert (whole.vwap, whole.sigma) == pytest.approx((101.2, 0.6), abs=1e-12)
    for split in (1, 2):
        a, b = VwapAccumulator(), VwapAccumulator()
        a.add_many(PRICES[:split], QTYS[:split])
        b.add_many(PRICES[split:], QTYS[split:])
        b.merge(a)  # the later part first: another shift, the same sums
        assert (b.vwap, b.sigma) == pytest.approx((101.2, 0.6), abs=1e-12)
    a.merge(VwapAccumulator())  # merging an empty one changes nothing
    empty = VwapAccumulator()
    empty.merge(whole)
    assert (empty.vwap, empty.sigma) == (whole.vwap, whole.sigma)


def test_session_resets_at_the_open() -> None:
    # day 1: 100 x 10 at 14:00. Day 2: 50 x 10 at 09:14:59 (pre-open: opens day 2's session, not day 1's),
    # then 60 x 10 at 09:15:00 -> day 2 VWAP (500 + 600) / 20 = 55, sigma 5; day 1 left out entirely.
    ts = [at(14, 0), at(9, 14, 59, day=1), at(9, 15, 0, day=1)]
    series = session_vwap(ts, [100.0, 50.0, 60.0], [10, 10, 10], NSE)
    assert list(series.vwap) == pytest.approx([100.0, 50.0, 55.0])
    assert list(series.sigma) == pytest.approx([0.0, 0.0, 5.0])
    assert NSE.session_start(at(9, 14, 59, day=1)) == NSE.session_start(at(9, 15, day=1)) == at(9, 15, day=1)
    assert NSE.session_start(at(15, 30)) == at(9, 15)  # a trade at 15:30:00 is still today's session
    live = SessionVwap(NSE)
    for t, p in zip(ts, (100.0, 50.0, 60.0), strict=True):
        point = live.add(t, p, 10)
    assert point == pytest.approx(VwapPoint(55.0, 5.0))


def test_mcx_session_runs_into_the_evening() -> None:
    # MCX resets at 09:00: 09:00 and 23:29 are one session (10 x 1 and 20 x 1 -> VWAP 15, sigma 5);
    # the next day's 09:00:00 starts again
    ts = [at(9, 0), at(23, 29), at(9, 0, day=1)]
    series = session_vwap(ts, [10.0, 20.0, 30.0], [1, 1, 1], MCX)
    assert list(series.vwap) == pytest.approx([10.0, 15.0, 30.0])
    assert list(series.sigma) == pytest.approx([0.0, 5.0, 0.0])
    assert MCX.session_start(at(23, 29)) == at(9, 0)


def test_time_zone_is_data() -> None:
    # the same instants as true Unix epochs (Dhan's epoch - 19800) with the IST offset give the same sessions
    rule = SessionRule(NSE.reset_s, utc_offset_s=IST_OFFSET_S)
    for ts in (at(9, 14, 59), at(9, 15), at(15, 30), at(23, 59, 59)):
        assert rule.session_start(ts - IST_OFFSET_S) == NSE.session_start(ts) - IST_OFFSET_S
    assert list(rule.session_starts([at(9, 15) - IST_OFFSET_S])) == [at(9, 15) - IST_OFFSET_S]


def test_stale_trade_of_an_earlier_session_is_ignored() -> None:
    live = SessionVwap(NSE)
    live.add(at(10, 0, day=1), 10.0, 1)
    assert live.add(at(10, 0), 99.0, 1) == VwapPoint(10.0, 0.0)  # yesterday's trade, late
    assert live.stale == 1


def test_anchored_vwap_from_a_point() -> None:
    # anchored at index 1: 102 x 30 and 101 x 60 -> V 90, VWAP (3060 + 6060) / 90 = 101 1/3;
    # sum v (p - m)^2 = 30 (2/3)^2 + 60 (1/3)^2 = 40/3 + 20/3 = 20, var 20/90 = 2/9, sigma sqrt(2)/3
    ts = [at(9, 15), at(9, 20), at(9, 25)]
    start = index_at(ts, at(9, 16))  # a click at 09:16: the first point at or after it
    assert start == 1
    assert index_at(ts, at(9, 20)) == 1 and index_at(ts, at(10, 0)) == 3
    series = anchored_vwap(PRICES, QTYS, start)
    assert math.isnan(series.vwap[0])
    assert series.vwap[1:] == pytest.approx([102.0, 101 + 1 / 3], abs=1e-12)
    assert series.sigma[1:] == pytest.approx([0.0, math.sqrt(2) / 3], abs=1e-12)
    assert np.isnan(anchored_vwap(PRICES, QTYS, 3).vwap).all()
    with pytest.raises(ValueError, match="anchor"):
        anchored_vwap(PRICES, QTYS, -1)


def test_anchored_vwaps_add_update_remove() -> None:
    ts = [at(9, 15), at(9, 20)]
    anchors = AnchoredVwaps()
    first = anchors.add(at(9, 16), ts, PRICES[:2], QTYS[:2])  # history: only 102 x 30 is at/after 09:16
    second = anchors.add(at(9, 30))  # nothing yet
    assert anchors.point(first) == VwapPoint(102.0, 0.0)
    assert anchors.point(second) == VwapPoint(None, None)
    anchors.update(at(9, 25), 101.0, 60)  # before the second anchor: only the first takes it
    assert anchors.point(first) == pytest.approx(VwapPoint(101 + 1 / 3, math.sqrt(2) / 3))
    assert anchors.point(second) == VwapPoint(None, None)
    anchors.update(at(9, 30), 50.0, 1)  # at the second anchor exactly: both
    assert anchors.point(second) == VwapPoint(50.0, 0.0)
    assert anchors.anchors == {first: at(9, 16), second: at(9, 30)}
    assert anchors.remove(first) is True
    assert anchors.remove(first) is False
    assert anchors.anchors == {second: at(9, 30)}


def _exact(prices: list[float], qtys: list[int]) -> tuple[float, float]:
    """VWAP and sigma in exact rational arithmetic (the prices as the floats they are)."""
    v = sum(qtys)
    fp = [Fraction(p) for p in prices]
    mean = sum((q * p for p, q in zip(fp, qtys, strict=True)), Fraction(0)) / v
    var = sum((q * (p - mean) ** 2 for p, q in zip(fp, qtys, strict=True)), Fraction(0)) / v
    return float(mean), math.sqrt(var)


def test_variance_is_stable_at_high_prices() -> None:
    # 100,000 trades alternating 100,000.00 and 100,000.05, 1 to 5 each: sigma about 0.025. The unshifted
    # formula sum(v p^2)/V - VWAP^2 subtracts two numbers near 1e10 to get 6e-4: it is far off (shown below
    # as the reason for the test); the shifted sums are within 1e-9 of the exact value.
    rng = random.Random(1)
    prices = [100_000.0 + 0.05 * (i % 2) for i in range(100_000)]
    qtys = [rng.randint(1, 5) for _ in prices]
    vwap, sigma = _exact(prices, qtys)
    p, q = np.array(prices), np.array(qtys, dtype=np.float64)
    naive_var = float(np.cumsum(q * p * p)[-1] / q.sum() - (np.cumsum(q * p)[-1] / q.sum()) ** 2)
    assert not math.isclose(math.sqrt(max(naive_var, 0.0)), sigma, rel_tol=1e-3)
    acc = VwapAccumulator()
    for price, qty in zip(prices, qtys, strict=True):
        acc.add(price, qty)
    series = session_vwap([at(10, 0)] * len(prices), prices, qtys, NSE)
    for got_vwap, got_sigma in ((acc.vwap, acc.sigma), (series.vwap[-1], series.sigma[-1])):
        assert got_vwap == pytest.approx(vwap, rel=1e-12)
        assert got_sigma == pytest.approx(sigma, rel=1e-9)
