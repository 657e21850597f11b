"""A bad value that reached a viz model (the feed drops them; this is the last line): it reads as missing, so
no model raises, and nothing on screen shows "nan", "inf" or a 1e18 price."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from viz.models import fmt
from viz.models.board import COLUMNS, BoardModel
from viz.models.breadth import Breadth
from viz.models.chain import SIDE_FIELDS, ChainModel, OptionContract
from viz.models.periods import PeriodProfiles
from viz.models.profile import PriceLadder
from viz.models.ticks import TickSeries

NAN, INF = float("nan"), float("inf")
BAD = (NAN, INF, -INF, 3e38, 1e18, -5.0, "12.5", True, [1])
BAD_COUNTS = (NAN, INF, -1, 2**64, 1.5, "7", True)
LTT = 1_795_598_100


def _clean(text: str) -> bool:
    return "nan" not in text.lower() and "inf" not in text.lower() and "e+" not in text


@pytest.mark.parametrize("bad", BAD)
def test_board_takes_a_bad_value_as_missing(bad: Any) -> None:
    board = BoardModel()
    board.add_instrument("NSE_FNO:1", "NIFTY FUT", role="future")
    good = {"ltp": 100.0, "volume": 10, "oi": 500, "prev_oi": 450, "bid": 99.95, "ask": 100.05,
            "prev_close": 98.0, "exchange_ts": LTT, "recv_ts": 1.0}
    assert board.apply("NSE_FNO:1", good)
    assert board.apply("NSE_FNO:1", {k: bad for k in good} | {"exchange_ts": LTT + 1, "recv_ts": 2.0})
    row = board.rows["NSE_FNO:1"]
    assert (row.ltp, row.volume, row.oi, row.prev_oi, row.bid, row.ask, row.prev_close, row.exchange_ts) == (
        100.0, 10, 500, 450, 99.95, 100.05, 98.0, LTT + 1)
    for count in BAD_COUNTS:  # an order key that is no number must not break the forward order
        assert board.apply("NSE_FNO:1", {"volume": count, "exchange_ts": count, "recv_ts": count}) is False
    texts = [text for text, _, _ in board.view("NSE_FNO:1", 0.5)]
    assert len(texts) == len(COLUMNS) and all(_clean(t) for t in texts), texts


@pytest.mark.parametrize("bad", BAD)
def test_chain_takes_a_bad_value_as_missing(bad: Any) -> None:
    m = ChainModel("NIFTY", "2026-07-30")
    m.set_contracts([OptionContract("NSE_FNO:1", 26000.0, "CE")])
    m.underlying_keys = {"NSE_FNO:fut"}
    m.apply_quote("NSE_FNO:fut", {"ltp": 26010.0})
    m.apply_quote("NSE_FNO:fut", {"ltp": bad})
    m.apply_quote("NSE_FNO:1", {"ltp": 120.0, "oi": 1500, "prev_oi": 1000, "volume": 75, "exchange_ts": LTT})
    m.apply_quote("NSE_FNO:1", {"ltp": bad, "oi": bad, "prev_oi": bad, "volume": bad, "exchange_ts": LTT + 1})
    m.apply_greeks("NSE_FNO:1", {"iv": bad, "delta": bad, "gamma": bad, "theta": bad, "vega": bad,
                                 "underlying_price": bad, "exchange_ts": LTT, "recv_ts": 1.0})
    side = m.by_strike[26000.0]["CE"]
    assert (side.ltp, side.oi, side.oi_change, side.volume) == (120.0, 1500, 500, 75)
    assert m.underlying_price == 26010.0 and m.atm_strike() == 26000.0 and m.smile() == {"CE": ([], []),
                                                                                          "PE": ([], [])}
    shown = [side.value(name) for name, _ in SIDE_FIELDS]
    assert all(v is None or np.isfinite(v) for v in shown), shown


@pytest.mark.parametrize("bad", BAD)
def test_breadth_and_ticks_and_profiles_skip_a_bad_value(bad: Any) -> None:
    b = Breadth()
    b.add_stock("NSE_EQ:1", "AAA")
    b.update("NSE_EQ:1", prev_close=100.0)
    b.update("NSE_EQ:1", ltp=101.0, exchange_ts=LTT)
    b.update("NSE_EQ:1", ltp=bad, prev_close=bad, exchange_ts=bad)
    stock = b.stocks["NSE_EQ:1"]
    assert (stock.ltp, stock.prev_close, b.counts().advances, b.minutes) == (101.0, 100.0, 1, [LTT - LTT % 60])

    ticks = TickSeries()
    events = [{"volume": 75, "ltp": 100.0, "qty": 75, "side": "B", "exchange_ts": LTT},
              {"volume": 150, "ltp": bad, "qty": 75, "side": "B", "exchange_ts": LTT},
              {"volume": 150, "ltp": 100.05, "qty": bad, "side": "S", "exchange_ts": LTT},
              {"volume": 150, "ltp": 100.05, "qty": 75, "side": "S", "exchange_ts": bad}]
    assert ticks.extend_events(events) == 1 and ticks.price.tolist() == [100.0]

    ladder = PriceLadder(0.05)
    ladder.add(bad, 75, 0)
    ladder.add(100.0, bad, 0)
    ladder.add_many(np.array([100.0, float(bad) if isinstance(bad, float) else NAN]), np.array([75, 75]),
                    np.array([1, 1]))
    prof = ladder.profile(1)
    assert prof.price.tolist() == [100.0] and prof.total.tolist() == [75]

    periods = PeriodProfiles(0.05, period_s=300)
    periods.add(bad, 75, 0, LTT)
    periods.add(100.0, 75, 0, bad)
    periods.add(100.0, 75, 0, LTT)
    assert [p.trades for p in periods.periods] == [1] and periods.periods[0].high == 100.0


def test_formats_show_a_dash_for_what_no_number_can_show() -> None:
    for value in (NAN, INF, -INF):
        assert fmt.price(value) == fmt.qty(value) == fmt.compact(value) == fmt.signed(value) == "-"
        assert fmt.pct(value) == "-"
    for ts in (2**40, -5, 1.5):
        assert fmt.ist_time(ts) == "-"  # type: ignore[arg-type]
    assert fmt.price(1234.5) == "1,234.50" and fmt.ist_time(LTT) == "09:15:00"
