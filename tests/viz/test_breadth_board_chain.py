"""Breadth counts and A/D line, the quote board's ordering and flashes, the option chain, the status meter."""

from __future__ import annotations

import pytest

from viz.models.board import BoardModel
from viz.models.breadth import Breadth
from viz.models.chain import ChainModel, OptionContract
from viz.models.status import RateMeter, StatusModel, format_age

M0 = 1_780_000_000 // 60 * 60


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def basket() -> Breadth:
    b = Breadth()
    for key, sym in (("NSE_EQ:1", "AAA"), ("NSE_EQ:2", "BBB"), ("NSE_EQ:3", "CCC"), ("NSE_EQ:4", "DDD")):
        b.add_stock(key, sym)
        b.update(key, prev_close=100.0)
    return b


def test_breadth_counts_against_previous_close() -> None:
    b = basket()
    b.update("NSE_EQ:1", ltp=101.0, exchange_ts=M0 + 5)
    b.update("NSE_EQ:2", ltp=99.0, exchange_ts=M0 + 6)
    b.update("NSE_EQ:3", ltp=100.0000001, exchange_ts=M0 + 7)  # float noise: unchanged
    c = b.counts()
    assert (c.advances, c.declines, c.unchanged, c.not_traded) == (1, 1, 1, 1)
    assert c.ratio == 1.0 and c.net == 0
    assert not b.update("NSE_EQ:99", ltp=5.0)
    assert [s.symbol for s in b.by_change()] == ["AAA", "CCC", "BBB", "DDD"]


def test_breadth_ratio_without_declines() -> None:
    b = basket()
    b.update("NSE_EQ:1", ltp=101.0)
    assert b.counts().ratio is None


def test_ad_line_one_point_per_minute() -> None:
    b = basket()
    b.update("NSE_EQ:1", ltp=101.0, exchange_ts=M0 + 1)  # minute 0: +1
    b.update("NSE_EQ:2", ltp=101.0, exchange_ts=M0 + 30)  # minute 0: +2 (replaces)
    b.update("NSE_EQ:3", ltp=90.0, exchange_ts=M0 + 65)  # minute 1: +1
    b.update("NSE_EQ:4", ltp=90.0, exchange_ts=M0 + 20)  # late for minute 0: counts now, line kept
    minutes, net = b.line()
    assert minutes.tolist() == [M0, M0 + 60] and net.tolist() == [2, 1]
    assert b.counts().net == 0
    b.update("NSE_EQ:1", ltp=99.0, exchange_ts=M0 + 190)
    assert b.line()[1].tolist() == [2, 1, -2] and b.advances_line[-1] == 1 and b.declines_line[-1] == 3


def test_ad_line_version_moves_only_when_the_line_does() -> None:
    """A window redraws the A/D chart only on a new line_version: a quote that moves no stock across its
    previous close keeps it; a change of the counts, a new minute and a history replay move it."""
    b = basket()
    b.update("NSE_EQ:1", ltp=101.0, exchange_ts=M0 + 1)
    v = b.line_version
    b.update("NSE_EQ:1", ltp=102.0, exchange_ts=M0 + 2)  # still up: same counts, same minute
    b.update("NSE_EQ:9", ltp=50.0, exchange_ts=M0 + 3)  # not in the basket
    assert b.line_version == v
    b.update("NSE_EQ:2", ltp=99.0, exchange_ts=M0 + 3)  # BBB down: the minute's point changes
    assert b.line_version == v + 1 and b.line()[1].tolist() == [0]
    b.update("NSE_EQ:2", ltp=98.0, exchange_ts=M0 + 61)  # same counts in a new minute: a new point
    assert b.line_version == v + 2 and b.line()[1].tolist() == [0, 0]
    b.replay_minutes([("NSE_EQ:1", M0, 99.0)])
    assert b.line_version > v + 2


def test_ad_line_from_history_minutes() -> None:
    b = basket()
    b.replay_minutes(
        [
            ("NSE_EQ:2", M0 + 60, 98.0),
            ("NSE_EQ:1", M0, 102.0),
            ("NSE_EQ:3", M0 + 60, 101.0),
            ("NSE_EQ:9", M0 + 120, 1.0),
            ("NSE_EQ:1", M0 + 120, 99.0),
        ]
    )
    assert b.line()[0].tolist() == [M0, M0 + 60, M0 + 120]
    assert b.line()[1].tolist() == [1, 1, -1]  # A; A-D+A; -D(1, 2)+A(3)


def test_board_forward_only_and_flash() -> None:
    clock = FakeClock()
    board = BoardModel(clock)
    board.add_instrument("NSE_FNO:1", "NIFTY JUL FUT", segment="NSE_FNO", role="future")
    assert board.apply(
        "NSE_FNO:1",
        {
            "ltp": 100.0,
            "volume": 10,
            "exchange_ts": 50,
            "recv_ts": 1.0,
            "close": 98.0,
            "oi": 500,
            "prev_oi": 450,
            "bid": 99.95,
            "ask": 100.05,
        },
    )
    row = board.rows["NSE_FNO:1"]
    assert row.change == pytest.approx(2.0) and row.change_pct == pytest.approx(2.0 / 98 * 100)
    assert row.oi_change == 50 and board.flash_of("NSE_FNO:1", "ltp", 0.5) == 0  # first value: no flash
    assert not board.apply("NSE_FNO:1", {"ltp": 1.0, "volume": 5, "exchange_ts": 50, "recv_ts": 9.0})  # older
    assert board.apply("NSE_FNO:1", {"ltp": 99.5, "volume": 12, "exchange_ts": 51, "recv_ts": 2.0})
    assert board.flash_of("NSE_FNO:1", "ltp", 0.5) == -1 and board.flash_of("NSE_FNO:1", "volume", 0.5) == 1
    assert board.take_dirty() == {"NSE_FNO:1"} and board.take_dirty() == set()
    clock.t += 1.0
    assert board.flash_of("NSE_FNO:1", "ltp", 0.5) == 0 and board.flashing_keys(0.5) == set()
    assert not board.apply("NSE_EQ:7", {"ltp": 1.0})


