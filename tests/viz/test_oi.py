"""OI analytics on hand-worked chains: change from the previous close, PCR, max pain, build-up, closing OI."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from viz.models.contracts import OptionSpec, atm_strike, strikes_around
from viz.models.oi import (
    OiChainModel,
    classify_buildup,
    closing_oi,
    max_pain,
    oi_change_pct,
    writers_payout,
)

DAY1_OPEN, DAY1_CLOSE = 1_700_000_000.0, 1_700_022_500.0  # 09:15 .. 15:30, 6 h 15 min apart
DAY2_OPEN = DAY1_OPEN + 86_400.0
CE100 = OptionSpec("NSE_FNO:1", 100.0, "CE", lot_size=10)
PE100 = OptionSpec("NSE_FNO:2", 100.0, "PE", lot_size=10)


def quote(sid: int, recv_ts: float, **fields: Any) -> dict[str, Any]:
    exchange_ts = int(recv_ts) + 19_800  # Dhan's epoch: IST wall time as UTC
    return {"seg": "NSE_FNO", "sid": sid, "recv_ts": recv_ts, "exchange_ts": exchange_ts, **fields}


def test_change_is_measured_from_the_previous_close_not_the_first_bar() -> None:
    # The peer's bug: 85 % where the exchange showed 170 %. Day 1 closes at OI 3,700 (our own record). Day 2
    # opens busy: the first quote of the day (the "first bar") already carries 5,400; by noon OI is 9,990.
    #   from the previous close: (9,990 - 3,700) / 3,700 = 6,290 / 3,700 = 1.70 -> +170 %  (the exchange)
    #   from the day's first bar: (9,990 - 5,400) / 5,400 = 4,590 / 5,400 = 0.85 -> +85 %   (the bug)
    day1 = [quote(1, DAY1_OPEN + 60, oi=3_500), quote(1, DAY1_CLOSE - 2, oi=3_700)]
    stored = closing_oi(day1, open_utc=DAY1_OPEN, close_utc=DAY1_CLOSE)
    assert stored == {"NSE_FNO:1": 3_700}
    model = OiChainModel()
    model.set_contracts([CE100, PE100])
    model.set_closing_oi(stored)
    model.apply_quote(CE100.key, quote(1, DAY2_OPEN + 5, oi=5_400, volume=100))  # the day's first quote
    model.apply_quote(CE100.key, quote(1, DAY2_OPEN + 10_000, oi=9_990, volume=900))
    table = model.table()
    assert table.call_change_pct[0] == pytest.approx(170.0)
    assert oi_change_pct(9_990, 5_400) == pytest.approx(85.0)  # what the wrong base gives: the test tells them apart
    assert table.call_change[0] == 6_290
    assert table.call_base_source[0] == "stored"


def test_without_a_previous_close_the_change_is_unknown_not_measured_from_today() -> None:
    model = OiChainModel()
    model.set_contracts([CE100, PE100])
    model.apply_quote(CE100.key, quote(1, DAY2_OPEN + 5, oi=5_400))
    model.apply_quote(CE100.key, quote(1, DAY2_OPEN + 600, oi=9_990))
    table = model.table()
    assert math.isnan(table.call_change[0]) and math.isnan(table.call_change_pct[0])
    assert table.call_base_source[0] is None
    assert table.call_oi[0] == 9_990


def test_the_exchange_previous_oi_is_the_fallback_and_our_record_wins() -> None:
    model = OiChainModel()
    model.set_contracts([CE100, PE100])
    model.apply_quote(CE100.key, quote(1, DAY2_OPEN + 5, oi=1_200, prev_oi=1_000))
    assert model.table().call_change_pct[0] == pytest.approx(20.0)  # (1,200 - 1,000) / 1,000
    assert model.table().call_base_source[0] == "exchange"
    model.set_closing_oi({CE100.key: 800})
    assert model.table().call_change_pct[0] == pytest.approx(50.0)  # (1,200 - 800) / 800
    assert model.table().call_base_source[0] == "stored"


def test_lots_divide_by_the_lot_size_and_percentages_do_not_change() -> None:
    model = OiChainModel()
    model.set_contracts([CE100, PE100])
    model.set_closing_oi({CE100.key: 3_700})
    model.apply_quote(CE100.key, quote(1, DAY2_OPEN, oi=9_990))
    lots = model.table("lots")
    assert lots.call_oi[0] == 999.0  # 9,990 / lot 10
    assert lots.call_change[0] == 629.0  # 6,290 / 10
    assert lots.call_change_pct[0] == pytest.approx(170.0)
    with pytest.raises(ValueError, match="unknown OI unit"):
        model.table("contracts")  # type: ignore[arg-type]


def test_a_base_of_zero_has_no_percent_change() -> None:
    assert oi_change_pct(500, 0) is None  # a strike listed today: +inf % means nothing
    assert oi_change_pct(None, 100) is None and oi_change_pct(100, None) is None
    assert oi_change_pct(50, 100) == pytest.approx(-50.0)


def test_closing_oi_is_the_last_at_or_before_the_close() -> None:
    quotes = [
        quote(1, DAY1_OPEN - 86_400, oi=1),  # the day before: outside the session
        quote(1, DAY1_OPEN + 100, oi=3_000),
        quote(2, DAY1_OPEN + 200, oi=700),
        quote(1, DAY1_CLOSE, oi=3_700),  # exactly at the close: still the session
        quote(1, DAY1_CLOSE + 1, oi=3_900),  # after the close: not the closing OI
        quote(2, DAY1_OPEN + 200, oi=650),  # same receive time as the 700: the later in stream order wins
        quote(2, DAY1_OPEN + 150, oi=999),  # received earlier than what we have: stale
        quote(3, DAY1_OPEN + 300, ltp=10.0),  # no OI: no closing OI for it
        quote(4, DAY1_OPEN + 300, oi=float("nan")),  # a bad value is no OI
    ]
    assert closing_oi(quotes, open_utc=DAY1_OPEN, close_utc=DAY1_CLOSE) == {"NSE_FNO:1": 3_700, "NSE_FNO:2": 650}
    assert closing_oi([], open_utc=DAY1_OPEN, close_utc=DAY1_CLOSE) == {}
    with pytest.raises(ValueError, match="closes before it opens"):
        closing_oi([], open_utc=DAY1_CLOSE, close_utc=DAY1_OPEN)


def test_max_pain_hand_computed_with_a_tie() -> None:
    strikes, calls, puts = [100, 110, 120], [10, 20, 5], [5, 10, 30]
    # payout(100) = calls 0                        + puts (110-100)*10 + (120-100)*30 = 100 + 600 = 700
    # payout(110) = calls (110-100)*10 = 100       + puts (120-110)*30 = 300               -> 400
    # payout(120) = calls 20*10 + 10*20 = 400      + puts 0                                 -> 400
    assert writers_payout(strikes, calls, puts).tolist() == [700.0, 400.0, 400.0]
    assert max_pain(strikes, calls, puts) == 110.0  # 110 and 120 tie at 400: the lower strike
    # 40 puts at 120 instead of 30: payout(110) = 100 + 10*40 = 500 > payout(120) = 400
    assert max_pain(strikes, calls, [5, 10, 40]) == 120.0
    assert max_pain([120, 100, 110], [5, 10, 20], [30, 5, 10]) == 110.0  # unsorted input: same answer


def test_max_pain_edges() -> None:
    assert max_pain([], [], []) is None
    assert max_pain([100, 110], [0, 0], [0, 0]) is None  # no OI: every price pays 0, nothing to say
    assert max_pain([100, 110], [np.nan, 5], [np.nan, np.nan]) == 100.0  # unknown OI counts 0; X=100 pays 0
    assert max_pain([100], [7], [3]) == 100.0  # one strike: the only candidate


def test_pcr_of_oi_and_volume() -> None:
    specs = [CE100, PE100, OptionSpec("NSE_FNO:3", 110.0, "CE"), OptionSpec("NSE_FNO:4", 110.0, "PE")]
    model = OiChainModel()
    model.set_contracts(specs)
    assert (model.pcr().oi, model.pcr().volume) == (None, None)  # nothing known
    model.apply_quote("NSE_FNO:1", quote(1, DAY2_OPEN, oi=400, volume=50))
    model.apply_quote("NSE_FNO:2", quote(2, DAY2_OPEN, oi=300, volume=0))
    model.apply_quote("NSE_FNO:3", quote(3, DAY2_OPEN, oi=100, volume=0))
    model.apply_quote("NSE_FNO:4", quote(4, DAY2_OPEN, oi=700))  # volume unknown: left out of the volume PCR
    pcr = model.pcr()
    assert pcr.oi == pytest.approx((300 + 700) / (400 + 100))  # = 2.0
    assert pcr.volume == pytest.approx(0 / 50)
    assert model.max_pain() is not None


def test_pcr_without_call_volume_is_unknown() -> None:
    model = OiChainModel()
    model.set_contracts([CE100, PE100])
    model.apply_quote(CE100.key, quote(1, DAY2_OPEN, oi=0, volume=0))
    model.apply_quote(PE100.key, quote(2, DAY2_OPEN, oi=10, volume=5))
    assert (model.pcr().oi, model.pcr().volume) == (None, None)  # x / 0


def test_buildup_quadrants() -> None:
    assert classify_buildup(+2.0, +100) == "long_buildup"
    assert classify_buildup(-2.0, +100) == "short_buildup"
    assert classify_buildup(+2.0, -100) == "short_covering"
    assert classify_buildup(-2.0, -100) == "long_unwinding"
    assert classify_buildup(0.0, +100) == "neutral" and classify_buildup(+1.0, 0) == "neutral"
    assert classify_buildup(None, 100) is None and classify_buildup(1.0, None) is None


def test_buildup_per_contract_from_the_previous_close() -> None:
    model = OiChainModel()
    model.set_contracts([CE100, PE100])
    model.set_closing_oi({CE100.key: 1_000, PE100.key: 1_000})
    # call: premium 12 -> 15 (+3), OI 1,000 -> 1,400 (+400): long build-up
    model.apply_quote(CE100.key, quote(1, DAY2_OPEN, ltp=15.0, prev_close=12.0, oi=1_400))
    # put: premium (close field, Dhan's previous close) 20 -> 18 (-2), OI 1,000 -> 900 (-100): long unwinding
    model.apply_quote(PE100.key, quote(2, DAY2_OPEN, ltp=18.0, close=20.0, oi=900))
    table = model.table()
    assert (table.call_buildup, table.put_buildup) == (("long_buildup",), ("long_unwinding",))


def test_older_quotes_do_not_win_and_unknown_keys_are_ignored() -> None:
    model = OiChainModel()
    model.set_contracts([CE100, PE100])
    assert model.apply_quote(CE100.key, quote(1, DAY2_OPEN + 60, oi=500, volume=10))
    assert not model.apply_quote(CE100.key, quote(1, DAY2_OPEN, oi=400, volume=5))
    assert not model.apply_quote("NSE_FNO:99", quote(99, DAY2_OPEN, oi=1))
    assert model.table().call_oi[0] == 500


def test_one_side_missing_at_a_strike_and_duplicates_refused() -> None:
    model = OiChainModel()
    model.set_contracts([CE100, OptionSpec("NSE_FNO:5", 110.0, "PE")])
    table = model.table()
    assert table.strikes.tolist() == [100.0, 110.0]
    assert math.isnan(table.put_oi[0]) and math.isnan(table.call_oi[1])
    with pytest.raises(ValueError, match="two CE contracts at strike 100"):
        model.set_contracts([CE100, OptionSpec("NSE_FNO:6", 100.0, "CE")])


def test_atm_and_strikes_around() -> None:
    strikes = [100.0, 110.0, 120.0, 130.0, 140.0]
    assert atm_strike(strikes, 114.9) == 110.0
    assert atm_strike(strikes, 115.0) == 110.0  # half-way: the lower strike (the chain's rule)
    assert atm_strike(strikes, 115.1) == 120.0
    assert atm_strike(strikes, 50.0) == 100.0 and atm_strike(strikes, 500.0) == 140.0
    assert atm_strike([], 100.0) is None and atm_strike(strikes, None) is None
    assert strikes[strikes_around(strikes, 120.0, 1)] == [110.0, 120.0, 130.0]
    assert strikes[strikes_around(strikes, 100.0, 2)] == [100.0, 110.0, 120.0]  # clipped at the edge
    assert strikes[strikes_around(strikes, None, 1)] == strikes
