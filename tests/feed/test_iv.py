"""Implied volatility: round trips over the whole working domain, bounds, and bad inputs (never NaN)."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from feed.greeks.black76 import greeks, price
from shared.iv import implied_vol, price_bounds

DAY = 1.0 / 365.0

forwards = st.floats(min_value=50.0, max_value=80_000.0)
moneyness = st.floats(min_value=0.5, max_value=1.5)
years = st.floats(min_value=DAY, max_value=1.0)
vols = st.floats(min_value=0.05, max_value=1.5)
rates = st.floats(min_value=0.0, max_value=0.12)
sides = st.booleans()
SHARE = st.floats(min_value=0.0, max_value=1.0)

ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(f=forwards, m=moneyness, t=years, sigma=vols, r=rates, is_call=sides)
def test_round_trip_when_vega_is_meaningful(f: float, m: float, t: float, sigma: float, r: float,
                                            is_call: bool) -> None:
    k = f * m
    p = price(f, k, t, r, sigma, is_call)
    iv = implied_vol(p, f, k, t, r, is_call)
    vega = greeks(f, k, t, r, sigma, is_call).vega
    if iv is None:
        # Only a premium that carries no measurable volatility may go unsolved.
        assert vega < 1e-6 * f, (p, vega)
        return
    assert math.isfinite(iv) and 1e-4 <= iv <= 5.0
    assert abs(price(f, k, t, r, iv, is_call) - p) <= 1e-9 * f
    if vega >= 1e-6 * f:
        # Double precision resolves sigma to ~ eps * premium / vega; the solver's own tol is 1e-7.
        assert abs(iv - sigma) <= 1e-6, (iv, sigma)


@PROPERTY
@given(f=forwards, m=moneyness, t=years, sigma=vols, r=rates)
def test_call_and_put_agree_through_parity(f: float, m: float, t: float, sigma: float, r: float) -> None:
    k = f * m
    c = price(f, k, t, r, sigma, True)
    p = c - math.exp(-r * t) * (f - k)  # parity-consistent put, whatever Black-76 says about it
    iv_c = implied_vol(c, f, k, t, r, True)
    iv_p = implied_vol(p, f, k, t, r, False)
    assert (iv_c is None) == (iv_p is None) or min(c, p) < 1e-9 * f
    if iv_c is not None and iv_p is not None and greeks(f, k, t, r, sigma, True).vega >= 1e-6 * f:
        assert abs(iv_c - iv_p) <= 1e-6


@PROPERTY
@given(f=forwards, m=moneyness, t=years, r=rates, is_call=sides, share=SHARE)
# the discounted intrinsic came back from price / df one ulp above the intrinsic: solved to 4% once
@example(f=50.0, m=1.3563969394695325, t=1.0, r=0.09821924391314668, is_call=False, share=1.0)
def test_prices_outside_no_arbitrage_bounds_are_none(f: float, m: float, t: float, r: float, is_call: bool,
                                                     share: float) -> None:
    k = f * m
    low, high = price_bounds(f, k, t, r, is_call)
    assert implied_vol(low * share, f, k, t, r, is_call) is None  # at or below discounted intrinsic
    assert implied_vol(high * (1.0 + share) + 1e-9, f, k, t, r, is_call) is None  # at or above the cap


@PROPERTY
@given(price_=ANY_FLOAT, f=ANY_FLOAT, k=ANY_FLOAT, t=ANY_FLOAT, r=ANY_FLOAT, is_call=sides)
def test_any_input_gives_a_finite_vol_or_none(price_: float, f: float, k: float, t: float, r: float,
                                              is_call: bool) -> None:
    iv = implied_vol(price_, f, k, t, r, is_call)
    assert iv is None or (math.isfinite(iv) and 1e-4 <= iv <= 5.0)


@pytest.mark.parametrize(
    ("p", "f", "k", "t", "r"),
    [
        (0.0, 100.0, 100.0, 0.1, 0.05),  # zero price (a zero bid)
        (-1.0, 100.0, 100.0, 0.1, 0.05),
        (2.0, 100.0, 100.0, 0.0, 0.05),  # expired
        (2.0, 100.0, 100.0, -0.1, 0.05),
        (2.0, 0.0, 100.0, 0.1, 0.05),
        (2.0, 100.0, 0.0, 0.1, 0.05),
        (math.nan, 100.0, 100.0, 0.1, 0.05),
        (math.inf, 100.0, 100.0, 0.1, 0.05),
        (2.0, math.inf, 100.0, 0.1, 0.05),
        (2.0, 100.0, 100.0, math.inf, 0.05),
        (2.0, 100.0, 100.0, 0.1, math.nan),
    ],
)
def test_bad_inputs_are_none(p: float, f: float, k: float, t: float, r: float) -> None:
    assert implied_vol(p, f, k, t, r, True) is None
    assert implied_vol(p, f, k, t, r, False) is None


def test_bad_bracket_is_none() -> None:
    p = price(100.0, 100.0, 0.1, 0.0, 0.2, True)
    assert implied_vol(p, 100.0, 100.0, 0.1, 0.0, True, lo=0.5, hi=0.4) is None
    assert implied_vol(p, 100.0, 100.0, 0.1, 0.0, True, lo=0.0) is None


def test_vol_outside_the_bracket_is_none_and_edges_are_kept() -> None:
    f = k = 100.0
    assert implied_vol(price(f, k, 0.1, 0.05, 6.0, True), f, k, 0.1, 0.05, True) is None
    assert implied_vol(price(f, k, 0.1, 0.05, 1e-5, True), f, k, 0.1, 0.05, True) is None
    assert implied_vol(price(f, k, 0.1, 0.05, 0.3, True), f, k, 0.1, 0.05, True, hi=0.25) is None
    at_hi = price(f, k, 0.1, 0.05, 5.0, True)
    assert implied_vol(at_hi, f, k, 0.1, 0.05, True) == pytest.approx(5.0, abs=1e-6)


def test_deep_itm_inverts_through_the_otm_side() -> None:
    # NIFTY-like: F 26000, K 22000 call, 10 days, 14%: time value is a few rupees on a 4000-rupee premium.
    f, k, t, r, sigma = 26_000.0, 22_000.0, 10 * DAY, 0.065, 0.35
    c = price(f, k, t, r, sigma, True)
    time_value = c - math.exp(-r * t) * (f - k)
    assert time_value < 1e-3 * c
    assert implied_vol(c, f, k, t, r, True) == pytest.approx(sigma, abs=1e-7)
    # The same premium one tick below discounted intrinsic is an arbitrage, not a volatility.
    assert implied_vol(math.exp(-r * t) * (f - k) - 0.05, f, k, t, r, True) is None


def test_deep_otm_tiny_prices() -> None:
    f, t, r = 26_000.0, 3 * DAY, 0.065
    for k, sigma in ((32_000.0, 0.5), (20_000.0, 0.5), (27_500.0, 0.12)):
        is_call = k > f
        p = price(f, k, t, r, sigma, is_call)
        assert 0.0 < p < 0.05  # below one tick: only the model produces these
        iv = implied_vol(p, f, k, t, r, is_call)
        assert iv == pytest.approx(sigma, rel=1e-7)


def test_tick_priced_chain_recovers_vol_near_the_money() -> None:
    f, t, r, sigma = 26_046.95, 7 * DAY, 0.065, 0.13
    for k in range(25_500, 26_650, 50):
        for is_call in (True, False):
            p = round(price(f, k, t, r, sigma, is_call) / 0.05) * 0.05
            iv = implied_vol(p, f, float(k), t, r, is_call)
            assert iv is not None
            vega = greeks(f, k, t, r, sigma, is_call).vega
            assert abs(iv - sigma) <= 0.025 / vega + 1e-7  # half a tick of premium, in volatility