def test_board_filter_words() -> None:
    board = BoardModel()
    board.add_instrument("NSE_FNO:1", "NIFTY 26000 CE", segment="NSE_FNO", role="option")
    assert board.matches("NSE_FNO:1", "nifty ce") and board.matches("NSE_FNO:1", "option")
    assert not board.matches("NSE_FNO:1", "banknifty")


def chain() -> ChainModel:
    m = ChainModel("NIFTY", "2026-07-30")
    m.set_contracts(
        [
            OptionContract(f"NSE_FNO:{i}{t}", k, t)
            for i, k in enumerate((25900.0, 26000.0, 26100.0))
            for t in ("CE", "PE")
        ]
    )
    return m


def test_chain_atm_and_smile() -> None:
    m = chain()
    assert m.strikes == [25900.0, 26000.0, 26100.0] and m.atm_strike() is None
    m.apply_greeks(
        "NSE_FNO:1CE", {"iv": 0.12, "delta": 0.5, "underlying_price": 26050.0, "exchange_ts": 5, "recv_ts": 1}
    )
    assert m.atm_strike() == 26000.0  # equally far from 26000 and 26100: the lower
    m.apply_greeks("NSE_FNO:0PE", {"iv": 0.15, "exchange_ts": 5, "recv_ts": 1})
    m.apply_greeks("NSE_FNO:2CE", {"iv": 0.11, "exchange_ts": 5, "recv_ts": 1})
    assert m.smile() == {"CE": ([26000.0, 26100.0], [12.0, 11.0]), "PE": ([25900.0], [15.0])}
    assert not m.apply_greeks("NSE_FNO:2CE", {"iv": 0.5, "exchange_ts": 4, "recv_ts": 9})  # older
    assert m.by_strike[26100.0]["CE"].value("iv") == pytest.approx(11.0)
    m.apply_greeks("NSE_FNO:2CE", {"iv": 0.11, "theta": -3650.0, "vega": 1250.0, "exchange_ts": 6, "recv_ts": 1})
    side = m.by_strike[26100.0]["CE"]
    assert side.value("theta") == pytest.approx(-10.0) and side.value("vega") == pytest.approx(12.5)  # per day, per 1%


def test_chain_quotes_and_underlying() -> None:
    m = chain()
    m.underlying_keys = {"NSE_FNO:fut"}
    assert m.apply_quote("NSE_FNO:fut", {"ltp": 26120.0})
    assert m.atm_strike() == 26100.0
    m.apply_quote("NSE_FNO:0CE", {"ltp": 210.5, "oi": 1500, "prev_oi": 1000, "volume": 75, "exchange_ts": 9})
    side = m.by_strike[25900.0]["CE"]
    assert (side.ltp, side.oi_change, side.volume) == (210.5, 500, 75)
    v = m.version
    m.set_contracts([OptionContract("NSE_FNO:0CE", 25900.0, "CE")])  # re-centred: state of kept contracts stays
    assert m.strikes == [25900.0] and m.by_strike[25900.0]["CE"].ltp == 210.5 and m.version > v


def test_rate_meter_and_status_text() -> None:
    clock = FakeClock(100.0)
    meter = RateMeter(window_s=5, clock=clock)
    meter.add(10)
    assert meter.rate() == 0.0  # the current second is still filling
    clock.t = 101.2
    meter.add(20)
    assert meter.rate() == 10.0
    clock.t = 102.5
    assert meter.rate() == 15.0  # 30 over seconds 100 and 101
    clock.t = 120.0
    assert meter.rate() == 0.0
    status = StatusModel(clock)
    status.redis.ok, status.mysql.ok, status.mysql.error = True, False, "refused"
    status.mysql.retry_at = clock.t + 6.5
    status.updated(3)
    clock.t += 2.5
    text = status.text()
    assert "Redis: connected" in text and "MySQL: UNREACHABLE (refused), retrying in 4 s" in text
    assert "2.5 s ago" in text and not status.healthy
    assert format_age(None) == "no data yet" and format_age(0.25) == "250 ms ago"


def test_sticky_range() -> None:
    from viz.widgets.ranges import sticky_range

    assert sticky_range((0.0, 100.0), 10.0, 90.0) is None  # inside: keep
    assert sticky_range((0.0, 100.0), 10.0, 101.0) == pytest.approx((0.9, 110.1))  # out: span + 10 % headroom
    assert sticky_range((0.0, 1000.0), 10.0, 20.0) == pytest.approx((9.0, 21.0))  # far too loose: refit
    assert sticky_range((0.0, 100.0), 0.0, 120.0, floor=0.0) == pytest.approx((0.0, 132.0))
