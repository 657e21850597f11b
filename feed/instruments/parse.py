"""Dhan's scrip master (instrument list): parse the compact or the detailed CSV into :class:`InstrumentInfo`.

Pure parsing plus one small loader (:func:`fetch_scrip_master`). Facts of the format (see dhan-protocol.md,
"Scrip master"):

- Columns are found by name, so column order, a leading empty index column (pandas dumps) and extra columns
  do not matter. The layout (compact ``SEM_*`` names or detailed names) is detected from the header.
- ``SEM_TICK_SIZE`` is in paise on tradable rows (``5`` is Rs 0.05, ``10`` is Rs 0.10) but in rupees on index
  rows (``0.05``); :attr:`InstrumentInfo.tick_size` is always rupees. The detailed file is read with the same
  rule, as its ``TICK_SIZE`` carries the same values.
- Expiry dates read ``YYYY-MM-DD HH:MM:SS`` (NSE 14:30, MCX 23:30); empty or ``0001-01-01`` means none.
- ``SEM_STRIKE_PRICE`` is ``-0.01`` or empty when the row is not an option; the option type ``XX`` means none.
- Derivative rows often have an empty symbol name: the underlying comes from the trading symbol
  (``NIFTY-Nov2026-25000-CE`` -> ``NIFTY``, ``BAJAJ-AUTO-Dec2026-FUT`` -> ``BAJAJ-AUTO``).

A row that cannot be read is skipped and counted (:class:`ScripMasterReport`), never raised: a field past the
csv module's limit, a number that overflows (``inf`` lots, a ``1.0e400`` id) or that no feed packet or
``dhan_instruments`` column can hold. A header that is not a scrip master at all is a one-line
:class:`~shared.errors.ConfigError`. :func:`fetch_scrip_master` (:mod:`feed.instruments.fetch`, re-exported
here) reads at most ``max_bytes`` (download or file) within ``timeout_s``.

One row is read by :class:`~feed.instruments.rows.RowParser` into an :class:`~feed.instruments.info.InstrumentInfo`
(re-exported here with the row rules' constants); this module walks the CSV and counts.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

from feed.instruments.fetch import SCRIP_MASTER_MAX_BYTES, fetch_scrip_master
from feed.instruments.info import InstrumentInfo
from feed.instruments.rows import MAX_TICK_RS, MIN_TICK_RS, SEGMENT_MAP, RowParser, column_index, underlying_from_symbol
from shared.errors import ConfigError

__all__ = [
    "MAX_TICK_RS",
    "MIN_TICK_RS",
    "SCRIP_MASTER_MAX_BYTES",
    "SEGMENT_MAP",
    "InstrumentInfo",
    "ScripMasterReport",
    "fetch_scrip_master",
    "parse_scrip_master",
    "parse_scrip_master_report",
    "underlying_from_symbol",
]


@dataclass(slots=True)
class ScripMasterReport:
    """What a parse produced: the instruments, the layout, and the rows it skipped (with the first few)."""

    layout: str
    instruments: list[InstrumentInfo] = field(default_factory=list)
    rows: int = 0
    bad_rows: int = 0
    unmapped_rows: int = 0  # well-formed rows of an (exchange, segment) the feed has no segment for
    defaulted_ticks: int = 0  # rows whose tick read 0 or empty: given Rs 0.01
    bad_examples: list[str] = field(default_factory=list)  # "line N: reason", at most a few

    def _bad(self, line: int, reason: str) -> None:
        self.bad_rows += 1
        if len(self.bad_examples) < 5:
            self.bad_examples.append(f"line {line}: {reason[:200]}")


def _csv_rows(text: str) -> Iterator[list[str]]:
    if text.startswith("\ufeff"):
        text = text[1:]
    return csv.reader(io.StringIO(text))


def _numbered_rows(text: str) -> Iterator[tuple[int, list[str] | csv.Error]]:
    """(record number, fields) per CSV record, blank ones included; a record the csv module refuses (a field
    past its 128 KiB limit) comes as its error, and reading goes on with the next line."""
    reader = _csv_rows(text)
    line = 0
    while True:
        line += 1
        try:
            yield line, next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield line, exc


def parse_scrip_master_report(text: str) -> ScripMasterReport:
    """Parse a compact or detailed scrip master; bad rows are counted in the report, never raised."""
    rows = _numbered_rows(text)
    header = next((row for _, row in rows if isinstance(row, list) and any(row)), None)
    if header is None:
        raise ConfigError("not a Dhan scrip master: the file is empty")
    layout, cols = column_index(header)
    parser = RowParser(layout, cols)
    parse = parser.parse
    report = ScripMasterReport(layout=layout)
    out = report.instruments
    append = out.append
    unmapped = 0
    for line, row in rows:
        if isinstance(row, csv.Error):
            report._bad(line, str(row))
            continue
        if not row:  # blank line
            continue
        try:
            info = parse(row)
        except (ValueError, IndexError, OverflowError) as exc:
            if any(row):
                report._bad(line, str(exc))
            continue
        if info is None:
            unmapped += 1
        else:
            append(info)
    report.unmapped_rows = unmapped
    report.rows = len(out) + unmapped + report.bad_rows
    report.defaulted_ticks = parser.defaulted_ticks
    return report


def parse_scrip_master(text: str) -> list[InstrumentInfo]:
    """The instruments of a scrip master (:func:`parse_scrip_master_report` also counts skipped rows)."""
    return parse_scrip_master_report(text).instruments
