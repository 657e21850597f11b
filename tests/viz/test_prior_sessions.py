"""Previous sessions on today's charts (viz.models.prior_sessions), against cases worked by hand."""

from __future__ import annotations

from datetime import date

import numpy as np

from viz.models.bars import Bars
from viz.models.prior_sessions import PriorDay, PriorSessions, day_bars, day_starts
from viz.models.profile import PriceLadder
from viz.models.sessions import PocLine, SessionLevels

D1, D2, D3, D4, D5 = (date(2026, 3, d) for d in (2, 3, 4, 5, 6))
T = 1_772_442_900  # an exchange time (Dhan epoch): minutes of the prior days and today's trades


def _day(day: date, volume_at: dict[float, int], minutes: list[tuple[float, float]]) -> PriorDay:
    ladder = PriceLadder(0.5)
    for price, qty in volume_at.items():
        ladder.add(price, qty, 0)
    ts = np.arange(len(minutes), dtype=np.int64) * 60 + T
    lo = np.asarray([m[0] for m in minutes], np.float64)
    hi = np.asarray([m[1] for m in minutes], np.float64)
    return PriorDay(day, ladder, ts, lo, hi)


# Tick 0.5, one tick a row: a POC is the row [poc, poc + 0.5).
#   D1 POC 100 (100 x10, 101 x3, 99 x2), traded 99..101
#   D2 POC 105 (105 x8, 104 x2, 106 x1); its minute 103.5..106 is far from 100
#   D3 POC 102 (102 x9, 101.5 x1); its minute 101.5..102.5 misses D1's row [100, 100.5) and D2's [105, 105.5)
#   D4 POC 104.5 (104 x1, 104.5 x6, 105 x3), yesterday: its minute 104..105 reaches D2's 105 (at T, its first)
#   value area 70 % of 10 = 7: POC 6, then the row above (3) before the one below (1): VAH 105, VAL 104.5
#   D5 no trades (a holiday row): not yesterday
# Naked as today begins: D1's 100 and D3's 102 (D2's reached by D4; D4's is yesterday's, drawn as such).
DAYS = [
    _day(D1, {100.0: 10, 101.0: 3, 99.0: 2}, [(99.0, 101.0)]),
    _day(D2, {105.0: 8, 104.0: 2, 106.0: 1}, [(103.5, 106.0)]),
    _day(D3, {102.0: 9, 101.5: 1}, [(101.5, 102.5)]),
    _day(D4, {104.0: 1, 104.5: 6, 105.0: 3}, [(104.0, 105.0)]),
    _day(D5, {}, []),
]


def test_yesterday_is_the_latest_session_with_trades() -> None:
    prior = PriorSessions(list(reversed(DAYS)))  # any order in
    assert prior.yesterday == SessionLevels(D4, 104.5, 105.0, 104.5, 105.0, 104.0)
    assert [s.day for s in prior.sessions] == [D1, D2, D3, D4]
    assert PriorSessions([]).yesterday is None and PriorSessions([]).naked_lines() == []


def test_naked_pocs_end_at_the_first_trade_of_today_in_their_row() -> None:
    prior = PriorSessions(DAYS)
    assert prior.naked_lines() == [PocLine(D1, 100.0), PocLine(D3, 102.0)]
    # 100.5 is the next row up (the row is half-open), 101 reaches nothing either
    assert prior.touch([100.5, 101.0], [T + 100, T + 101]) == 0
    # prices are on the tick grid: 102.0 is in D3's row, 99.5 the row below D1's, 100.0 D1's
    assert prior.touch([102.0, 99.5, 100.0], [T + 102, T + 103, T + 104]) == 2
    assert prior.naked_lines() == [PocLine(D1, 100.0, T + 104), PocLine(D3, 102.0, T + 102)]
    assert prior.touch(102.0, T + 105) == 0  # already ended: the first touch stays


def test_a_minute_inside_the_row_above_the_poc_price_counts() -> None:
    # D2's only minute traded at 100.5. One tick a row: D1's POC row is [100, 100.5), not reached. Two ticks a
    # row (rows on whole numbers): D1's POC row is [100, 101) (13 lots), and 100.5 is inside it.
    # D2's own POC (99.5 x4) is row [99.5, 100) or [99, 100): nothing later reaches it (D3 is yesterday).
    days = [_day(D1, {100.0: 10, 101.0: 3}, []), _day(D2, {99.5: 4}, [(100.5, 100.5)]), _day(D3, {99.0: 1}, [])]
    assert PriorSessions(days).naked_lines() == [PocLine(D1, 100.0), PocLine(D2, 99.5)]
    assert PriorSessions(days, ticks_per_row=2).naked_lines() == [PocLine(D2, 99.0)]


def _bars(opens: list[float], first_ts: int) -> Bars:
    n = len(opens)
    f = np.asarray(opens, np.float64)
    i = np.ones(n, np.int64)
    ts = np.arange(n, dtype=np.int64) + first_ts
    return Bars(f, f + 1, f - 1, f, i, i, i * 0, i, ts, ts)


def test_day_bars_put_sessions_side_by_side() -> None:
    one, empty, two = _bars([1.0, 2.0], T), _bars([], T), _bars([3.0, 4.0, 5.0], T + 86_400)
    joined = day_bars([one, empty, two])
    assert joined.open.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert joined.start_ts.tolist() == [T, T + 1, T + 86_400, T + 86_401, T + 86_402]
    assert day_starts([one, empty, two]) == [0, 2]
    assert day_bars([two]) is two
