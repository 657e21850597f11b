"""Market profile by time (viz.models.tpo), against a session worked by hand.

Times are Dhan's epoch (IST wall time as UTC) on 2026-03-02; the tick size is 1 rupee so rows read as prices.
"""

from __future__ import annotations

import random
from datetime import date

import numpy as np
import pytest

from shared.candle_arrays import candles_from_arrays
from viz.models.profile import ProfileStats
from viz.models.tpo import Extension, InitialBalance, TpoProfile, period_letter

DAY_S = 86_400
DAY0 = (date(2026, 3, 2) - date(1970, 1, 1)).days * DAY_S


def at(hh: int, mm: int, ss: int = 0) -> int:
    return DAY0 + hh * 3600 + mm * 60 + ss


OPEN = at(9, 15)

# Periods from 09:15, and the prices their trades reach:
#   A 09:15-09:45  100..103        B 09:45-10:15  101..104       C 10:15-10:45  104..106 (above the IB)
#   D 10:45-11:15   98..101 (below the IB)                       E 11:15-11:45  100
# TPOs per row (letters):
#   106 C   105 C   104 BC   103 AB   102 AB   101 ABD   100 ADE   99 D   98 D        -> 16 TPOs
# POC: 100 and 101 have 3; the day's mid is (98 + 106) / 2 = 102: 101 is nearer -> POC 101.
# Value area 70 % of 16 = 11.2 (CBOT pairs): from 101 (3): up 102+103 = 4, down 100+99 = 4, equal: both ->
#   11 (rows 99..103); 11 < 11.2: up 104+105 = 3, down only 98 = 1 -> up: 14, rows 99..105. VAL 99, VAH 105.
# Greedy (one row): 101 (3); 100 (3) > 102 (2): 6; 102 (2) > 99 (1): 8; 103: 10; 104: 12 >= 11.2 -> 100..104.
# IB (A and B): 100..104. Extensions: C up (106), D down (98). Single prints: 98, 99, 105, 106.
TRADES = [
    (at(9, 15, 0), 101), (at(9, 20), 100), (at(9, 30), 103), (at(9, 44, 59), 102),
    (at(9, 45, 0), 101), (at(10, 0), 104),
    (at(10, 15), 104), (at(10, 20), 106), (at(10, 44), 105),
    (at(10, 45), 101), (at(11, 0), 98),
    (at(11, 15), 100), (at(11, 44, 59), 100),
]


def session() -> TpoProfile:
    tpo = TpoProfile(1.0, OPEN)
    for ts, price in TRADES:
        tpo.add(ts, price)
    return tpo


def test_letters_and_counts_worked_by_hand() -> None:
    tpo = session()
    prices, counts = tpo.rows()
    assert prices.tolist() == [98, 99, 100, 101, 102, 103, 104, 105, 106]
    assert counts.tolist() == [1, 1, 3, 3, 2, 2, 2, 1, 1]
    assert tpo.letters() == ["D", "D", "ADE", "ABD", "AB", "AB", "BC", "C", "C"]


def test_poc_and_value_area_by_tpo_count() -> None:
    tpo = session()
    assert tpo.stats() == ProfileStats(101.0, 105.0, 99.0, 3, (1, 7), 16, 14)
    greedy = tpo.stats(method="greedy")
    assert (greedy.poc, greedy.vah, greedy.val, greedy.va_volume) == (101.0, 104.0, 100.0, 12)


def test_initial_balance_extensions_and_single_prints() -> None:
    tpo = session()
    assert tpo.initial_balance() == InitialBalance(100.0, 104.0, 2)
    assert tpo.extensions() == [Extension(2, "C", True, 106.0), Extension(3, "D", False, 98.0)]
    assert tpo.single_prints().tolist() == [98, 99, 105, 106]


