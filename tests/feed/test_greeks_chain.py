"""The greeks service's pure core: universe parsing, near-month futures, price choice, coalescing."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import orjson
import pytest

from feed.greeks.black76 import price, year_fraction
from feed.greeks.chain import (
    ChainState,
    InstrumentBook,
    parse_instrument,
    quote_price,
    quote_problem,
    quote_time_utc,
)
from shared.clock import IST, to_dhan_epoch
from tests.feed.test_greeks_service import instrument

TODAY = date(2026, 11, 25)
NOW_UTC = datetime(2026, 11, 25, 11, 0, tzinfo=IST).timestamp()
NEAR, NEXT = TODAY + timedelta(days=7), TODAY + timedelta(days=35)


inst = instrument  # a universe record as the feed writes it (shared with the service tests)


def book(*rows: dict[str, Any]) -> InstrumentBook:
    return InstrumentBook.from_hash({f"{r['seg']}:{r['sid']}".encode(): orjson.dumps(r) for r in rows})


def quote(seg: str, sid: int, ltp: float | None, *, at: float = NOW_UTC, **kw: Any) -> dict[str, Any]:
    return {
        "v": 1,
        "seg": seg,
        "sid": sid,
        "ltp": ltp,
        "exchange_ts": to_dhan_epoch(at),
        "recv_ts": at + 0.01,
        "bid": None,
        "ask": None,
        **kw,
    }


BASE = (
    inst(1, "FUTIDX", "future", expiry=NEXT),
    inst(2, "FUTIDX", "future", expiry=NEAR),
    inst(3, "OPTIDX", "option", expiry=NEAR, strike=26_000.0, option_type="CE"),
    inst(4, "OPTIDX", "option", expiry=NEAR, strike=26_000.0, option_type="PE"),
    inst(5, "EQUITY", "equity", seg="NSE_EQ", underlying="RELIANCE"),
    inst(13, "INDEX", "index", seg="IDX_I"),
)


def test_parse_instrument_tolerates_bad_rows() -> None:
    b = InstrumentBook.from_hash(
        {b"NSE_FNO:9": b"{not json", b"NSE_FNO:8": b'{"sid": 8}', b"NSE_FNO:3": orjson.dumps(BASE[2])}
    )
    assert len(b) == 1 and b.rejected == 2 and b.options == 1
    assert parse_instrument("x", b"[1, 2]") is None
    opt = parse_instrument("NSE_FNO:3", orjson.dumps(BASE[2]))
    assert opt is not None and opt.is_option and not opt.is_future and opt.expiry == NEAR


def test_parse_instrument_refuses_what_str_or_int_would_choke_on() -> None:
    deep = b'{"seg":' + b"[" * 1000 + b"]" * 1000 + b',"sid":3}'  # str() of it: RecursionError
    assert parse_instrument("NSE_FNO:3", deep) is None
    assert parse_instrument("NSE_FNO:3", orjson.dumps({**BASE[2], "sid": "9" * 5000})) is None  # int(): ValueError
    assert parse_instrument("NSE_FNO:3", orjson.dumps({**BASE[2], "strike": [1]})) is None
    assert parse_instrument("NSE_FNO:3", orjson.dumps({**BASE[2], "underlying": {"a": 1}})) is None
    b = InstrumentBook.from_hash({b"NSE_FNO:9": deep, b"NSE_FNO:3": orjson.dumps(BASE[2])})
    assert len(b) == 1 and b.rejected == 1


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({}, None),
        ({"bid": None, "ask": None, "ltp": None, "exchange_ts": None, "recv_ts": None}, None),
        ({"seg": "NSE_FNO\n"}, "bad exchange segment 'NSE_FNO\\n'"),
        ({"seg": [[["x"]]]}, "bad exchange segment [[[...]]]"),
        ({"sid": True}, "bad sid True"),
        ({"sid": -1}, "bad sid -1"),
        ({"exchange_ts": 1.5e9}, "bad exchange_ts 1500000000.0"),
        ({"recv_ts": "now"}, "bad recv_ts 'now'"),
        ({"ltp": False}, "bad ltp False"),
        ({"bid": 1e300}, "bad bid 1e+300"),
        ({"ask": "x" * 100}, "bad ask 'xxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxx'"),
    ],
)
def test_quote_problem_checks_every_field_the_chain_reads(change: dict[str, Any], problem: str | None) -> None:
    assert quote_problem({**quote("NSE_FNO", 3, 120.0), **change}) == problem


def test_near_month_is_earliest_not_expired_at_quote_time() -> None:
    b = book(*BASE)
    assert b.near_future("NIFTY", NOW_UTC).sid == 2  # type: ignore[union-attr]
    close_near = datetime.combine(
        NEAR, datetime.min.time().replace(hour=15, minute=30), tzinfo=IST
    ).timestamp()
    assert b.near_future("NIFTY", close_near - 1).sid == 2  # type: ignore[union-attr]
    assert b.near_future("NIFTY", close_near).sid == 1  # type: ignore[union-attr]
    assert b.near_future("NIFTY", close_near + 86_400 * 60) is None
    assert b.near_future("BANKNIFTY", NOW_UTC) is None


def test_quote_time_unshifts_dhan_epoch_and_falls_back_to_recv() -> None:
    assert quote_time_utc(quote("NSE_FNO", 3, 100.0)) == int(NOW_UTC)
    assert quote_time_utc({"exchange_ts": 0, "recv_ts": 5.5}) == 5.5
    assert quote_time_utc({"exchange_ts": None}) is None


def test_quote_price_ltp_or_sane_mid() -> None:
    q = quote("NSE_FNO", 3, 100.0, bid=101.0, ask=103.0)
    assert quote_price(q) == 100.0
    assert quote_price(q, "mid") == 102.0
    assert quote_price({**q, "bid": 10.0, "ask": 103.0}, "mid") == 100.0  # spread too wide: LTP
    assert quote_price({**q, "bid": 0.0}, "mid") == 100.0  # zero bid: LTP
    assert quote_price({**q, "bid": 104.0}, "mid") == 100.0  # crossed: LTP
    assert quote_price({**q, "ltp": 0.0}) is None
    assert quote_price({**q, "ltp": None}) is None


def test_process_uses_future_price_as_of_the_option_quote_and_coalesces() -> None:
    st = ChainState(book(*BASE), 0.065)
    t = year_fraction(NEAR, int(NOW_UTC))
    f1, f2 = 26_010.0, 26_100.0
    p1 = price(f1, 26_000.0, t, 0.065, 0.15, True)
    p2 = price(f2, 26_000.0, t, 0.065, 0.17, True)
    res = st.process(
        [
            quote("NSE_FNO", 3, 50.0),  # no future price yet
            quote("NSE_FNO", 1, 26_300.0),  # next month: not the underlying
            quote("NSE_FNO", 2, f1),
            quote("NSE_FNO", 3, round(p1, 2)),
            quote("NSE_FNO", 4, 80.0),
            quote("NSE_FNO", 2, f2),
            quote("NSE_FNO", 3, round(p2, 2)),  # latest quote of 3: priced on f2
            quote("NSE_EQ", 5, 1500.0),
            quote("IDX_I", 13, 26_000.0),
            quote("NSE_FNO", 777, 1.0),
        ]
    )
    assert (res.options, res.futures, res.no_underlying, res.coalesced, res.unknown) == (4, 3, 1, 1, 1)
    assert [(e["sid"], e["underlying_price"]) for e in res.events] == [(4, f1), (3, f2)]
    ev3 = res.events[1]
    assert ev3["underlying_sid"] == 2 and ev3["underlying_seg"] == "NSE_FNO"
    assert ev3["iv"] == pytest.approx(0.17, abs=1e-4)
    assert ev3["expiry"] == NEAR.isoformat() and ev3["option_type"] == "CE" and ev3["strike"] == 26_000.0
    assert st.unknown_keys([quote("NSE_FNO", 777, 1.0), quote("NSE_FNO", 3, 1.0)]) == {"NSE_FNO:777"}


def test_unsolvable_price_gives_null_greeks() -> None:
    st = ChainState(book(*BASE), 0.065)
    st.process([quote("NSE_FNO", 2, 27_000.0)])
    res = st.process([quote("NSE_FNO", 3, 900.0)])  # call 1000 in the money, priced below intrinsic
    (ev,) = res.events
    assert res.unsolved == 1
    assert all(ev[k] is None for k in ("iv", "delta", "gamma", "vega", "theta", "rho"))
    assert ev["price"] == 900.0 and ev["underlying_price"] == 27_000.0
    assert b"NaN" not in orjson.dumps(ev)


def test_option_quote_without_a_price_is_skipped_and_mid_applies_to_futures() -> None:
    st = ChainState(book(*BASE), 0.065, price_source="mid")
    res = st.process(
        [
            quote("NSE_FNO", 2, 26_000.0, bid=26_010.0, ask=26_010.2),
            quote("NSE_FNO", 3, None),  # an OI or previous-close packet before any trade
            quote("NSE_FNO", 4, 120.0, bid=119.0, ask=121.0),
        ]
    )
    assert res.no_price == 1 and [e["sid"] for e in res.events] == [4]
    assert res.events[0]["underlying_price"] == 26_010.1 and res.events[0]["price"] == 120.0


BAD_NUMBERS = (float("nan"), float("inf"), -float("inf"), 3e38, 1e18, -5.0, "101.5", True, [1])


def _sane(ev: dict[str, Any]) -> bool:
    import math

    from shared.events import is_price

    prices = all(is_price(ev[k]) for k in ("price", "underlying_price", "strike"))
    greeks = all(ev[k] is None or math.isfinite(ev[k]) for k in ("iv", "delta", "gamma", "vega", "theta", "rho"))
    times = ev["exchange_ts"] is None or type(ev["exchange_ts"]) is int
    return prices and greeks and times and math.isfinite(ev["recv_ts"])


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_bad_values_in_quotes_are_no_price_never_a_crash_or_a_garbage_greek(bad: Any) -> None:
    """The feed drops such packets; if one got through anyway, it must read as "no price" / "no time"."""
    st = ChainState(book(*BASE), 0.065, price_source="mid")
    good_f = quote("NSE_FNO", 2, 26_000.0)
    res = st.process([
        good_f,
        quote("NSE_FNO", 2, bad),  # a bad future price: the last good one stays
        quote("NSE_FNO", 2, bad, bid=bad, ask=bad),
        quote("NSE_FNO", 3, bad),
        quote("NSE_FNO", 4, bad, bid=bad, ask=bad),
    ])
    assert res.no_price == 2 and res.events == [] and st.future_price["NSE_FNO:2"] == 26_000.0
    res = st.process([quote("NSE_FNO", 3, 120.0, exchange_ts=bad), quote("NSE_FNO", 4, 80.0, bid=bad, ask=81.0)])
    assert [e["sid"] for e in res.events] == [3, 4]  # a bad time falls back to recv_ts; a bad bid to the LTP
    for ev in res.events:
        assert _sane(ev), ev
        assert ev["underlying_price"] == 26_000.0 and ev["iv"] is not None
    assert quote_time_utc({"exchange_ts": bad, "recv_ts": bad}) is None


@pytest.mark.parametrize("strike", [float("nan"), float("inf"), -1.0, 0.0])
def test_an_option_with_a_bad_strike_is_not_an_option(strike: float) -> None:
    row = inst(3, "OPTIDX", "option", expiry=NEAR, strike=26_000.0, option_type="CE")
    parsed = parse_instrument("NSE_FNO:3", {**row, "strike": strike})
    assert parsed is not None and not parsed.is_option
