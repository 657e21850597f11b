"""Previous sessions' levels and naked POCs (viz.models.sessions), against cases worked by hand."""

from __future__ import annotations

from datetime import date

from viz.models.profile import PriceLadder
from viz.models.sessions import NakedPocs, PocLine, SessionLevels, poc_lines, previous_levels, session_levels
from viz.models.ticks import SIDE_BUY

D1, D2, D3, D4, TODAY = (date(2026, 3, d) for d in (2, 3, 4, 5, 6))
# Four sessions (POC, VAH, VAL, high, low):
#   D1 POC 100, range 97..104
#   D2 POC 110, range 105..112  (does not reach 100)
#   D3 POC 108, range 101..109  (reaches neither 100 nor 110; its own 108 does not count)
#   D4 POC 109, range 107..110.5 (reaches D3's 108 and D2's 110)
# Naked after D4: 100 (D1) and 109 (D4). Today: a trade at 99.5 reaches nothing, a bar 99.8..100.2 reaches 100.
HISTORY = [
    SessionLevels(D1, 100.0, 102.0, 99.0, 104.0, 97.0),
    SessionLevels(D2, 110.0, 111.0, 106.0, 112.0, 105.0),
    SessionLevels(D3, 108.0, 108.5, 104.0, 109.0, 101.0),
    SessionLevels(D4, 109.0, 110.0, 108.0, 110.5, 107.0),
]


def test_previous_session_is_the_latest_before_today() -> None:
    assert previous_levels(HISTORY, TODAY) == HISTORY[3]
    assert previous_levels(reversed(HISTORY), D4) == HISTORY[2]  # today's own levels are not "previous"
    assert previous_levels(HISTORY, date(2026, 3, 9)) == HISTORY[3]  # over a weekend
    assert previous_levels(HISTORY, D1) is None
    assert previous_levels([], TODAY) is None


def test_naked_pocs_by_session_ranges() -> None:
    lines = poc_lines(list(reversed(HISTORY)))  # any order in
    assert lines == [
        PocLine(D1, 100.0),
        PocLine(D2, 110.0, D4),
        PocLine(D3, 108.0, D4),
        PocLine(D4, 109.0),
    ]
    assert [line.naked for line in lines] == [True, False, False, True]
    # today's range so far 99.8..100.2 reaches D1's 100; D4's 109 stays naked
    today = poc_lines(HISTORY, 99.8, 100.2, TODAY)
    assert today[0] == PocLine(D1, 100.0, TODAY) and today[3] == PocLine(D4, 109.0)
    assert poc_lines([]) == []


def test_live_touches_by_trade_and_bar() -> None:
    pocs = NakedPocs()
    for levels in HISTORY[:2]:
        pocs.add_session(levels)
    t0 = 1_772_442_900  # exchange times of the touching trades
    assert pocs.touch(99.5, 99.5, t0) == []  # a trade just below 100
    assert pocs.touch(99.8, 100.0, t0 + 1) == [PocLine(D1, 100.0, t0 + 1)]  # a bar whose high is the POC
    assert pocs.naked == [PocLine(D2, 110.0)]
    assert pocs.touch(110.0, 110.0, t0 + 2) == [PocLine(D2, 110.0, t0 + 2)]  # a trade exactly at it
    assert pocs.naked == []
    assert pocs.lines() == [PocLine(D1, 100.0, t0 + 1), PocLine(D2, 110.0, t0 + 2)]


def test_equal_pocs_of_two_sessions_are_both_reached() -> None:
    pocs = NakedPocs()
    pocs.add_session(HISTORY[0])
    pocs.add_session(SessionLevels(D2, 100.0, 101.0, 99.0, 101.0, 99.5))
    assert sorted(line.day for line in pocs.touch(95.0, 105.0, TODAY)) == [D1, D2]


def test_session_levels_from_a_ladder() -> None:
    # 100.00 x 10, 100.05 x 30, 100.10 x 20, 100.15 x 5 = 65. POC 100.05. Value area 70 % = 45.5 (CBOT):
    # from 30, up pair 20 + 5 = 25 beats the single row below (10): 55 >= 45.5 -> rows 100.05..100.15.
    ladder = PriceLadder(0.05)
    for price, qty in ((100.0, 10), (100.05, 30), (100.10, 20), (100.15, 5)):
        ladder.add(price, qty, SIDE_BUY)
    assert session_levels(D1, ladder) == SessionLevels(D1, 100.05, 100.15, 100.05, 100.15, 100.0)
    # rows of 2 ticks: 100.00-100.05 (40) and 100.10-100.15 (25): POC 100.00, 70 % = 45.5 needs both
    assert session_levels(D1, ladder, ticks_per_row=2) == SessionLevels(D1, 100.0, 100.1, 100.0, 100.15, 100.0)
    assert session_levels(D1, PriceLadder(0.05)) is None
