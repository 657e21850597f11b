"""Dhan's 5 connections shared by the live feed and the depth feeds (feed/budget.py), and which instruments get
20-level depth (feed/fulldepth/select.py)."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from feed.budget import ConnectionBudget, allocate
from feed.fulldepth.select import auto_instruments, parse_instruments, wanted_depth20, wanted_depth200
from feed.instruments.parse import InstrumentInfo
from feed.universe import Member, Universe
from shared.errors import ConfigError


@pytest.mark.parametrize(("main", "wanted", "want200"),
                         list(itertools.product(range(6), (0, 1, 22, 50, 51, 120, 250, 1000), (False, True))))
def test_allocation_never_exceeds_five_and_funds_in_priority_order(main: int, wanted: int, want200: bool) -> None:
    a = allocate(main, wanted, want200)
    assert a.used <= 5 and a.main == main
    assert a.depth20 == min(5 - main, -(-wanted // 50))  # one connection per 50, as many as are left
    assert a.depth20_capacity == 50 * a.depth20 and a.depth20_unfunded == max(0, wanted - a.depth20_capacity)
    assert a.depth200 == int(want200 and a.main + a.depth20 < 5)  # only what the 20-level feed left
    assert a.depth200_unfunded == int(want200 and not a.depth200)


def test_live_feed_beyond_the_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="needs 6 connections"):
        allocate(6, 0, False)


def test_the_ledger_refuses_a_connection_beyond_the_grant_or_the_limit() -> None:
    b = ConnectionBudget()
    b.grant(2, 120, True)  # live 2, depth20 3 (150 instruments), nothing left for the 200-level feed
    b.hold("main", 2)
    b.hold("depth20", 3)
    assert b.used == 5 and b.allocation.depth200_unfunded == 1
    with pytest.raises(RuntimeError, match="depth200 asked for 1"):
        b.hold("depth200", 1)
    b.grant(3, 120, True)  # the live feed grows: depth must give one back before it may book the live one
    with pytest.raises(RuntimeError, match="main asked for 3"):
        b.hold("main", 3)
    b.hold("depth20", 2)
    b.hold("main", 3)
    m = b.metrics()
    assert (m["budget_used"], m["budget_main"], m["budget_depth20"], m["budget_depth200"]) == (5, 3, 2, 0)
    assert (m["budget_limit"], m["budget_per_conn_limit"], m["budget_depth20_per_conn_limit"]) == (5, 5000, 50)
    assert m["depth20_unfunded"] == 20


def info(sid: int, instrument: str, underlying: str, expiry: date, strike: float | None = None,
         option_type: str | None = None) -> InstrumentInfo:
    return InstrumentInfo(segment="NSE_FNO", security_id=sid, exch_id="NSE", segment_code="D",
                          instrument=instrument, trading_symbol=f"{underlying}-{sid}", custom_symbol="",
                          underlying=underlying, expiry=expiry, strike=strike, option_type=option_type, lot_size=65,
                          tick_size=0.05, expiry_flag="", series="", symbol_name="")


def universe(atm: dict[str, float]) -> Universe:
    members: dict[tuple[str, int], Member] = {}
    near, far = date(2026, 12, 29), date(2027, 1, 26)
    for m in (Member(info(1, "FUTIDX", "NIFTY", far), "full", "future"),
              Member(info(2, "FUTIDX", "NIFTY", near), "full", "future"),
              Member(info(3, "FUTIDX", "BANKNIFTY", near), "full", "future")):
        members[m.key] = m
    sid = 100
    for strike in range(25_700, 26_350, 50):  # NIFTY ATM +/- 6 in the universe
        for kind in ("PE", "CE"):
            sid += 1
            m = Member(info(sid, "OPTIDX", "NIFTY", near, float(strike), kind), "full", "option")
            members[m.key] = m
    return Universe(members=members, atm=atm)


def test_auto_is_the_front_futures_then_the_options_nearest_the_money() -> None:
    u = universe({"NIFTY": 26_000.0})
    got = auto_instruments(u)
    assert got[:1] == [("NSE_FNO", 2)]  # NIFTY's front future (not the far one), then its options
    options = [u.members[k].info for k in got[1:11]]
    assert [(o.strike, o.option_type) for o in options] == [
        (s, t) for s in (25_900.0, 25_950.0, 26_000.0, 26_050.0, 26_100.0) for t in ("CE", "PE")]
    assert got[11:] == [("NSE_FNO", 3)]  # BANKNIFTY has no ATM yet: its future only
    moved = auto_instruments(universe({"NIFTY": 26_100.0}))
    assert {u.members[k].info.strike for k in moved[1:11]} == {26_000.0, 26_050.0, 26_100.0, 26_150.0, 26_200.0}
    assert wanted_depth20("auto", False, u) == [] and wanted_depth20("AUTO", True, None) == []


def test_explicit_lists_and_their_one_line_errors() -> None:
    assert parse_instruments(" NSE_FNO:35001, nse_eq:1333,NSE_FNO:35001,", "X") == [("NSE_FNO", 35001),
                                                                                  ("NSE_EQ", 1333)]
    assert wanted_depth20("NSE_EQ:1333", True, None) == [("NSE_EQ", 1333)]
    assert wanted_depth200("") is None and wanted_depth200("NSE_FNO:7") == ("NSE_FNO", 7)
    for text, why in (("NSE_FNO-35001", "not SEGMENT:SECURITY_ID"), ("MCX_COMM:1", "has no depth feed"),
                      ("IDX_I:13", "has no depth feed"), ("NSE_FNO:x1", "not SEGMENT"),
                      ("NSE_FNO:99999999999", "not SEGMENT")):
        with pytest.raises(ConfigError, match=why) as err:
            wanted_depth20(text, True, None)
        assert "\n" not in str(err.value) and "DHAN_DEPTH20_INSTRUMENTS" in str(err.value)
    with pytest.raises(ConfigError, match="one instrument only"):
        wanted_depth200("NSE_FNO:1,NSE_FNO:2")
