"""PCR and max pain over the day (viz.models.oi_day), on a two-strike chain worked out by hand."""

from __future__ import annotations

import math

import pytest

from viz.models.contracts import OptionSpec
from viz.models.oi import OiChainModel
from viz.models.oi_day import OiDay, replay_minutes

T0 = 1_780_045_200  # 09:40 IST as Dhan's epoch (a multiple of 60)
SPECS = [OptionSpec("F:1", 100.0, "CE"), OptionSpec("F:2", 100.0, "PE"), OptionSpec("F:3", 200.0, "CE"),
         OptionSpec("F:4", 200.0, "PE")]


def _chain() -> OiChainModel:
    model = OiChainModel()
    model.set_contracts(SPECS)
    return model


def test_each_minute_samples_the_chain_after_its_last_trades() -> None:
    model, day = _chain(), OiDay()
    rows = [
        # minute 0: CE100 OI 10 (volume 5), PE100 OI 20 (volume 15); PE100 traded twice, the later counts
        ("F:1", T0 + 5, 10, 5), ("F:2", T0 + 10, 18, 10), ("F:2", T0 + 50, 20, 15),
        # minute 1: CE200 OI 10 (volume 5): PCR (OI) 20 / 20 = 1, (volume) 15 / 10 = 1.5
        ("F:3", T0 + 61, 10, 5),
        # minute 3 (minute 2 had no trade): PE200 OI 50 (volume 30)
        ("F:4", T0 + 185, 50, 30),
    ]
    assert replay_minutes(model, day, reversed(rows)) == 3  # any order in
    assert day.minutes == [T0, T0 + 60, T0 + 180]
    assert day.pcr_oi == [2.0, 1.0, 3.5]  # (20 + 50) / 20
    assert day.pcr_volume == [3.0, 1.5, 4.5]  # (15 + 30) / 10
    # minute 0: payout(100) = 0, payout(200) = CE100's 10 x 100 = 1000 -> 100; minute 1: CE200 adds nothing
    # at either -> 100; minute 3: payout(100) = PE200's 50 x 100 = 5000 > payout(200) = 1000 -> 200
    assert day.max_pain == [100.0, 100.0, 200.0]


def test_a_later_sample_of_the_same_minute_replaces_it_and_older_ones_are_ignored() -> None:
    model, day = _chain(), OiDay()
    model.apply_quote("F:1", {"oi": 10, "volume": 1, "exchange_ts": T0})
    assert day.sample(model, T0 + 5)
    assert day.pcr_oi == [0.0] and math.isnan(day.pcr_volume[0]) is False  # no put known: 0 / 10
    model.apply_quote("F:2", {"oi": 30, "volume": 1, "exchange_ts": T0 + 20})
    assert day.sample(model, T0 + 20)
    assert (day.minutes, day.pcr_oi) == ([T0], [3.0])
    assert not day.sample(model, T0 - 1)
    assert day.sample(model, T0 + 60) and day.minutes == [T0, T0 + 60]


@pytest.mark.parametrize("missing", ["F:1", "F:3"])
def test_unknown_oi_is_left_out_not_zero(missing: str) -> None:
    model, day = _chain(), OiDay()
    for key, oi in (("F:1", 10), ("F:2", 20), ("F:3", 30), ("F:4", 40)):
        if key != missing:
            model.apply_quote(key, {"oi": oi, "exchange_ts": T0})
    day.sample(model, T0)
    assert day.pcr_oi == [60 / (40 - (10 if missing == "F:1" else 30))]
