"""Rolling ATM straddle on a hand-worked day: ATM moves, premium, volume-weighted VWAP, ATM IV; bulk = live."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from viz.models.contracts import OptionSpec
from viz.models.straddle import UNDERLYING, StraddleModel

NAN = math.nan
T0 = 1_795_598_100
SPECS = [
    OptionSpec("NSE_FNO:1", 100.0, "CE"), OptionSpec("NSE_FNO:2", 100.0, "PE"),
    OptionSpec("NSE_FNO:3", 110.0, "CE"), OptionSpec("NSE_FNO:4", 110.0, "PE"),
    OptionSpec("NSE_FNO:5", 120.0, "CE"),  # no put at 120: never the ATM
]
FUT = "NSE_FNO:9"
CE100, PE100, CE110, PE110, CE120 = range(5)
# (contract, price, cumulative volume, iv) -> what is recorded
DAY = [
    (UNDERLYING, 104.0, -1, NAN),  # 1 ATM 100 (4 away vs 6): recorded, no premium yet, not a move
    (CE100, 8.0, 50, NAN),  # 2 premium still unknown (no put price): 50 not counted; nothing changes
    (PE100, 5.0, 20, NAN),  # 3 premium 8 + 5 = 13; VWAP (13 x 20) / 20 = 13
    (CE100, 9.0, 80, NAN),  # 4 premium 14; 30 more: VWAP (260 + 14 x 30) / 50 = 680 / 50 = 13.6
    (CE110, 4.0, 10, NAN),  # 5 not an ATM leg: nothing recorded (its volume baseline is now 10)
    (UNDERLYING, 105.0, -1, NAN),  # 6 half-way between 100 and 110: the lower, still 100
    (UNDERLYING, 105.5, -1, NAN),  # 7 ATM moves to 110: premium 4 + unknown put; a move
    (PE110, 6.0, 40, NAN),  # 8 premium 10; 40 counted: (680 + 10 x 40) / 90 = 1080 / 90 = 12
    (CE110, NAN, -1, 0.20),  # 9 ATM IV 0.20 (only the call's known)
    (PE110, NAN, -1, 0.24),  # 10 ATM IV (0.20 + 0.24) / 2 = 0.22
    (CE120, 1.0, 5, NAN),  # 11 not a candidate strike: nothing
    (CE110, 4.5, 10, NAN),  # 12 premium 10.5, no new volume (10 again): VWAP stays 12
]


def run_day(model: StraddleModel) -> None:
    for i, (contract, price, volume, iv) in enumerate(DAY):
        model.update(T0 + i, contract, price, volume, iv)


def test_a_day_by_hand() -> None:
    model = StraddleModel(SPECS, FUT)
    run_day(model)
    s = model.series()
    assert s.ts.tolist() == [T0 + i for i in (0, 2, 3, 6, 7, 8, 9, 11)]
    assert s.atm.tolist() == [100.0, 100.0, 100.0, 110.0, 110.0, 110.0, 110.0, 110.0]
    np.testing.assert_allclose(s.premium, [NAN, 13.0, 14.0, NAN, 10.0, 10.0, 10.0, 10.5])
    np.testing.assert_allclose(s.vwap, [NAN, 13.0, 13.6, 13.6, 12.0, 12.0, 12.0, 12.0])
    np.testing.assert_allclose(s.iv, [NAN, NAN, NAN, NAN, NAN, 0.20, 0.22, 0.22])
    assert s.moved.tolist() == [False, False, False, True, False, False, False, False]
    assert model.atm() == 110.0 and model.underlying_price == 105.5


def test_no_volume_no_vwap_and_no_pair_no_atm() -> None:
    model = StraddleModel(SPECS, FUT)
    model.update(T0, UNDERLYING, 100.0)
    model.update(T0, CE100, 8.0)
    model.update(T0, PE100, 5.0)  # prices without volume (e.g. quotes before the first trade)
    s = model.series()
    assert s.premium.tolist()[-1] == 13.0 and math.isnan(s.vwap[-1])
    lonely = StraddleModel([SPECS[4]], FUT)  # a call without its put: no strike qualifies
    assert not lonely.update(T0, UNDERLYING, 120.0) and lonely.atm() is None and len(lonely) == 0


def test_one_strike_is_always_the_atm() -> None:
    model = StraddleModel(SPECS[:2], FUT)
    for price in (50.0, 100.0, 500.0):
        model.update(T0, UNDERLYING, price)
        assert model.atm() == 100.0
    assert not model.series().moved.any()


def test_event_adapters_read_quotes_and_greeks() -> None:
    model = StraddleModel(SPECS, FUT)
    assert model.apply_quote(FUT, {"ltp": 104.0, "exchange_ts": T0})
    assert model.apply_quote("NSE_FNO:1", {"ltp": 8.0, "volume": 50, "exchange_ts": T0}) is False  # no change
    assert model.apply_quote("NSE_FNO:2", {"ltp": 5.0, "volume": 20, "exchange_ts": T0 + 1})
    assert model.apply_greeks("NSE_FNO:1", {"iv": 0.18, "exchange_ts": T0 + 2})
    assert not model.apply_greeks("NSE_FNO:1", {"iv": float("inf")})  # a bad IV is no IV
    assert not model.apply_quote("NSE_FNO:77", {"ltp": 1.0})  # not in the chain
    s = model.series()
    assert (s.premium[-1], s.vwap[-1], s.iv[-1]) == (13.0, 13.0, 0.18)
    # a quote with no trade yet (ltp 0) keeps the last price
    assert not model.apply_quote("NSE_FNO:2", {"ltp": 0.0, "volume": 20, "exchange_ts": T0 + 3})


def random_day(n: int, seed: int) -> tuple[list[int], list[int], list[float], list[int], list[float]]:
    rng = random.Random(seed)
    volumes = [0] * len(SPECS)
    cols: tuple[list, list, list, list, list] = ([], [], [], [], [])
    for i in range(n):
        roll = rng.random()
        price, volume, iv = NAN, -1, NAN
        if roll < 0.25:
            contract = UNDERLYING
            price = rng.choice((105.0, round(rng.uniform(97.0, 113.0), 1)))  # 105: the tie, now and then
        else:
            contract = rng.randrange(len(SPECS))
            if roll < 0.85:
                price = round(rng.uniform(1, 20), 2)
                volumes[contract] += rng.choice((0, 25, 50))
                volume = volumes[contract] - rng.choice((0, 0, 0, 75))  # now and then a stale, lower volume
            else:
                iv = round(rng.uniform(0.1, 0.4), 4)
        for col, value in zip(cols, (T0 + i, contract, price, volume, iv), strict=True):
            col.append(value)
    return cols


def test_bulk_extend_equals_one_event_at_a_time_and_live_continues() -> None:
    ts, contract, price, volume, iv = random_day(5_000, seed=3)
    live, bulk = StraddleModel(SPECS, FUT), StraddleModel(SPECS, FUT, capacity=16)
    for row in zip(ts, contract, price, volume, iv, strict=True):
        live.update(*row)
    for lo, hi in ((0, 1), (1, 2_000), (2_000, 4_000)):
        bulk.extend(ts[lo:hi], contract[lo:hi], price[lo:hi], volume[lo:hi], iv[lo:hi])
    for row in zip(ts[4_000:], contract[4_000:], price[4_000:], volume[4_000:], iv[4_000:], strict=True):
        bulk.update(*row)  # history first, then live
    a, b = live.series(), bulk.series()
    assert len(a) == len(b) > 1_000 and a.moved.sum() > 10
    for name in ("ts", "atm", "premium", "iv", "vwap", "moved"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)  # exact, NaN = NaN


def test_bulk_checks_its_columns() -> None:
    model = StraddleModel(SPECS, FUT)
    assert model.extend([], [], [], []) == 0
    with pytest.raises(ValueError, match="differ in length"):
        model.extend([T0], [0, 1], [1.0], [1])
    with pytest.raises(ValueError, match="outside the model's contracts"):
        model.extend([T0], [5], [1.0], [1])
