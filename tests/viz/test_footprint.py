"""Footprint bars on hand-worked trades: bid x ask by price, delta, POC, diagonal imbalances, stacks, rules."""

from __future__ import annotations

import random

import numpy as np
import pytest

from viz.models.aggressor import RULE_NONE, RULE_QUOTE, RULE_TICK, RULE_UNKNOWN
from viz.models.footprint import (
    FootprintConfig,
    FootprintModel,
    diagonal_imbalances,
    stacked_runs,
)
from viz.models.ticks import SIDE_BUY, SIDE_NONE, SIDE_SELL

DAY = 1_795_564_800  # a midnight in Dhan's epoch (IST wall time counted as UTC)
T0915 = DAY + 9 * 3600 + 15 * 60
B, S, N = SIDE_BUY, SIDE_SELL, SIDE_NONE
Q, T, U = RULE_QUOTE, RULE_TICK, RULE_UNKNOWN
# One bar of five trades (price, qty, side, rule). By price:
#   100.00: bid 10 (a sell), other 4 (unclassified)     total 14
#   100.05: bid 5, ask 30                                total 35  <- POC
#   100.10: ask 12                                       total 12
# delta = ask - bid = (30 + 12) - (10 + 5) = 27; volume 61
BAR1 = [(100.00, 10, S, Q), (100.05, 30, B, Q), (100.05, 5, S, T), (100.10, 12, B, T), (100.00, 4, N, RULE_NONE)]


def model(**kw: object) -> FootprintModel:
    return FootprintModel(FootprintConfig(tick_size=0.05, **kw))  # type: ignore[arg-type]


def test_one_bar_by_hand() -> None:
    fp = model(trades_per_bar=5, stacked_min=2)
    for i, (price, qty, side, rule) in enumerate(BAR1):
        assert fp.add_trade(price, qty, side, rule, T0915 + i)
    v = fp.view(0)
    assert v.price.tolist() == [100.00, 100.05, 100.10]
    assert (v.bid.tolist(), v.ask.tolist(), v.other.tolist()) == ([10, 5, 0], [0, 30, 12], [4, 0, 0])
    assert (v.delta, v.volume, v.trades, v.poc) == (27, 61, 5, 100.05)
    assert (v.open, v.high, v.low, v.close) == (100.00, 100.10, 100.00, 100.00)
    # buy imbalance at p: ask[p] >= 1.5 * bid[p - tick]
    #   100.05: 30 >= 1.5 * 10 = 15 yes; 100.10: 12 >= 1.5 * 5 = 7.5 yes; 100.00: no ask volume
    # sell imbalance at p: bid[p] >= 1.5 * ask[p + tick]
    #   100.00: 10 >= 1.5 * 30 no; 100.05: 5 >= 1.5 * 12 no; 100.10: no bid volume
    assert v.buy_imbalance.tolist() == [False, True, True]
    assert not v.sell_imbalance.any()
    assert [(s.direction, s.low, s.high, s.levels) for s in v.stacks] == [("buy", 100.05, 100.10, 2)]
    assert (v.start_ts, v.end_ts) == (T0915, T0915 + 4)


def test_diagonal_imbalances_edges_equality_and_stacks() -> None:
    bid = [0, 10, 10, 10, 40]
    ask = [20, 20, 16, 15, 5]
    buy, sell = diagonal_imbalances(bid, ask, 1.5)
    # buy:  p0 20 vs nothing below (edge: infinite ratio) yes; p1 20 vs 1.5*0 yes; p2 16 vs 1.5*10 = 15 yes;
    #       p3 15 vs 15 yes ("at least" 150 %); p4 5 vs 15 no
    assert buy.tolist() == [True, True, True, True, False]
    # sell: p0 no bid; p1 10 vs 1.5*16 = 24 no; p2 10 vs 1.5*15 = 22.5 no; p3 10 vs 1.5*5 = 7.5 yes;
    #       p4 40 vs nothing above (edge) yes
    assert sell.tolist() == [False, False, False, True, True]
    assert stacked_runs(buy, 3) == [(0, 3)]  # four in a row
    assert stacked_runs(sell, 3) == []  # only two
    assert stacked_runs(sell, 2) == [(3, 4)]
    buy_strict, _ = diagonal_imbalances(bid, ask, 1.5, min_volume=16)
    assert buy_strict.tolist() == [True, True, True, False, False]  # 15 < min 16
    assert stacked_runs([True, False, True, True, True, False, True], 3) == [(2, 4)]
    empty_buy, empty_sell = diagonal_imbalances([], [], 1.5)
    assert len(empty_buy) == len(empty_sell) == 0 and stacked_runs([], 3) == []


