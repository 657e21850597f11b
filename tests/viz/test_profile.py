"""Volume profile, POC and both value-area methods on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from viz.models.profile import PriceLadder, point_of_control, value_area
from viz.models.ticks import SIDE_BUY, SIDE_NONE, SIDE_SELL

VOLS = np.array([1, 2, 5, 8, 10, 9, 3, 2, 1])  # rows 100..108, total 41, 70 % = 28.7


def test_poc_is_the_largest_row() -> None:
    assert point_of_control(VOLS) == 4


def test_poc_tie_goes_to_the_middle_then_lower() -> None:
    assert point_of_control(np.array([5, 1, 5, 1, 1, 5])) == 2  # middle of 0..5 is 2.5
    assert point_of_control(np.array([5, 0, 0, 5])) == 0  # equally far: the lower
    assert point_of_control(np.array([0, 0])) == -1


def test_value_area_cbot_pairs() -> None:
    # POC 10; pairs up 9+3=12 vs down 8+5=13 -> down (23); up 12 vs down 2+1=3 -> up (35 >= 28.7)
    assert value_area(VOLS, 4, 0.70, "cbot") == (2, 6)


def test_value_area_single_row_greedy() -> None:
    # 10; 9 vs 8 -> up (19); 3 vs 8 -> down (27); 3 vs 5 -> down (32 >= 28.7)
    assert value_area(VOLS, 4, 0.70, "greedy") == (2, 5)


def test_value_area_ties_add_both_sides() -> None:
    vols = np.array([4, 4, 10, 4, 4])  # total 26
    assert value_area(vols, 2, 0.60, "greedy") == (1, 3)  # 4 = 4: both -> 18 >= 15.6
    assert value_area(vols, 2, 0.60, "cbot") == (0, 4)  # pairs 8 = 8: both


def test_value_area_at_the_edge_takes_what_remains() -> None:
    vols = np.array([10, 1, 1, 1, 1])  # total 14, POC at the bottom edge: rows above only
    assert value_area(vols, 0, 0.70, "cbot") == (0, 0)  # 10 >= 9.8 already
    assert value_area(vols, 0, 0.80, "cbot") == (0, 2)  # 10 + pair (1+1) = 12 >= 11.2
    assert value_area(vols, 0, 0.90, "cbot") == (0, 4)  # 12 < 12.6: the next pair
    assert value_area(vols, 0, 0.85, "greedy") == (0, 2)  # 11, 12 >= 11.9
    assert value_area(np.array([1, 1, 1, 10]), 3, 0.90, "cbot") == (1, 3)  # top edge: the pair below, 12 >= 11.7
    assert value_area(np.array([1, 1, 1, 10]), 3, 0.95, "cbot") == (0, 3)  # then the one row left


def test_value_area_unknown_method() -> None:
    with pytest.raises(ValueError, match="unknown value-area method"):
        value_area(VOLS, 4, 0.7, "median")  # type: ignore[arg-type]


def test_profile_stats_prices() -> None:
    ladder = PriceLadder(1.0)
    for i, v in enumerate(VOLS):
        ladder.add(100.0 + i, int(v), SIDE_NONE)
    stats = ladder.profile().stats(0.70, "cbot")
    assert (stats.poc, stats.val, stats.vah) == (104.0, 102.0, 106.0)
    assert (stats.total, stats.va_volume) == (41, 35)
    greedy = ladder.profile().stats(0.70, "greedy")
    assert (greedy.val, greedy.vah, greedy.va_volume) == (102.0, 105.0, 32)


def test_buy_sell_split_and_rows_of_several_ticks() -> None:
    ladder = PriceLadder(0.05)
    ladder.add(100.00, 10, SIDE_BUY)
    ladder.add(100.05, 5, SIDE_SELL)
    ladder.add(100.10, 7, SIDE_NONE)
    ladder.add(100.00, 3, SIDE_SELL)
    p1 = ladder.profile(1)
    assert p1.price.tolist() == [100.00, 100.05, 100.10]
    assert (p1.buy.tolist(), p1.sell.tolist(), p1.other.tolist()) == ([10, 0, 0], [3, 5, 0], [0, 0, 7])
    p2 = ladder.profile(2)  # rows [100.00, 100.05] and [100.10, 100.15]
    assert p2.price.tolist() == [100.00, 100.10]
    assert (p2.buy.tolist(), p2.sell.tolist(), p2.other.tolist()) == ([10, 0], [8, 0], [0, 7])
    assert p2.row_size == pytest.approx(0.10)
    assert ladder.total_volume == 25


def test_ladder_grows_both_ways() -> None:
    ladder = PriceLadder(0.05)
    ladder.add(200.0, 1, SIDE_BUY)
    ladder.add(150.0, 2, SIDE_SELL)  # 1000 ticks below
    ladder.add(260.0, 3, SIDE_BUY)
    prof = ladder.profile(1)
    assert prof.price[0] == 150.0 and prof.price[-1] == 260.0
    assert prof.total.sum() == 6 and len(prof.price) == 2201


def test_empty_profile() -> None:
    prof = PriceLadder(0.05).profile(5)
    assert len(prof.price) == 0
    assert prof.stats().poc is None


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 400), st.integers(1, 500), st.sampled_from([0, 1, 2])), min_size=1, max_size=200),
    st.integers(1, 7),
)
def test_add_and_add_many_agree(ticks: list[tuple[int, int, int]], k: int) -> None:
    one, many = PriceLadder(0.05), PriceLadder(0.05)
    for t, q, s in ticks:
        one.add(19000 + t * 0.05, q, s)
    many.add_many(
        np.array([19000 + t * 0.05 for t, _, _ in ticks]),
        np.array([q for _, q, _ in ticks]),
        np.array([s for _, _, s in ticks]),
    )
    a, b = one.profile(k), many.profile(k)
    assert a.price.tolist() == b.price.tolist()
    assert a.buy.tolist() == b.buy.tolist() and a.sell.tolist() == b.sell.tolist()
    assert a.other.tolist() == b.other.tolist()
    assert int(a.total.sum()) == sum(q for _, q, _ in ticks)
    stats = a.stats()
    lo, hi = stats.va_rows
    assert lo <= stats.poc_row <= hi
    assert stats.va_volume >= 0.7 * stats.total
