"""The real data the simulator starts from, packaged in ``feed/sim/data/`` (read once, kept in memory).

* ``dhan-scrip-master-compact-nse-eq-idx-2026-07.csv``: rows of Dhan's compact scrip master as published in
  July 2026, trimmed to the NSE and BSE index rows and the NIFTY 50 equity rows. The rows are served verbatim;
  derivative rows are generated (see :mod:`feed.sim.contracts`).
* ``nse-nifty50-marketwatch-2025-12-13.csv``: NSE's NIFTY 50 market watch of 13 Dec 2025 (the index line, then
  the 50 constituents): the simulated day starts from each stock's last price.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

__all__ = [
    "COMPACT_HEADER",
    "MARKET_WATCH_FILE",
    "SCRIP_MASTER_FILE",
    "Reference",
    "StockQuote",
    "load_reference",
    "parse_indian_number",
]

SCRIP_MASTER_FILE = "dhan-scrip-master-compact-nse-eq-idx-2026-07.csv"
MARKET_WATCH_FILE = "nse-nifty50-marketwatch-2025-12-13.csv"
COMPACT_HEADER: tuple[str, ...] = (
    "SEM_EXM_EXCH_ID", "SEM_SEGMENT", "SEM_SMST_SECURITY_ID", "SEM_INSTRUMENT_NAME", "SEM_EXPIRY_CODE",
    "SEM_TRADING_SYMBOL", "SEM_LOT_UNITS", "SEM_CUSTOM_SYMBOL", "SEM_EXPIRY_DATE", "SEM_STRIKE_PRICE",
    "SEM_OPTION_TYPE", "SEM_TICK_SIZE", "SEM_EXPIRY_FLAG", "SEM_EXCH_INSTRUMENT_TYPE", "SEM_SERIES",
    "SM_SYMBOL_NAME",
)


@dataclass(frozen=True, slots=True)
class StockQuote:
    """One line of the market watch (rupees and shares)."""

    symbol: str
    open: float
    high: float
    low: float
    prev_close: float
    ltp: float
    volume: int


@dataclass(frozen=True, slots=True)
class Reference:
    """Real rows and prices. ``index_rows`` and ``equity_rows`` are compact-master rows, verbatim."""

    index_rows: tuple[tuple[str, ...], ...]
    equity_rows: tuple[tuple[str, ...], ...]
    nifty: StockQuote
    stocks: dict[str, StockQuote]

    def equity_row(self, symbol: str) -> tuple[str, ...]:
        for row in self.equity_rows:
            if row[5] == symbol:
                return row
        raise KeyError(symbol)


def parse_indian_number(text: str) -> float:
    """``"21,63,44,338"`` -> 21634338.0 (Indian digit grouping); ``"-"`` -> 0.0."""
    text = text.strip().replace(",", "")
    return 0.0 if text in ("", "-") else float(text)


def _read(name: str) -> str:
    return resources.files("feed.sim").joinpath("data", name).read_text(encoding="utf-8-sig")


def _parse_master(text: str) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]]:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if tuple(rows[0]) != COMPACT_HEADER:
        raise ValueError(f"{SCRIP_MASTER_FILE}: unexpected header {rows[0][:4]}...")
    index_rows = tuple(tuple(r) for r in rows[1:] if r and r[1] == "I")
    equity_rows = tuple(tuple(r) for r in rows[1:] if r and r[0] == "NSE" and r[1] == "E")
    return index_rows, equity_rows


def _parse_market_watch(text: str) -> list[StockQuote]:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    head = [h.split("\n")[0].strip().upper() for h in rows[0]]
    wanted = ("SYMBOL", "OPEN", "HIGH", "LOW", "PREV. CLOSE", "LTP", "VOLUME")
    col = {name: head.index(name) for name in wanted}
    out = []
    for r in rows[1:]:
        if not r or not r[0].strip():
            continue
        out.append(
            StockQuote(
                symbol=r[col["SYMBOL"]].strip(),
                open=parse_indian_number(r[col["OPEN"]]),
                high=parse_indian_number(r[col["HIGH"]]),
                low=parse_indian_number(r[col["LOW"]]),
                prev_close=parse_indian_number(r[col["PREV. CLOSE"]]),
                ltp=parse_indian_number(r[col["LTP"]]),
                volume=int(parse_indian_number(r[col["VOLUME"]])),
            )
        )
    return out


@lru_cache(maxsize=1)
def load_reference() -> Reference:
    """The packaged real data (parsed once per process)."""
    index_rows, equity_rows = _parse_master(_read(SCRIP_MASTER_FILE))
    watch = _parse_market_watch(_read(MARKET_WATCH_FILE))
    nifty = next(q for q in watch if q.symbol == "NIFTY 50")
    stocks = {q.symbol: q for q in watch if q.symbol != "NIFTY 50"}
    listed = {row[5] for row in equity_rows if row[14] == "EQ"}
    missing = sorted(set(stocks) - listed)
    if missing:
        raise ValueError(f"market-watch symbols missing from the scrip master: {missing}")
    # Keep only the EQ-series row of each NIFTY 50 symbol, in market-watch order.
    by_symbol = {row[5]: row for row in equity_rows if row[14] == "EQ"}
    return Reference(
        index_rows=index_rows,
        equity_rows=tuple(by_symbol[s] for s in stocks),
        nifty=nifty,
        stocks=stocks,
    )
