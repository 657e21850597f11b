"""Scrip master parsing on Dhan's real compact rows and on hand-built compact and detailed rows."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from aiohttp import web

from feed.instruments.parse import (
    SEGMENT_MAP,
    InstrumentInfo,
    fetch_scrip_master,
    parse_scrip_master,
    parse_scrip_master_report,
    underlying_from_symbol,
)
from shared.errors import ConfigError, DhanError
from tests.conftest import DATA, free_port

REAL_MASTER = DATA / "dhan-scrip-master-compact-nse-eq-idx-2026-07.csv"
COMPACT_HEADER = (
    "SEM_EXM_EXCH_ID,SEM_SEGMENT,SEM_SMST_SECURITY_ID,SEM_INSTRUMENT_NAME,SEM_EXPIRY_CODE,SEM_TRADING_SYMBOL,"
    "SEM_LOT_UNITS,SEM_CUSTOM_SYMBOL,SEM_EXPIRY_DATE,SEM_STRIKE_PRICE,SEM_OPTION_TYPE,SEM_TICK_SIZE,"
    "SEM_EXPIRY_FLAG,SEM_EXCH_INSTRUMENT_TYPE,SEM_SERIES,SM_SYMBOL_NAME"
)
# Rows as laid out in Dhan's compact master (equity and index rows copied from the real July 2026 file).
RELIANCE = "NSE,E,2885,EQUITY,0,RELIANCE,1,Reliance Industries,,,,10,NA,ES,EQ,RELIANCE INDUSTRIES LTD"
HDFCBANK = "NSE,E,1333,EQUITY,0,HDFCBANK,1,HDFC Bank,,,,5,NA,ES,EQ,HDFC BANK LTD"
NIFTY_IDX = "NSE,I,13,INDEX,0,NIFTY,1,Nifty 50,0001-01-01,,XX,0.05,,INDEX,X,NIFTY"
SENSEX_IDX = "BSE,I,51,INDEX,0,SENSEX,1,Sensex,0001-01-01,,XX,0.01,,INDEX,X,SENSEX"
NIFTY_CE = (
    "NSE,D,35001,OPTIDX,1,NIFTY-Nov2026-25000-CE,65,NIFTY 24 NOV 25000 CALL,2026-11-24 14:30:00,"
    "25000.00000,CE,5.0000,M,OP,NA,"
)
NIFTY_FUT = (
    "NSE,D,35002,FUTIDX,1,NIFTY-Nov2026-FUT,65,NIFTY NOV FUT,"
    "2026-11-24 14:30:00,-0.01000,XX,10.0000,M,FUT,NA,"
)
GOLD_FUT = (
    "MCX,M,444001,FUTCOM,1,GOLD-Dec2026-FUT,1,GOLD DEC FUT,2026-12-04 23:30:00,-0.01000,XX,100,M,FUT,NA,"
)
USDINR_OPT = (
    "NSE,C,8001,OPTCUR,1,USDINR-Nov2026-88.5-PE,1,USDINR 26 NOV 88.5 PUT,"
    "2026-11-26 12:30:00,88.5,PE,0.25,M,OP,NA,"
)
BAJAJ_FUT = (
    "NSE,D,35003,FUTSTK,1,BAJAJ-AUTO-Nov2026-FUT,75,BAJAJ-AUTO NOV FUT,"
    "2026-11-24 14:30:00,-0.01,XX,50,M,FUT,NA,"
)


def _csv(*rows: str, header: str = COMPACT_HEADER) -> str:
    return "\n".join((header, *rows)) + "\n"


def _by_key(items: list[InstrumentInfo]) -> dict[tuple[str, int], InstrumentInfo]:
    return {i.key: i for i in items}


# --- real rows ---


def test_real_compact_master_parses_every_row() -> None:
    report = parse_scrip_master_report(REAL_MASTER.read_text(encoding="utf-8"))
    assert report.layout == "compact"
    assert report.rows == 9777
    assert report.bad_rows == 0, report.bad_examples
    assert report.unmapped_rows == 0
    assert len(report.instruments) == 9777
    assert report.defaulted_ticks == 1  # GIFTNIFTY's index row reads 0
    segments = {i.segment for i in report.instruments}
    assert segments == {"NSE_EQ", "IDX_I"}


def test_real_rows_tick_normalisation() -> None:
    items = _by_key(parse_scrip_master(REAL_MASTER.read_text(encoding="utf-8")))
    reliance, hdfc = items[("NSE_EQ", 2885)], items[("NSE_EQ", 1333)]
    nifty, bank, sensex = items[("IDX_I", 13)], items[("IDX_I", 25)], items[("IDX_I", 51)]
    assert (reliance.trading_symbol, reliance.tick_size) == ("RELIANCE", 0.10)
    assert (hdfc.trading_symbol, hdfc.tick_size) == ("HDFCBANK", 0.05)
    assert (nifty.trading_symbol, nifty.tick_size, nifty.instrument) == ("NIFTY", 0.05, "INDEX")
    assert (bank.trading_symbol, bank.underlying) == ("BANKNIFTY", "BANKNIFTY")
    assert (sensex.exch_id, sensex.tick_size) == ("BSE", 0.01)
    gift = next(i for i in items.values() if i.trading_symbol == "GIFTNIFTY")
    assert gift.tick_size == 0.01


def test_real_row_fields() -> None:
    [rel, idx] = parse_scrip_master(_csv(RELIANCE, NIFTY_IDX))
    assert rel == InstrumentInfo(
        segment="NSE_EQ",
        security_id=2885,
        exch_id="NSE",
        segment_code="E",
        instrument="EQUITY",
        trading_symbol="RELIANCE",
        custom_symbol="Reliance Industries",
        underlying="RELIANCE",
        expiry=None,
        strike=None,
        option_type=None,
        lot_size=1,
        tick_size=0.10,
        expiry_flag="NA",
        series="EQ",
        symbol_name="RELIANCE INDUSTRIES LTD",
    )
    assert rel.key == ("NSE_EQ", 2885)
    assert (idx.expiry, idx.option_type, idx.strike, idx.expiry_flag) == (None, None, None, "NA")


# --- hand-built rows ---


def test_derivative_rows() -> None:
    items = _by_key(parse_scrip_master(_csv(NIFTY_CE, NIFTY_FUT, GOLD_FUT, USDINR_OPT, BAJAJ_FUT)))
    ce = items[("NSE_FNO", 35001)]
    assert (ce.underlying, ce.strike, ce.option_type, ce.lot_size) == ("NIFTY", 25000.0, "CE", 65)
    assert (ce.expiry, ce.tick_size, ce.expiry_flag) == (date(2026, 11, 24), 0.05, "M")
    fut = items[("NSE_FNO", 35002)]
    assert (fut.underlying, fut.strike, fut.option_type, fut.tick_size) == ("NIFTY", None, None, 0.10)
    assert fut.is_future and not fut.is_option
    gold = items[("MCX_COMM", 444001)]
    # MCX expires at 23:30 IST: the date stays the listed day.
    assert (gold.underlying, gold.expiry, gold.tick_size) == ("GOLD", date(2026, 12, 4), 1.0)
    usd = items[("NSE_CURRENCY", 8001)]
    assert (usd.underlying, usd.strike, usd.option_type, usd.tick_size) == ("USDINR", 88.5, "PE", 0.0025)
    assert items[("NSE_FNO", 35003)].underlying == "BAJAJ-AUTO"


@pytest.mark.parametrize(
    ("exch", "seg", "segment"),
    [
        ("NSE", "I", "IDX_I"),
        ("BSE", "I", "IDX_I"),
        ("NSE", "E", "NSE_EQ"),
        ("NSE", "D", "NSE_FNO"),
        ("BSE", "E", "BSE_EQ"),
        ("BSE", "D", "BSE_FNO"),
        ("MCX", "M", "MCX_COMM"),
        ("NSE", "C", "NSE_CURRENCY"),
    ],
)
def test_segment_mapping(exch: str, seg: str, segment: str) -> None:
    assert SEGMENT_MAP[(exch, seg)] == segment
    [info] = parse_scrip_master(_csv(f"{exch},{seg},7,EQUITY,0,X,1,X,,,,5,NA,ES,EQ,X"))
    assert info.segment == segment


def test_unmapped_segment_is_skipped_and_counted() -> None:
    report = parse_scrip_master_report(_csv("NCDEX,M,7,FUTCOM,0,X,1,X,,,,5,NA,FUT,,", RELIANCE))
    assert (report.unmapped_rows, report.bad_rows, len(report.instruments)) == (1, 0, 1)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-24 14:30:00", date(2026, 11, 24)),
        ("2026-12-04 23:30:00", date(2026, 12, 4)),
        ("2026-11-24", date(2026, 11, 24)),
        ("0001-01-01", None),
        ("0001-01-01 00:00:00", None),
        ("", None),
    ],
)
def test_expiry_parsing(raw: str, expected: date | None) -> None:
    row = f"NSE,D,9,FUTIDX,1,NIFTY-Nov2026-FUT,65,NIFTY NOV FUT,{raw},-0.01,XX,10,M,FUT,NA,"
    [info] = parse_scrip_master(_csv(row))
    assert info.expiry == expected


def test_leading_index_column_bom_blank_lines_and_crlf() -> None:
    text = "\ufeff," + COMPACT_HEADER + "\r\n\r\n0," + RELIANCE + "\r\n\r\n1," + NIFTY_CE + "\r\n\r\n"
    report = parse_scrip_master_report(text)
    assert (report.bad_rows, report.rows) == (0, 2)
    assert [i.key for i in report.instruments] == [("NSE_EQ", 2885), ("NSE_FNO", 35001)]
    assert report.instruments[0].tick_size == 0.10


def test_bad_rows_are_counted_never_raised() -> None:
    bad = [
        "NSE,E,abc,EQUITY,0,BAD1,1,Bad,,,,5,NA,ES,EQ,BAD",  # security id not a number
        "NSE,E,77",  # short row
        # option without a strike
        "NSE,D,78,OPTIDX,1,NIFTY-Nov2026-X-CE,65,X,2026-11-24 14:30:00,,CE,5,M,OP,NA,",
        "NSE,D,79,FUTIDX,1,NIFTY-Nov2026-FUT,65,X,24/11/2026,-0.01,XX,5,M,FUT,NA,",  # bad expiry
        "NSE,E,80,EQUITY,0,BAD2,1,Bad,,,,-5,NA,ES,EQ,BAD",  # negative tick
        "NSE,E,81,EQUITY,0,BAD3,x,Bad,,,,5,NA,ES,EQ,BAD",  # lot not a number
        "NSE,E,0,EQUITY,0,BAD4,1,Bad,,,,5,NA,ES,EQ,BAD",  # id 0
    ]
    report = parse_scrip_master_report(_csv(RELIANCE, *bad, HDFCBANK))
    assert report.bad_rows == len(bad)
    assert [i.trading_symbol for i in report.instruments] == ["RELIANCE", "HDFCBANK"]
    assert report.bad_examples[0].startswith("line 3:")
    assert len(report.bad_examples) == 5


def test_not_a_scrip_master_is_one_line_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        parse_scrip_master("SYMBOL,OPEN,HIGH\nNIFTY,1,2\n")
    assert "not a Dhan scrip master" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="empty"):
        parse_scrip_master("\n\n")


DETAILED_HEADER = (
    "EXCH_ID,SEGMENT,SECURITY_ID,ISIN,INSTRUMENT,UNDERLYING_SECURITY_ID,UNDERLYING_SYMBOL,SYMBOL_NAME,"
    "DISPLAY_NAME,INSTRUMENT_TYPE,SERIES,LOT_SIZE,SM_EXPIRY_DATE,STRIKE_PRICE,OPTION_TYPE,TICK_SIZE,EXPIRY_FLAG,"
    "BRACKET_FLAG,COVER_FLAG"
)


def test_detailed_layout() -> None:
    rows = [
        "NSE,E,2885,INE002A01018,EQUITY,2885,RELIANCE,RELIANCE INDUSTRIES LTD,"
        "Reliance Industries,ES,EQ,1.0,,,,"
        "10.0000,NA,N,N",
        "NSE,I,13,NA,INDEX,13,NIFTY,NIFTY,Nifty 50,INDEX,X,1.0,0001-01-01,,XX,0.0500,NA,N,N",
        "NSE,D,35001,NA,OPTIDX,13,NIFTY,NIFTY-Nov2026-25000-CE,NIFTY 24 NOV 25000 CALL,OP,NA,65.0,"
        "2026-11-24 14:30:00,25000.00000,CE,5.0000,M,N,N",
        "MCX,M,444001,NA,FUTCOM,234230,GOLD,GOLD-Dec2026-FUT,GOLD DEC FUT,FUT,NA,1.0,2026-12-04 23:30:00,"
        "-0.01000,XX,100.0000,M,N,N",
    ]
    report = parse_scrip_master_report(_csv(*rows, header=DETAILED_HEADER))
    assert (report.layout, report.bad_rows) == ("detailed", 0)
    items = _by_key(report.instruments)
    rel = items[("NSE_EQ", 2885)]
    assert (rel.trading_symbol, rel.symbol_name, rel.tick_size, rel.lot_size) == (
        "RELIANCE",
        "RELIANCE INDUSTRIES LTD",
        0.10,
        1,
    )
    assert rel.custom_symbol == "Reliance Industries"
    idx = items[("IDX_I", 13)]
    assert (idx.trading_symbol, idx.tick_size, idx.expiry) == ("NIFTY", 0.05, None)
    ce = items[("NSE_FNO", 35001)]
    assert (ce.trading_symbol, ce.underlying, ce.strike, ce.option_type, ce.lot_size, ce.tick_size) == (
        "NIFTY-Nov2026-25000-CE",
        "NIFTY",
        25000.0,
        "CE",
        65,
        0.05,
    )
    gold = items[("MCX_COMM", 444001)]
    assert (gold.underlying, gold.expiry, gold.strike, gold.tick_size) == (
        "GOLD",
        date(2026, 12, 4),
        None,
        1.0,
    )


@pytest.mark.parametrize(
    ("symbol", "underlying"),
    [
        ("NIFTY-Nov2026-25000-CE", "NIFTY"),
        ("BANKNIFTY-Dec2026-FUT", "BANKNIFTY"),
        ("BAJAJ-AUTO-Dec2026-FUT", "BAJAJ-AUTO"),
        ("M&M-Nov2026-3000-PE", "M&M"),
        ("GOLD-Dec2026-FUT", "GOLD"),
        ("USDINR-Nov2026-88.5-CE", "USDINR"),
        ("RELIANCE", "RELIANCE"),
    ],
)
def test_underlying_from_symbol(symbol: str, underlying: str) -> None:
    assert underlying_from_symbol(symbol) == underlying


# --- loading ---


async def test_fetch_local_file(tmp_path: Path) -> None:
    path = tmp_path / "master.csv"
    path.write_bytes(("\ufeff" + _csv(RELIANCE)).encode("utf-8"))
    text = await fetch_scrip_master(str(path))
    assert [i.trading_symbol for i in parse_scrip_master(text)] == ["RELIANCE"]
    assert await fetch_scrip_master(f"file://{path}") == text
    with pytest.raises(ConfigError, match="not found"):
        await fetch_scrip_master(str(tmp_path / "missing.csv"))


async def test_fetch_over_http() -> None:
    body = _csv(RELIANCE, NIFTY_IDX).encode("utf-8")

    async def master(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/csv")

    app = web.Application()
    app.router.add_get("/api-scrip-master.csv", master)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        text = await fetch_scrip_master(f"http://127.0.0.1:{port}/api-scrip-master.csv", timeout_s=10)
        assert len(parse_scrip_master(text)) == 2
        with pytest.raises(DhanError, match="HTTP 404") as err:
            await fetch_scrip_master(f"http://127.0.0.1:{port}/nothing.csv", timeout_s=10)
        assert "\n" not in str(err.value)
    finally:
        await runner.cleanup()


async def test_fetch_unreachable_is_one_line() -> None:
    port = free_port()  # nothing listens here
    with pytest.raises(DhanError, match="unreachable") as err:
        await fetch_scrip_master(f"http://127.0.0.1:{port}/api-scrip-master.csv", timeout_s=5)
    assert "\n" not in str(err.value)
