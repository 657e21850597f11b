"""The default activity of the simulated market: each instrument class at the rate of a live NSE F&O session
(feed/sim/activity.py), and what a feed subscribed like the default universe receives in a simulated minute."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest

from feed.sim.activity import (
    EQUITY_FLOOR,
    INDEX_RATE,
    OPTION_FLOOR,
    PRE_OPEN_SHARE,
    equity_rate,
    future_rate,
    option_rate,
)
from feed.sim.book import KIND_EQUITY, KIND_FUTURE, KIND_INDEX, KIND_OPTION, SimInstrument
from feed.sim.market import Market
from shared.clock import IST
from tests.conftest import make_settings

T0 = datetime(2026, 7, 15, 11, 0, tzinfo=IST).timestamp()  # a Wednesday, mid-session


class Sink:
    def __init__(self) -> None:
        self.out: list[bytes] = []


def test_rates_by_class_fall_off_away_from_the_money_and_the_near_expiry() -> None:
    assert option_rate("NIFTY", 0.0, 0) == 5.0 and option_rate("BANKNIFTY", 0.0, 0) == 3.0
    out_of_money = [option_rate("NIFTY", d, 0) for d in range(0, 25)]
    in_money = [option_rate("NIFTY", -d, 0) for d in range(0, 25)]
    assert out_of_money == sorted(out_of_money, reverse=True) and in_money == sorted(in_money, reverse=True)
    assert all(o >= i for o, i in zip(out_of_money, in_money, strict=True)), "OTM strikes trade more than ITM"
    assert option_rate("NIFTY", 3, 0) > 3.5 and option_rate("NIFTY", -3, 0) < 2.5
    assert option_rate("NIFTY", -12, 0) == OPTION_FLOOR and option_rate("NIFTY", 20, 0) < 0.02 * 20
    assert option_rate("NIFTY", 0, 1) < option_rate("NIFTY", 0, 0) / 3 and option_rate("NIFTY", 0, 9) > 0
    assert [future_rate("NIFTY", r) for r in range(4)] == [4.0, 1.0, 0.25, 0.25]
    assert future_rate("GOLD", 0) == 2.0 and future_rate("UNKNOWN", 0) > 0
    assert equity_rate(1.0, 1.0) == pytest.approx(3.0) and equity_rate(0.0, 1.0) == EQUITY_FLOOR
    assert EQUITY_FLOOR < equity_rate(0.25, 1.0) < 3.0 and 0 < PRE_OPEN_SHARE < 1


def default_universe(m: Market) -> list[SimInstrument]:
    """What the feed subscribes by default: indices, NIFTY 50 stocks, two futures per index, the nearest
    expiry's options ATM +/- 20 strikes (NIFTY) and +/- 10 (BANKNIFTY)."""
    out: list[SimInstrument] = []
    for inst in m.instruments.values():
        near_future = inst.kind == KIND_FUTURE and inst.exchange == "NSE" and inst.expiry_rank < 2
        if inst.kind in (KIND_INDEX, KIND_EQUITY) or near_future:
            out.append(inst)
        elif inst.kind == KIND_OPTION and inst.expiry_rank == 0:
            step = inst.contract.underlying.strike_step
            if abs(inst.strike - m.fnear[inst.underlying]) <= (20 if inst.underlying == "NIFTY" else 10) * step:
                out.append(inst)
    return out


def test_a_simulated_minute_of_the_default_universe_fills_every_chart() -> None:
    m = Market(make_settings(sim_burst_factor=0.0), T0, seed=3)
    sink = Sink()
    universe = default_universe(m)
    for inst in universe:
        m.subscribe(inst, sink, 2)
    t, carry, seconds = T0, 0.0, 60.0
    while t < T0 + seconds:  # as the server's update loop does, in 50 ms turns
        t += 0.05
        m.advance(t)
        want = carry + m.live_rate() * 0.05
        carry = want - int(want)
        m.generate(int(want))
    per_s = Counter((p[3], p[4:8]) for p in sink.out)
    rate = {inst: per_s[(inst.segment, inst.security_id.to_bytes(4, "little"))] / seconds for inst in universe}
    total = sum(rate.values())
    assert 200.0 < total < 450.0, f"{total:.0f} updates/s for the default universe"

    def strikes_out(i: SimInstrument) -> float:
        d = (i.strike - m.fnear[i.underlying]) / i.contract.underlying.strike_step
        return d if i.is_call else -d

    nifty = [i for i in universe if i.kind == KIND_OPTION and i.underlying == "NIFTY"]
    atm = [rate[i] for i in nifty if abs(strikes_out(i)) <= 1.0]
    far = [rate[i] for i in nifty if strikes_out(i) >= 15]
    deep = [rate[i] for i in nifty if strikes_out(i) <= -8]
    near_fut = [rate[i] for i in universe if i.kind == KIND_FUTURE and i.expiry_rank == 0]
    assert min(atm) >= 3.0, "at the money: several updates a second"
    assert min(near_fut) >= 2.5 and max(far) <= 1.0 and max(deep) <= 0.2
    assert sum(rate[i] for i in universe if i.kind == KIND_INDEX) / 2 == pytest.approx(INDEX_RATE, rel=0.2)
    # within a minute every option within 5 strikes of the money has drawn a chart of dozens of points
    assert min(rate[i] * seconds for i in nifty if abs(strikes_out(i)) <= 5) >= 30
