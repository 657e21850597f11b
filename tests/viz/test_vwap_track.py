"""VwapTrack: per-trade VWAP and sigma kept incrementally, equal to the whole-history computations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from viz.models.vwap import SessionRule, anchored_vwap, session_vwap
from viz.models.vwap_track import VwapTrack, bar_ends

DAY = 1_780_012_800  # a Dhan-epoch midnight
OPEN = DAY + 9 * 3600 + 15 * 60
NSE = SessionRule.for_segment("NSE_FNO")


def test_worked_example_by_hand() -> None:
    # trades 100 x 1, 102 x 3: VWAP = (100 + 306) / 4 = 101.5; sigma^2 = (1 * 1.5^2 + 3 * 0.5^2) / 4 = 0.75
    track = VwapTrack(NSE)
    track.extend([OPEN, OPEN + 1], [100.0, 102.0], [1, 3])
    assert track.vwap.tolist() == [100.0, 101.5]
    assert track.sigma[0] == 0.0 and track.sigma[1] == pytest.approx(math.sqrt(0.75))
    track.extend([OPEN + 2], [101.5], [0])  # no volume: nothing changes
    assert track.vwap[-1] == 101.5 and track.sigma[-1] == pytest.approx(math.sqrt(0.75))


def test_anchor_starts_at_its_time_and_ignores_sessions() -> None:
    track = VwapTrack(anchor_ts=OPEN + 10)
    track.extend([OPEN, OPEN + 10, OPEN + 11], [90.0, 100.0, 103.0], [5, 2, 1])
    v, s = track.vwap, track.sigma
    assert math.isnan(v[0]) and math.isnan(s[0])
    assert v[1] == 100.0 and v[2] == pytest.approx((200 + 103) / 3)  # the 90 before the anchor is out
    track.extend([OPEN + 86_400], [106.0], [3])  # next day: an anchored VWAP does not reset
    assert track.vwap[-1] == pytest.approx((200 + 103 + 318) / 6)


def test_chunks_equal_the_whole_history_computations() -> None:
    rng = np.random.default_rng(3)
    n = 3_000
    ts = np.sort(rng.integers(OPEN - 600, OPEN + 2 * 86_400, n))  # two sessions and a pre-open
    price = 26_000 + np.cumsum(rng.normal(0, 0.5, n))
    qty = rng.integers(0, 300, n)
    whole = session_vwap(ts, price, qty, NSE)
    anchor_at = int(ts[700])
    ref_anchor = anchored_vwap(price, qty, int(np.searchsorted(ts, anchor_at)))
    session, anchored = VwapTrack(NSE, capacity=16), VwapTrack(anchor_ts=anchor_at, capacity=16)
    cuts = [0, 1, 2, 50, 699, 700, 701, 1_500, 2_999, n]
    for a, b in itertools.pairwise(cuts):
        session.extend(ts[a:b], price[a:b], qty[a:b])
        anchored.extend(ts[a:b], price[a:b], qty[a:b])
    np.testing.assert_allclose(session.vwap, whole.vwap, rtol=0, atol=1e-9)
    np.testing.assert_allclose(session.sigma, whole.sigma, rtol=0, atol=1e-6)
    np.testing.assert_allclose(anchored.vwap, ref_anchor.vwap, rtol=0, atol=1e-9)
    np.testing.assert_allclose(anchored.sigma, ref_anchor.sigma, rtol=0, atol=1e-6)


def test_a_late_trade_of_an_earlier_session_repeats_the_current_values() -> None:
    track = VwapTrack(NSE)
    track.extend([OPEN + 86_400, OPEN + 86_401], [200.0, 202.0], [1, 1])
    track.extend([OPEN + 5], [1.0], [100])
    assert track.vwap.tolist() == [200.0, 201.0, 201.0]


def test_values_at_bar_ends() -> None:
    track = VwapTrack(NSE)
    track.extend([OPEN] * 5, [10.0, 20.0, 30.0, 40.0, 50.0], [1] * 5)
    ends = bar_ends([2, 2, 1])
    assert ends.tolist() == [1, 3, 4]
    v, _ = track.at(ends)
    assert v.tolist() == [15.0, 25.0, 30.0]
    v, s = track.at([-1, 5])
    assert np.isnan(v).all() and np.isnan(s).all()
    assert np.isnan(VwapTrack(NSE).at([0])[0]).all()


def test_a_track_needs_exactly_one_of_rule_and_anchor() -> None:
    with pytest.raises(ValueError, match="either"):
        VwapTrack()
    with pytest.raises(ValueError, match="either"):
        VwapTrack(NSE, anchor_ts=OPEN)
