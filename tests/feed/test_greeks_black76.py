"""Black-76: tails, parity, greeks against finite differences, the expiry clock."""

from __future__ import annotations

import math
from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feed.greeks.black76 import greeks, norm_cdf, price, year_fraction
from shared.clock import IST


def test_norm_cdf_keeps_relative_precision_in_the_tail() -> None:
    # Reference values of Phi(x) (Abramowitz-Stegun tables / mpmath).
    assert norm_cdf(-10.0) == pytest.approx(7.619853024160527e-24, rel=1e-12)
    assert norm_cdf(-20.0) == pytest.approx(2.7536241186062336e-89, rel=1e-12)
    assert norm_cdf(0.0) == 0.5
    assert norm_cdf(3.0) == pytest.approx(0.9986501019683699, rel=1e-15)


@settings(max_examples=300, deadline=None)
@given(f=st.floats(50, 80_000), m=st.floats(0.5, 1.5), t=st.floats(1 / 365, 1.0), r=st.floats(0, 0.12),
       sigma=st.floats(0.05, 1.5))
def test_put_call_parity(f: float, m: float, t: float, r: float, sigma: float) -> None:
    k = f * m
    c, p = price(f, k, t, r, sigma, True), price(f, k, t, r, sigma, False)
    assert c - p == pytest.approx(math.exp(-r * t) * (f - k), abs=1e-9 * f)


@pytest.mark.parametrize("is_call", [True, False])
@pytest.mark.parametrize(("f", "k", "t", "sigma"), [(26_000.0, 26_000.0, 0.05, 0.13), (100.0, 90.0, 0.5, 0.4),
                                                     (59_300.0, 61_000.0, 0.02, 0.18)])
def test_greeks_match_finite_differences(f: float, k: float, t: float, sigma: float, is_call: bool) -> None:
    r = 0.065
    g = greeks(f, k, t, r, sigma, is_call)

    def v(f_: float = f, t_: float = t, r_: float = r, s_: float = sigma) -> float:
        return price(f_, k, t_, r_, s_, is_call)

    hf, ht, hs, hr = f * 1e-4, t * 1e-4, 1e-5, 1e-5
    assert g.delta == pytest.approx((v(f_=f + hf) - v(f_=f - hf)) / (2 * hf), rel=1e-5, abs=1e-9)
    assert g.gamma == pytest.approx((v(f_=f + hf) - 2 * v() + v(f_=f - hf)) / hf**2, rel=1e-3)
    assert g.vega == pytest.approx((v(s_=sigma + hs) - v(s_=sigma - hs)) / (2 * hs), rel=1e-5)
    assert g.theta == pytest.approx(-(v(t_=t + ht) - v(t_=t - ht)) / (2 * ht), rel=1e-4)
    assert g.rho == pytest.approx((v(r_=r + hr) - v(r_=r - hr)) / (2 * hr), rel=1e-5)


def test_degenerate_inputs_never_nan() -> None:
    for args in ((100.0, 90.0, 0.0, 0.05, 0.2), (100.0, 90.0, 0.1, 0.05, 0.0), (0.0, 90.0, 0.1, 0.05, 0.2)):
        for is_call in (True, False):
            assert math.isfinite(price(*args, is_call))
            g = greeks(*args, is_call)
            assert all(math.isfinite(x) for x in (g.delta, g.gamma, g.vega, g.theta, g.rho))


def test_year_fraction_counts_to_1530_ist() -> None:
    at = datetime(2026, 11, 24, 15, 30, tzinfo=IST).timestamp()
    assert year_fraction(date(2026, 11, 25), at) == pytest.approx(1 / 365)
    assert year_fraction(date(2026, 11, 24), at + 60) == 0.0
