"""Gamma exposure: Black-76 gamma, GEX by strike with its sign and units, the zero-gamma level, worked by hand."""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pytest

from feed.greeks.black76 import greeks, year_fraction
from shared.clock import IST
from viz.models.contracts import OptionSpec
from viz.models.gex import GexModel, black76_gamma, crossings, years_to_expiry

EXPIRY = "2026-03-26"
NOW = datetime(2025, 12, 25, 15, 30, tzinfo=IST).timestamp()  # 91 days before the expiry's 15:30 close
T = 91 / 365


def chain() -> list[OptionSpec]:
    return [OptionSpec(f"NSE_FNO:{i}", k, o, lot_size=75, expiry=EXPIRY)
            for i, (k, o) in enumerate(((95.0, "CE"), (95.0, "PE"), (100.0, "CE"), (100.0, "PE"), (105.0, "CE")))]


def test_black76_gamma_by_hand() -> None:
    # F = K = 100, t = 1, sigma = 0.2, r = 0: d1 = (ln 1 + 0.02) / 0.2 = 0.1; phi(0.1) = e^-0.005 / sqrt(2 pi)
    # = 0.396953; gamma = 0.396953 / (100 x 0.2 x 1) = 0.0198476
    assert black76_gamma(100.0, 100.0, 1.0, 0.2) == pytest.approx(0.0198476, rel=1e-5)
    # r = 5 %: discounted by e^-0.05
    assert black76_gamma(100.0, 100.0, 1.0, 0.2, 0.05) == pytest.approx(0.0198476 * math.exp(-0.05), rel=1e-5)
    assert black76_gamma([100.0, 100.0, 100.0], 100.0, [0.0, 1.0, 1.0], [0.2, 0.0, float("nan")]).tolist() == \
        [0.0, 0.0, 0.0]  # expired, no volatility, unknown volatility: no gamma


def test_years_to_expiry_counts_to_the_close() -> None:
    assert years_to_expiry(EXPIRY, NOW) == pytest.approx(T)
    assert years_to_expiry(EXPIRY, NOW + 200 * 86_400) == 0.0


def test_gex_by_strike_sign_and_units() -> None:
    model = GexModel(chain())
    assert model.profile() is None  # no F yet
    # strike 100: call gamma 0.02 x OI 1,000 x F^2 10,000 x 0.01 = +2,000 rupees per 1 % move
    #             put  gamma 0.02 x OI 1,500 x 10,000 x 0.01      = -3,000 (dealers short puts)
    # strike 95:  call gamma 0.01 x OI 500 x 100 = +500; put has no OI: left out
    # strike 105: call has OI but no gamma (IV unsolved): left out
    for key, oi in (("NSE_FNO:0", 500), ("NSE_FNO:2", 1_000), ("NSE_FNO:3", 1_500), ("NSE_FNO:4", 800)):
        assert model.apply_quote(key, {"oi": oi})
    greeks = {"NSE_FNO:0": 0.01, "NSE_FNO:1": 0.012, "NSE_FNO:2": 0.02, "NSE_FNO:3": 0.02, "NSE_FNO:4": None}
    for key, gamma in greeks.items():
        assert model.apply_greeks(key, {"gamma": gamma, "iv": 0.2 if gamma else None, "underlying_price": 100.0})
    p = model.profile()
    assert p is not None
    assert p.strikes.tolist() == [95.0, 100.0, 105.0]
    assert p.call.tolist() == pytest.approx([500.0, 2_000.0, 0.0])
    assert p.put.tolist() == pytest.approx([0.0, -3_000.0, 0.0])
    assert p.net_by_strike.tolist() == pytest.approx([500.0, -1_000.0, 0.0])
    assert (p.net, p.missing, p.underlying) == (pytest.approx(-500.0), 2, 100.0)
    assert not model.apply_greeks("NSE_FNO:99", {"gamma": 0.1}) and not model.apply_quote("NSE_FNO:99", {"oi": 1})


def test_zero_gamma_where_a_put_and_a_call_balance() -> None:
    # A put at 90 and a call at 110, equal OI and IV: net GEX is 0 where their gammas are equal, i.e.
    # phi(d1 at 110) = phi(d1 at 90) -> d1(110) = -d1(90) -> ln(F/110) + s^2 t/2 = -(ln(F/90) + s^2 t/2)
    # -> F* = sqrt(110 x 90) x e^(-s^2 t / 2); s = 0.2, t = 91/365: F* = 99.4987 x e^-0.0049863 = 99.0038
    specs = [OptionSpec("NSE_FNO:1", 90.0, "PE", expiry=EXPIRY), OptionSpec("NSE_FNO:2", 110.0, "CE", expiry=EXPIRY)]
    model = GexModel(specs, rate=0.065)  # one expiry: the discount factor cancels
    for key in ("NSE_FNO:1", "NSE_FNO:2"):
        model.apply_quote(key, {"oi": 10_000})
        model.apply_greeks(key, {"gamma": 0.01, "iv": 0.2, "underlying_price": 100.0})
    expected = math.sqrt(110 * 90) * math.exp(-0.04 * T / 2)
    assert expected == pytest.approx(99.0038, abs=1e-4)
    level = model.zero_gamma(NOW, span=0.1, points=2_001)
    assert level == pytest.approx(expected, abs=1e-3)
    grid = np.array([95.0, 105.0])
    below, above = model.curve(grid, NOW)
    assert below < 0 < above  # puts dominate below the level, calls above


def test_no_crossing_no_level() -> None:
    model = GexModel(chain()[:1])  # one call only: net GEX is positive everywhere
    assert model.zero_gamma(NOW) is None  # no F
    model.apply_quote("NSE_FNO:0", {"oi": 100})
    model.apply_greeks("NSE_FNO:0", {"gamma": 0.01, "iv": 0.2, "underlying_price": 100.0})
    assert model.zero_gamma(NOW) is None
    empty = GexModel(chain())
    empty.set_underlying(100.0)
    assert empty.zero_gamma(NOW) is None  # no OI at all: the curve is 0, which is no crossing
    assert empty.profile() is not None and empty.profile().net == 0.0  # type: ignore[union-attr]


def test_crossings_interpolate_and_keep_exact_zeros() -> None:
    assert crossings([0.0, 1.0, 2.0, 3.0], [-1.0, 1.0, 0.0, 2.0]).tolist() == [0.5, 2.0]
    assert crossings([0.0, 1.0], [1.0, 1.0]).tolist() == []


def test_the_viz_copy_of_gamma_and_time_agrees_with_the_greeks_service() -> None:
    # viz may import only shared, so the model carries its own vectorised gamma; it must stay the feed's.
    rng = np.random.default_rng(5)
    f, k = rng.uniform(50, 150, 200), rng.uniform(50, 150, 200)
    t, s = rng.uniform(0.001, 1.0, 200), rng.uniform(0.05, 1.0, 200)
    ours = black76_gamma(f, k, t, s, 0.065)
    theirs = [greeks(*args, 0.065, s_, True).gamma for *args, s_ in zip(f, k, t, s, strict=True)]
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    for at in (NOW, NOW + 3_600.5, NOW + 91 * 86_400):
        assert years_to_expiry(EXPIRY, at) == year_fraction(date.fromisoformat(EXPIRY), at)
