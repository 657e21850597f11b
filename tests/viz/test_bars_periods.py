"""Tick bars, time candles and period profiles on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from viz.models.bars import TickBars, period_index, period_start, time_bars
from viz.models.periods import PeriodProfiles
from viz.models.ticks import SIDE_BUY, SIDE_NONE, SIDE_SELL, TickSeries

DAY = 1_780_000_000 // 86_400 * 86_400  # a Dhan-epoch midnight
OPEN = DAY + 9 * 3600 + 15 * 60  # 09:15 IST on Dhan's clock


def series(rows: list[tuple[float, int, int, int]]) -> TickSeries:
    ts = TickSeries(capacity=2)  # grows through several doublings
    cum = 0
    for price, qty, side, ets in rows:
        cum += qty
        ts.append(cum, price, qty, side, ets)
    return ts


SEVEN = [
    (10, 1, SIDE_BUY, OPEN),
    (12, 2, SIDE_SELL, OPEN),
    (9, 3, SIDE_NONE, OPEN + 1),
    (11, 4, SIDE_BUY, OPEN + 2),
    (13, 5, SIDE_BUY, OPEN + 2),
    (8, 6, SIDE_SELL, OPEN + 3),
    (10, 7, SIDE_SELL, OPEN + 4),
]


def test_tick_series_columns() -> None:
    t = series(SEVEN)
    assert len(t) == 7 and t.cum_volume.tolist() == [1, 3, 6, 10, 15, 21, 28]
    assert t.last_cum_volume == 28
    t.extend_events([{"volume": 30, "ltp": 9.5, "qty": 2, "side": "B", "exchange_ts": OPEN + 5}])
    assert t.side[-1] == SIDE_BUY and t.price[-1] == 9.5 and len(t) == 8


def test_tick_bars_of_three_with_a_forming_bar() -> None:
    bars = TickBars(series(SEVEN), 3)
    b = bars.bars()
    assert len(b) == 3 and bars.forming and bars.closed_count() == 2
    assert b.open.tolist() == [10, 11, 10] and b.high.tolist() == [12, 13, 10]
    assert b.low.tolist() == [9, 8, 10] and b.close.tolist() == [9, 8, 10]
    assert b.volume.tolist() == [6, 15, 7] and b.buy.tolist() == [1, 9, 0] and b.sell.tolist() == [2, 6, 7]
    assert b.count.tolist() == [3, 3, 1]
    assert b.start_ts.tolist() == [OPEN, OPEN + 2, OPEN + 4] and b.end_ts.tolist() == [OPEN + 1, OPEN + 3, OPEN + 4]


def test_tick_bars_follow_new_trades_and_n_changes() -> None:
    ticks = series(SEVEN[:6])
    bars = TickBars(ticks, 3)
    assert not bars.forming and len(bars.bars()) == 2
    ticks.append(28, 10, 7, SIDE_SELL, OPEN + 4)
    assert len(bars.bars()) == 3 and bars.forming
    bars.set_trades_per_bar(10)
    assert len(bars.bars()) == 1 and bars.bars().volume.tolist() == [28]
    with pytest.raises(ValueError):
        bars.set_trades_per_bar(0)


def test_period_index_counts_from_0915() -> None:
    ts = np.array([OPEN - 1, OPEN, OPEN + 299, OPEN + 300, OPEN + 899])
    assert period_index(ts, 300).tolist() == [-1, 0, 0, 1, 2]
    assert period_start(OPEN + 301, 300) == OPEN + 300
    assert period_start(OPEN + 59, 60) == OPEN


def test_time_bars_per_period() -> None:
    ticks = series(
        [
            (100, 1, SIDE_BUY, OPEN),
            (102, 2, SIDE_BUY, OPEN + 100),
            (99, 3, SIDE_SELL, OPEN + 299),
            (101, 4, SIDE_NONE, OPEN + 300),
            (103, 5, SIDE_BUY, OPEN + 1000),
        ]
    )
    starts, b = time_bars(ticks, 300)
    assert starts.tolist() == [OPEN, OPEN + 300, OPEN + 900]
    assert b.open.tolist() == [100, 101, 103] and b.high.tolist() == [102, 101, 103]
    assert b.low.tolist() == [99, 101, 103] and b.close.tolist() == [99, 101, 103]
    assert b.volume.tolist() == [6, 4, 5]


def _period_ticks() -> TickSeries:
    return series(
        [
            (100, 5, SIDE_BUY, OPEN + 10),
            (101, 3, SIDE_SELL, OPEN + 20),  # period 0: POC 100
            (101, 4, SIDE_BUY, OPEN + 310),  # period 1: session 100:5, 101:7 -> POC 101
            (99, 2, SIDE_SELL, OPEN + 650),
            (99, 8, SIDE_SELL, OPEN + 660),
        ]
    )  # period 2: 99:10


def test_period_profiles_incremental_matches_rebuild() -> None:
    ticks = _period_ticks()
    inc = PeriodProfiles(1.0, period_s=300)
    for i in range(len(ticks)):
        inc.add(float(ticks.price[i]), int(ticks.qty[i]), int(ticks.side[i]), int(ticks.exchange_ts[i]))
    full = PeriodProfiles(1.0, period_s=300)
    full.rebuild(ticks)
    for model in (inc, full):
        assert [p.start_ts for p in model.periods] == [OPEN, OPEN + 300, OPEN + 600]
        assert model.developing_poc() == [100.0, 101.0, 99.0]
        stats = [s for _, _, s in model.period_stats()]
        assert [s.poc for s in stats] == [100.0, 101.0, 99.0]
        assert [(s.val, s.vah) for s in stats] == [(100.0, 101.0), (101.0, 101.0), (99.0, 99.0)]
        p0 = model.periods[0]
        assert (p0.open, p0.high, p0.low, p0.close, p0.volume, p0.trades) == (100, 101, 100, 101, 8, 2)
        prof, sess = model.session_profile()
        assert prof.price.tolist() == [99.0, 100.0, 101.0] and prof.total.tolist() == [10, 5, 7]
        assert sess.poc == 99.0 and (sess.val, sess.vah) == (99.0, 101.0)  # 10 < 15.4, then the pair 5+7 above


def test_period_profiles_rebuild_on_period_change() -> None:
    model = PeriodProfiles(1.0, period_s=300)
    model.rebuild(_period_ticks())
    model.period_s = 900
    model.rebuild(_period_ticks())
    assert len(model.periods) == 1 and model.developing_poc() == [99.0]
    model.set_rows(2, _period_ticks())  # rows of 2 ticks: [98,99] 10, [100,101] 12
    assert model.developing_poc() == [100.0]


def test_tick_bars_appended_one_batch_at_a_time_equal_a_fresh_computation() -> None:
    rng = np.random.default_rng(7)
    ticks = series([])
    bars = TickBars(ticks, 5)
    t, cum = OPEN, 0
    for batch in (1, 3, 4, 1, 7, 5, 12, 2, 0, 9):  # bars closing inside, at the edge of and across batches
        for _ in range(batch):
            q = int(rng.integers(1, 9))
            t, cum = t + int(rng.integers(0, 3)), cum + q
            ticks.append(cum, float(rng.integers(95, 106)), q, int(rng.integers(0, 3)), t)
        got, want = bars.bars(), TickBars(ticks, 5).bars()
        for field in ("open", "high", "low", "close", "volume", "buy", "sell", "count", "start_ts", "end_ts"):
            assert getattr(got, field).tolist() == getattr(want, field).tolist(), field
    assert len(bars.bars()) == 9 and bars.bars().count.tolist()[-1] == 4  # 44 trades
