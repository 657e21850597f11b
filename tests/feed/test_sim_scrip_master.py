"""The simulator's scrip masters: Dhan's layouts, real rows for indices and NIFTY 50 stocks, generated
derivatives listed correctly for an injected date, served over HTTP."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import date, datetime

import aiohttp
import pytest

from feed.sim.contracts import generate_contracts, monthly_expiry, nifty_expiries
from feed.sim.reference import COMPACT_HEADER, load_reference
from feed.sim.scrip_master import DETAILED_HEADER, render_compact, render_detailed
from feed.sim.server import SimServer
from shared.clock import IST
from tests.conftest import make_settings

CENTRES = {"NIFTY": 26_046.95, "BANKNIFTY": 59_300.0}


def at(y: int, mo: int, d: int, h: int = 10, mi: int = 0) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=IST).timestamp()


def parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def compact(t: float) -> list[dict[str, str]]:
    rows = parse(render_compact(load_reference(), generate_contracts(t, CENTRES), t))
    assert tuple(rows[0]) == COMPACT_HEADER
    return [dict(zip(COMPACT_HEADER, r, strict=True)) for r in rows[1:]]


def expiries(rows: list[dict[str, str]], name: str, instrument: str) -> list[str]:
    return sorted({r["SEM_EXPIRY_DATE"] for r in rows
                   if r["SEM_INSTRUMENT_NAME"] == instrument
                   and r["SEM_TRADING_SYMBOL"].startswith(name + "-")})


def test_real_rows_for_indices_and_nifty50_stocks() -> None:
    rows = compact(at(2026, 7, 15))
    by_id = {(r["SEM_EXM_EXCH_ID"], r["SEM_SEGMENT"], r["SEM_SMST_SECURITY_ID"]): r for r in rows}
    assert by_id[("NSE", "I", "13")]["SEM_TRADING_SYMBOL"] == "NIFTY"
    assert by_id[("NSE", "I", "25")]["SEM_TRADING_SYMBOL"] == "BANKNIFTY"
    assert by_id[("NSE", "I", "13")]["SEM_TICK_SIZE"] == "0.05", "index rows carry rupees"
    for sid, symbol in (("2885", "RELIANCE"), ("1333", "HDFCBANK"), ("11536", "TCS"), ("1594", "INFY")):
        row = by_id[("NSE", "E", sid)]
        assert row["SEM_TRADING_SYMBOL"] == symbol and row["SEM_SERIES"] == "EQ"
    stocks = [r for r in rows if r["SEM_SEGMENT"] == "E"]
    assert len(stocks) == 50 and {r["SEM_TRADING_SYMBOL"] for r in stocks} == set(load_reference().stocks)
    assert any(r["SEM_EXM_EXCH_ID"] == "BSE" and r["SEM_SEGMENT"] == "I" for r in rows)
    # verbatim: a real row as published
    assert by_id[("NSE", "E", "2885")]["SM_SYMBOL_NAME"] == "RELIANCE INDUSTRIES LTD"


def test_expiries_for_a_wednesday_in_july_2026() -> None:
    rows = compact(at(2026, 7, 15))
    assert expiries(rows, "NIFTY", "OPTIDX") == [
        "2026-07-21 14:30:00", "2026-07-28 14:30:00", "2026-08-04 14:30:00", "2026-08-11 14:30:00",
        "2026-08-25 14:30:00", "2026-09-29 14:30:00",
    ]
    monthly = ["2026-07-28 14:30:00", "2026-08-25 14:30:00", "2026-09-29 14:30:00"]
    assert expiries(rows, "BANKNIFTY", "OPTIDX") == monthly, "BANKNIFTY: monthly expiries only"
    assert expiries(rows, "NIFTY", "FUTIDX") == monthly and expiries(rows, "BANKNIFTY", "FUTIDX") == monthly
    flags = {r["SEM_EXPIRY_DATE"][:10]: r["SEM_EXPIRY_FLAG"]
             for r in rows if r["SEM_INSTRUMENT_NAME"] == "OPTIDX"}
    assert flags["2026-07-21"] == "W" and flags["2026-07-28"] == "M" and flags["2026-08-04"] == "W"
    for r in rows:
        if r["SEM_SEGMENT"] == "D":
            expiry = date.fromisoformat(r["SEM_EXPIRY_DATE"][:10])
            assert expiry.weekday() == 1, "NSE index expiries are Tuesdays"
    mcx = [r for r in rows if r["SEM_EXM_EXCH_ID"] == "MCX"]
    assert mcx and all(r["SEM_EXPIRY_DATE"].endswith(" 23:30:00") for r in mcx)
    roots = {r["SEM_TRADING_SYMBOL"].split("-")[0] for r in mcx}
    assert roots == {"GOLD", "SILVER", "CRUDEOIL", "NATURALGAS"}


def test_expiry_day_listed_until_1530_ist() -> None:
    nov24 = "2026-11-24 14:30:00"  # last Tuesday of November 2026
    assert monthly_expiry(2026, 11) == date(2026, 11, 24)
    assert nov24 in expiries(compact(at(2026, 11, 24, 15, 29)), "NIFTY", "FUTIDX")
    later = compact(at(2026, 11, 24, 15, 30))
    assert nov24 not in expiries(later, "NIFTY", "FUTIDX")
    assert expiries(later, "NIFTY", "FUTIDX") == [
        "2026-12-29 14:30:00", "2027-01-26 14:30:00", "2027-02-23 14:30:00"]
    assert all(d.isoformat() != "2026-11-24" for d, _ in nifty_expiries(at(2026, 11, 24, 16, 0)))


def test_derivative_rows_in_dhans_format() -> None:
    rows = compact(at(2026, 11, 17))
    fut = next(r for r in rows if r["SEM_TRADING_SYMBOL"] == "NIFTY-Nov2026-FUT")
    assert fut["SEM_CUSTOM_SYMBOL"] == "NIFTY NOV FUT"
    assert (fut["SEM_LOT_UNITS"], fut["SEM_STRIKE_PRICE"], fut["SEM_OPTION_TYPE"], fut["SEM_TICK_SIZE"]) == (
        "65.0", "-0.01000", "XX", "10.0000")
    assert fut["SEM_EXPIRY_DATE"] == "2026-11-24 14:30:00" and fut["SEM_EXCH_INSTRUMENT_TYPE"] == "FUT"
    call = next(r for r in rows if r["SEM_CUSTOM_SYMBOL"] == "NIFTY 24 NOV 25000 CALL")
    assert call["SEM_TRADING_SYMBOL"] == "NIFTY-Nov2026-25000-CE"
    fields = ("SEM_STRIKE_PRICE", "SEM_OPTION_TYPE", "SEM_TICK_SIZE", "SEM_EXPIRY_FLAG")
    assert tuple(call[f] for f in fields) == ("25000.00000", "CE", "5.0000", "M")
    bank = [r for r in rows
            if r["SEM_TRADING_SYMBOL"].startswith("BANKNIFTY-") and r["SEM_OPTION_TYPE"] == "PE"]
    assert {r["SEM_LOT_UNITS"] for r in bank} == {"30.0"}
    strikes = sorted({float(r["SEM_STRIKE_PRICE"]) for r in bank
                      if r["SEM_EXPIRY_DATE"].startswith("2026-11-24")})
    assert len(strikes) == 81 and all(b - a == 100.0 for a, b in itertools.pairwise(strikes))
    nifty = {float(r["SEM_STRIKE_PRICE"]) for r in rows
             if r["SEM_TRADING_SYMBOL"].startswith("NIFTY-") and r["SEM_EXPIRY_DATE"].startswith("2026-11-24")
             and r["SEM_OPTION_TYPE"] == "CE"}
    assert len(nifty) == 121 and min(nifty) == 23_050.0 and max(nifty) == 29_050.0
    ids = [(r["SEM_EXM_EXCH_ID"], r["SEM_SMST_SECURITY_ID"]) for r in rows if r["SEM_SEGMENT"] in ("D", "M")]
    assert len(ids) == len(set(ids))


def test_security_ids_stable_from_day_to_day() -> None:
    def ids(t: float) -> dict[str, int]:
        return {c.custom_symbol + c.expiry.isoformat(): c.security_id for c in generate_contracts(t, CENTRES)}

    monday, wednesday = ids(at(2026, 7, 13)), ids(at(2026, 7, 15))
    common = set(monday) & set(wednesday)
    assert len(common) > 1000
    assert all(monday[k] == wednesday[k] for k in common)
    assert all(35_000 <= v < 110_000 or 430_000 <= v < 440_000 for v in wednesday.values())


def test_detailed_layout() -> None:
    t = at(2026, 11, 17)
    rows = parse(render_detailed(load_reference(), generate_contracts(t, CENTRES), t))
    assert tuple(rows[0]) == (*DETAILED_HEADER, ""), "the header ends with a trailing comma"
    assert all(len(r) == len(DETAILED_HEADER) + 1 and r[-1] == "" for r in rows)
    recs = [dict(zip(DETAILED_HEADER, r, strict=False)) for r in rows[1:]]
    nifty = next(r for r in recs if r["SEGMENT"] == "I" and r["SECURITY_ID"] == "13")
    fields = ("UNDERLYING_SYMBOL", "DISPLAY_NAME", "SM_EXPIRY_DATE")
    assert tuple(nifty[f] for f in fields) == ("NIFTY", "Nifty 50", "0001-01-01")
    opt = next(r for r in recs if r["DISPLAY_NAME"] == "NIFTY 24 NOV 25000 PUT")
    fields = ("INSTRUMENT", "UNDERLYING_SECURITY_ID", "UNDERLYING_SYMBOL", "SYMBOL_NAME")
    assert tuple(opt[f] for f in fields) == ("OPTIDX", "26000", "NIFTY", "NIFTY-Nov2026-25000-PE")
    assert (opt["LOT_SIZE"], opt["SM_EXPIRY_DATE"], opt["STRIKE_PRICE"], opt["TICK_SIZE"]) == (
        "65.0", "2026-11-24", "25000.00000", "5.0000")
    bank = next(r for r in recs if r["SYMBOL_NAME"] == "BANKNIFTY-Nov2026-FUT")
    assert bank["UNDERLYING_SECURITY_ID"] == "26009" and bank["TICK_SIZE"] == "20.0000"
    reliance = next(r for r in recs if r["SEGMENT"] == "E" and r["SECURITY_ID"] == "2885")
    assert reliance["UNDERLYING_SYMBOL"] == "RELIANCE" and reliance["TICK_SIZE"] == "10.0000"


async def test_served_over_http_for_the_simulated_date() -> None:
    clock_t = at(2026, 7, 15)
    async with SimServer(make_settings(), clock=lambda: clock_t) as sim, aiohttp.ClientSession() as http:
        async with http.get(f"{sim.http_url}/api-scrip-master.csv") as resp:
            assert resp.status == 200 and resp.content_type == "text/csv"
            body = await resp.read()
        assert body.startswith(b"SEM_EXM_EXCH_ID,") and b"\r\n" in body
        rows = parse(body.decode())
        assert tuple(rows[0]) == COMPACT_HEADER
        assert any(r[5] == "NIFTY-Jul2026-FUT" and r[8] == "2026-07-28 14:30:00" for r in rows)
        async with http.get(f"{sim.http_url}/api-scrip-master-detailed.csv") as resp:
            detailed = parse(await resp.text())
        assert tuple(detailed[0][:-1]) == DETAILED_HEADER
        assert len(detailed) == len(rows)
        # every listed instrument is one the simulator trades (or a real index/stock row)
        assert sim.market is not None
        for r in rows[1:]:
            if r[1] in ("D", "M"):
                seg = 5 if r[0] == "MCX" else 2
                assert sim.market.lookup(seg, int(r[2])) is not None


@pytest.mark.parametrize("path", ["/api-scrip-master.csv", "/api-scrip-master-detailed.csv"])
async def test_listing_follows_the_simulated_clock(path: str) -> None:
    now = [at(2026, 11, 24, 15, 0)]
    async with SimServer(make_settings(), clock=lambda: now[0]) as sim, aiohttp.ClientSession() as http:
        async with http.get(sim.http_url + path) as resp:
            before = await resp.text()
        now[0] = at(2026, 11, 24, 15, 31)
        async with http.get(sim.http_url + path) as resp:
            after = await resp.text()
    assert "NIFTY-Nov2026-FUT" in before and "NIFTY-Nov2026-FUT" not in after