def test_n_trade_bars_delta_and_cumulative_delta() -> None:
    fp = model(trades_per_bar=2)
    trades = [(100.0, 10, B), (100.0, 4, S), (100.05, 7, S), (100.1, 1, B), (100.1, 3, B)]
    for i, (p, q, s) in enumerate(trades):
        fp.add_trade(p, q, s, Q, T0915 + i)
    # bars: [+10 -4] = 6, [-7 +1] = -6, [+3] = 3 (forming); cumulative 6, 0, 3
    per_bar, cumulative = fp.deltas()
    assert per_bar.tolist() == [6, -6, 3] and cumulative.tolist() == [6, 0, 3]
    assert [b.trades for b in fp.bars] == [2, 2, 1]


def test_time_bars_roll_by_period_and_a_late_trade_joins_the_forming_bar() -> None:
    fp = model(trades_per_bar=None, period_s=60)
    stamps = [T0915 + 10, T0915 + 50, T0915 + 60, T0915 + 59, T0915 + 185]  # 09:16:00 opens the 2nd bar
    for i, ts in enumerate(stamps):
        fp.add_trade(100.0 + 0.05 * i, 1, B, Q, ts)
    assert [b.trades for b in fp.bars] == [2, 2, 1]  # 09:15:59 after 09:16:00 stays in the 09:16 bar
    assert [b.period for b in fp.bars] == [0, 1, 3]  # no empty bar for the untraded 09:17 period


def test_bulk_time_bars_a_late_chunk_joins_the_forming_bar() -> None:
    fp = model(trades_per_bar=None, period_s=60)
    fp.extend([100.0], [1], [B], [T0915 + 60])  # the 09:16 bar
    fp.extend([100.0, 100.0], [1, 1], [B, B], [T0915 + 59, T0915 + 61])  # 09:15:59 late, then 09:16:01
    assert [(b.period, b.trades) for b in fp.bars] == [(1, 3)]  # as add_trade would: one bar, no reopening


def test_rule_shares_of_volume() -> None:
    fp = model(trades_per_bar=5)
    for i, (price, qty, side, rule) in enumerate(BAR1):
        fp.add_trade(price, qty, side, rule, T0915 + i)
    fp.add_trade(100.0, 39, S, RULE_UNKNOWN, T0915 + 9)  # a side without its rule (older data)
    # quote rule 10 + 30 = 40, tick rule 5 + 12 = 17, unclassified 4, rule not recorded 39; total 100
    assert fp.rule_shares() == {"unclassified": 0.04, "quote rule": 0.40, "tick rule": 0.17,
                                "rule not recorded": 0.39}
    assert model(trades_per_bar=5).rule_shares() == {}  # no volume, no shares


def test_tick_events_with_and_without_the_rule_field() -> None:
    fp = model(trades_per_bar=10)
    assert fp.add_tick({"ltp": 100.0, "qty": 75, "side": "B", "rule": "q", "exchange_ts": T0915})
    assert fp.add_tick({"ltp": 100.05, "qty": 25, "side": "S", "exchange_ts": T0915 + 1})  # no rule field
    assert fp.add_tick({"ltp": 100.05, "qty": 100, "side": "", "rule": "", "exchange_ts": T0915 + 2})
    assert not fp.add_tick({"ltp": float("nan"), "qty": 5, "side": "B", "exchange_ts": T0915})
    assert not fp.add_tick({"ltp": 100.0, "qty": 0, "side": "B", "exchange_ts": T0915})  # zero volume
    assert not fp.add_trade(100.0, 5, B, Q, 0)  # no exchange time
    assert fp.rejected == 3
    assert fp.rule_shares() == {"unclassified": 0.5, "quote rule": 0.375, "tick rule": 0.0,
                                "rule not recorded": 0.125}  # 100, 75, 0, 25 of 200