def test_period_boundaries_and_letters() -> None:
    tpo = TpoProfile(1.0, OPEN)
    # 09:44:59 is A, 09:45:00 is B; pre-open 09:08 counts in A; 15:30:00 is M (15:15-15:45, the 13th)
    assert tpo.period_of([at(9, 44, 59), at(9, 45), at(9, 8), at(15, 30)]).tolist() == [0, 1, 0, 12]
    assert [period_letter(i) for i in (0, 12, 25, 26, 51)] == ["A", "M", "Z", "a", "z"]
    mcx = TpoProfile(1.0, at(9, 0))
    # MCX: 23:29 is period 28 ("c"), 23:54 (US winter close) 29 ("d")
    assert [period_letter(int(p)) for p in mcx.period_of([at(23, 29), at(23, 54)])] == ["c", "d"]
    assert int(mcx.period_of(at(9, 0) + 40 * 3600)) == 51  # past 26 hours: clamped to "z"


def test_empty_and_single_trade() -> None:
    tpo = TpoProfile(0.05, OPEN)
    assert tpo.stats() == ProfileStats(None, None, None, -1, (-1, -1), 0, 0)
    assert tpo.letters() == [] and tpo.single_prints().tolist() == []
    assert tpo.initial_balance() is None and tpo.extensions() == []
    assert tpo.rows()[0].tolist() == []
    tpo.add(at(9, 15), 250.05)
    assert tpo.stats() == ProfileStats(250.05, 250.05, 250.05, 0, (0, 0), 1, 1)
    assert tpo.initial_balance() == InitialBalance(250.05, 250.05, 1)  # only A so far: the IB is forming
    assert tpo.letters() == ["A"]


def test_poc_tie_equidistant_from_the_mid_goes_lower() -> None:
    # A 100..102, B 100, C 102: 100 has AB (2), 101 A (1), 102 AC (2); mid 101, both 1 away -> the lower, 100
    tpo = TpoProfile(1.0, OPEN)
    for ts, p in ((at(9, 15), 100), (at(9, 16), 102), (at(9, 50), 100), (at(10, 20), 102)):
        tpo.add(ts, p)
    assert tpo.rows()[1].tolist() == [2, 1, 2]
    assert tpo.stats().poc == 100.0


def test_a_gap_between_periods_is_not_a_single_print() -> None:
    # A 100..101, B 105 alone: rows 102..104 have no TPO; single prints 100, 101 (A) and 105 (B)
    tpo = TpoProfile(1.0, OPEN)
    for ts, p in ((at(9, 15), 100), (at(9, 16), 101), (at(9, 50), 105)):
        tpo.add(ts, p)
    assert tpo.rows()[1].tolist() == [1, 1, 0, 0, 0, 1]
    assert tpo.single_prints().tolist() == [100, 101, 105]


def test_rows_of_several_ticks() -> None:
    # 2-rupee rows: 98-99 D D -> "D"; 100-101 ADE+ABD -> A B D E (4); 102-103 AB (2); 104-105 BC (2); 106 C
    tpo = session()
    prices, counts = tpo.rows(2)
    assert prices.tolist() == [98, 100, 102, 104, 106]
    assert counts.tolist() == [1, 4, 2, 2, 1]
    assert tpo.letters(2) == ["D", "ABDE", "AB", "BC", "C"]
    assert tpo.stats(2).poc == 100.0


def test_bulk_ticks_and_candles_equal_one_by_one() -> None:
    rng = random.Random(4)
    ts = np.cumsum(np.array([rng.randint(0, 20) for _ in range(3000)])) + at(9, 10)
    price = 100 + np.cumsum(np.array([rng.choice((-0.05, 0, 0.05)) for _ in ts]))
    price = np.round(price, 2)
    one = TpoProfile(0.05, OPEN)
    for t, p in zip(ts.tolist(), price.tolist(), strict=True):
        one.add(t, p)
    bulk = TpoProfile(0.05, OPEN)
    bulk.add_many(ts, price)
    # from 1-minute candles: each minute adds its low..high range
    candles = candles_from_arrays(ts, np.arange(1, len(ts) + 1), np.rint(price * 10_000), np.ones(len(ts)),
                                  np.zeros(len(ts)))
    from_candles = TpoProfile(0.05, OPEN)
    from_candles.add_many([c.start_ts for c in candles], [c.low for c in candles], [c.high for c in candles])
    for other in (bulk, from_candles):
        for k in (1, 4):
            assert other.letters(k) == one.letters(k)
            assert other.stats(k) == one.stats(k)
        assert other.extensions() == one.extensions()
    one.clear()
    assert one.stats().poc is None


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="positive"):
        TpoProfile(0.0, OPEN)
