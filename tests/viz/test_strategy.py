"""Multi-leg combinations: payoff and P&L at expiry, breakevens, live net premium, all worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from viz.models.contracts import OptionSpec
from viz.models.strategy import Strategy, StrategyLeg, breakevens, price_grid

CE100 = OptionSpec("NSE_FNO:1", 100.0, "CE", lot_size=50)
CE110 = OptionSpec("NSE_FNO:2", 110.0, "CE", lot_size=50)


def test_bull_call_spread() -> None:
    spread = Strategy((StrategyLeg(CE100, "B"), StrategyLeg(CE110, "S")))
    grid = [90.0, 100.0, 105.0, 110.0, 120.0]
    # payoff per unit: 0, 0, 5, 10, 20 - 10 = 10; x 50 units
    assert spread.payoff(grid).tolist() == [0.0, 0.0, 250.0, 500.0, 500.0]
    entry = {CE100.key: 6.0, CE110.key: 2.0}
    assert spread.net_premium(entry) == 200.0  # (6 - 2) x 50: a debit
    pnl = spread.pnl(grid, entry)
    assert pnl is not None and pnl.tolist() == [-200.0, -200.0, 50.0, 300.0, 300.0]
    assert breakevens(grid, pnl) == [104.0]  # 100 + 5 x 200 / 250 = the lower strike + debit per unit


def test_iron_condor_four_legs_and_its_credit() -> None:
    lot = 10
    legs = (
        StrategyLeg(OptionSpec("NSE_FNO:3", 90.0, "PE", lot), "B"),
        StrategyLeg(OptionSpec("NSE_FNO:4", 95.0, "PE", lot), "S"),
        StrategyLeg(OptionSpec("NSE_FNO:5", 105.0, "CE", lot), "S"),
        StrategyLeg(OptionSpec("NSE_FNO:6", 110.0, "CE", lot), "B", lots=1),
    )
    condor = Strategy(legs)
    entry = {"NSE_FNO:3": 1.0, "NSE_FNO:4": 3.0, "NSE_FNO:5": 3.0, "NSE_FNO:6": 1.0}
    assert condor.net_premium(entry) == -40.0  # (1 - 3 - 3 + 1) x 10: a credit of 40
    grid = price_grid([90.0, 95.0, 105.0, 110.0], pad=0.2, points=41)
    pnl = condor.pnl(grid, entry)
    assert pnl is not None
    # at 100 all expire worthless: keep the credit, +40. At or below 90: long 90 put +(90 - S), short 95 put
    # -(95 - S): -5 per unit x 10 = -50, + 40 = -10. Above 110, the calls likewise: -10
    assert condor.pnl([100.0, 90.0, 80.0, 120.0], entry).tolist() == [40.0, -10.0, -10.0, -10.0]  # type: ignore[union-attr]
    assert pnl.min() == -10.0 and pnl.max() == 40.0
    assert breakevens(grid, pnl) == pytest.approx([91.0, 109.0])  # 95 - 4 and 105 + 4 (credit 4 per unit)


def test_live_premium_needs_every_leg() -> None:
    spread = Strategy((StrategyLeg(CE100, "B", lots=2), StrategyLeg(CE110, "S")))
    assert spread.net_premium() is None and spread.pnl([100.0]) is None
    assert spread.apply_quote(CE100.key, {"ltp": 6.0})
    assert spread.net_premium() is None  # the 110 call has not traded
    assert not spread.apply_quote(CE110.key, {"ltp": 0.0})  # no trade yet is no price
    assert not spread.apply_quote("NSE_FNO:99", {"ltp": 1.0})
    assert spread.apply_quote(CE110.key, {"ltp": 2.5})
    assert spread.net_premium() == 2 * 50 * 6.0 - 50 * 2.5  # 600 - 125 = 475


def test_legs_are_checked() -> None:
    with pytest.raises(ValueError, match="1 to 4 legs"):
        Strategy(())
    with pytest.raises(ValueError, match="1 to 4 legs"):
        Strategy(tuple(StrategyLeg(CE100, "B") for _ in range(5)))
    with pytest.raises(ValueError, match="bought"):
        StrategyLeg(CE100, "X")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one lot"):
        StrategyLeg(CE100, "B", lots=0)


def test_grid_holds_every_strike_and_breakeven_edges() -> None:
    grid = price_grid([100.0, 103.3], pad=0.1, points=5)
    assert {100.0, 103.3} <= set(grid.tolist()) and np.all(np.diff(grid) > 0)
    assert price_grid([]).tolist() == []
    assert breakevens([1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]) == [2.0]  # an exact zero counts once
    assert breakevens([1.0, 2.0], [1.0, 2.0]) == []