def test_one_price_bar_and_no_bars() -> None:
    fp = model(trades_per_bar=3)
    assert fp.deltas()[0].tolist() == [] and fp.bars == []
    fp.add_trade(100.0, 5, S, Q, T0915)
    v = fp.view(0)
    assert (v.price.tolist(), v.poc, v.delta) == ([100.0], 100.0, -5)
    assert v.sell_imbalance.tolist() == [True]  # 5 bid vs no ask above: the edge counts
    assert v.stacks == ()


def test_view_is_cached_until_the_bar_changes() -> None:
    fp = model(trades_per_bar=3)
    fp.add_trade(100.0, 5, S, Q, T0915)
    first = fp.view(0)
    assert fp.view(0) is first
    fp.add_trade(100.05, 1, B, Q, T0915)
    assert fp.view(0) is not first and fp.view(0).volume == 6


def random_trades(n: int, seed: int) -> tuple[list[float], list[int], list[int], list[int], list[int]]:
    rng = random.Random(seed)
    price, ts = 100.0, T0915
    cols: tuple[list, list, list, list, list] = ([], [], [], [], [])
    for _ in range(n):
        price = round(max(0.05, price + rng.choice((-0.1, -0.05, 0, 0.05, 0.1))), 2)
        ts += rng.choice((0, 0, 1, 7, 40, -3))  # now and then a late stamp
        bad = rng.random() < 0.03
        for col, value in zip(cols, (float("nan") if bad else price, rng.choice((0, 25, 50, 75)),
                                     rng.choice((B, S, N)), rng.choice((RULE_NONE, Q, T, U)), ts), strict=True):
            col.append(value)
    return cols


@pytest.mark.parametrize("bars", [{"trades_per_bar": 7}, {"trades_per_bar": None, "period_s": 60}])
def test_bulk_extend_equals_adding_one_by_one(bars: dict[str, object]) -> None:
    price, qty, side, rule, ts = random_trades(3_000, seed=11)
    live, bulk = model(**bars), model(**bars)
    for row in zip(price, qty, side, rule, ts, strict=True):
        live.add_trade(*row)
    for lo, hi in ((0, 5), (5, 1_234), (1_234, 1_235), (1_235, 3_000)):  # chunks continue a forming bar
        bulk.extend(price[lo:hi], qty[lo:hi], side[lo:hi], ts[lo:hi], rule[lo:hi])
    assert len(bulk.bars) == len(live.bars) > 10
    assert bulk.rejected == live.rejected > 0
    assert bulk.rule_volume.tolist() == live.rule_volume.tolist()
    for i in range(len(live.bars)):
        a, b = live.view(i), bulk.view(i)
        assert (a.price.tolist(), a.bid.tolist(), a.ask.tolist(), a.other.tolist()) == \
               (b.price.tolist(), b.bid.tolist(), b.ask.tolist(), b.other.tolist())
        assert (a.open, a.high, a.low, a.close, a.trades, a.start_ts, a.end_ts, a.poc, a.stacks) == \
               (b.open, b.high, b.low, b.close, b.trades, b.start_ts, b.end_ts, b.poc, b.stacks)
    assert np.array_equal(live.deltas()[1], bulk.deltas()[1])


def test_bulk_without_rules_counts_sides_as_rule_not_recorded() -> None:
    fp = model(trades_per_bar=10)
    assert fp.extend([100.0, 100.05, 100.1], [10, 20, 30], [B, S, N], [T0915] * 3) == 3
    assert fp.rule_volume.tolist() == [30, 0, 0, 30]  # unclassified 30; B 10 + S 20 without a recorded rule
    assert fp.extend([], [], [], []) == 0
    with pytest.raises(ValueError, match="differ in length"):
        fp.extend([100.0], [1, 2], [B], [T0915])


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        FootprintConfig(tick_size=0.05, trades_per_bar=10, period_s=60)
    with pytest.raises(ValueError, match="exactly one"):
        FootprintConfig(tick_size=0.05, trades_per_bar=None)
    with pytest.raises(ValueError, match="tick size"):
        FootprintConfig(tick_size=0.0)
    with pytest.raises(ValueError, match="imbalance ratio"):
        FootprintConfig(tick_size=0.05, imbalance_ratio=0.0)
