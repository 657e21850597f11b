"""The straddle's history from stored trades (viz.models.straddle_history): ATM strikes visited, event
columns in time order, the IV solved from the trades' mid with the greeks service's Black-76."""

from __future__ import annotations

import math
from datetime import date

import numpy as np

from feed.greeks.black76 import price as b76_price
from shared.calendar import year_fraction
from shared.clock import dhan_epoch_to_utc_epoch
from viz.models.contracts import OptionSpec
from viz.models.straddle import StraddleModel
from viz.models.straddle_bulk import UNDERLYING
from viz.models.straddle_history import history_columns, visited_strikes

T = 1_780_045_200  # 09:40 IST, Dhan epoch, a minute start
EXPIRY = "2026-06-25"
SPECS = (OptionSpec("F:1", 26000.0, "CE", 75, EXPIRY), OptionSpec("F:2", 26000.0, "PE", 75, EXPIRY))
RATE = 0.065


def test_visited_strikes_follow_the_nearest_strike_lower_on_a_tie() -> None:
    strikes = [100.0, 200.0, 300.0]
    assert visited_strikes(strikes, [140.0, 150.0]) == [100.0]  # 150 is half-way: the lower
    assert visited_strikes(strikes, [151.0, 260.0, 999.0]) == [200.0, 300.0]
    assert visited_strikes(strikes, [10.0]) == [100.0]
    assert visited_strikes(strikes, []) == [] and visited_strikes([], [100.0]) == []


def _fair(ts: int, f: float, is_call: bool, sigma: float = 0.2) -> float:
    t = year_fraction(date.fromisoformat(EXPIRY), dhan_epoch_to_utc_epoch(ts))
    return b76_price(f, 26000.0, t, RATE, sigma, is_call)


def test_columns_in_time_order_with_iv_at_each_legs_first_and_last_trade_of_a_minute() -> None:
    f = 26040.0
    ce = _fair(T + 20, f, True)
    rows = [
        ("F:1", T + 20, 150, ce + 1.0, ce - 0.5, ce + 0.5),  # the minute's first: mid = the fair price
        ("F:9", T + 20, 10, 5.0, None, None),  # not in the chain: skipped
        ("F:1", T - 10, 75, 50.0, None, None),  # the minute before, before any future price: no F, no IV
        ("FUT", T + 20, -1, f, None, None),
        ("F:1", T + 30, 200, 55.0, None, None),  # neither first nor last of its minute: not solved
        ("F:1", T + 40, 225, 60.0, None, None),  # the minute's last trade: solved from its price
        ("F:2", T + 70, 75, _fair(T + 70, f, False, 0.25), None, None),  # the put, next minute, alone
    ]
    cols = history_columns(SPECS, "FUT", rows, RATE)
    assert cols.ts.tolist() == [T - 10, T + 20, T + 20, T + 30, T + 40, T + 70]
    assert cols.contract.tolist() == [0, UNDERLYING, 0, 0, 0, 1]  # the future first within its second
    assert cols.volume.tolist() == [75, -1, 150, 200, 225, 75]
    assert cols.price.tolist()[1:3] == [f, ce + 1.0]
    iv = cols.iv.tolist()
    assert math.isnan(iv[0]) and math.isnan(iv[1]) and math.isnan(iv[3])
    assert abs(iv[2] - 0.2) < 1e-6  # the mid, not the trade price, gives back the 20 % it was priced at
    t40 = year_fraction(date.fromisoformat(EXPIRY), dhan_epoch_to_utc_epoch(T + 40))
    assert abs(b76_price(f, 26000.0, t40, RATE, iv[4], True) - 60.0) < 1e-6
    assert abs(iv[5] - 0.25) < 1e-6


def test_columns_feed_the_model_as_its_one_event_path() -> None:
    f = 26040.0
    rows = [("FUT", T, -1, f, None, None), ("F:1", T + 1, 75, 120.0, None, None),
            ("F:2", T + 2, 150, 100.0, None, None), ("F:1", T + 3, 300, 121.0, None, None)]
    cols = history_columns(SPECS, "FUT", rows, RATE)
    bulk, one = StraddleModel(SPECS, "FUT"), StraddleModel(SPECS, "FUT")
    bulk.extend(cols.ts, cols.contract, cols.price, cols.volume, cols.iv)
    for i in range(len(cols)):
        one.update(int(cols.ts[i]), int(cols.contract[i]), float(cols.price[i]), int(cols.volume[i]), float(cols.iv[i]))
    a, b = bulk.series(), one.series()
    assert np.array_equal(a.premium, b.premium, equal_nan=True) and np.array_equal(a.vwap, b.vwap, equal_nan=True)
    # VWAP: 220 x 150 (the put's trade, straddle 120 + 100) then 221 x 225 (the call's 225 more) over 375
    assert a.premium[-1] == 221.0 and a.vwap[-1] == (220.0 * 150 + 221.0 * 225) / 375
