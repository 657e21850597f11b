"""Dhan's two scrip-master CSVs, as the simulator serves them: real index and equity rows plus generated
derivatives listed at a given time.

Layouts and value formats follow Dhan's published files: the compact file's 16 ``SEM_*`` columns (its real
index and equity rows are served verbatim), and the detailed file's 32 columns with a trailing comma on
every line. On derivative rows the lot reads ``65.0``, the strike ``25000.00000`` (``-0.01000`` on index
futures, ``0.00000`` on MCX futures, as in Dhan's rows) and the tick in paise ``5.0000`` (index rows keep
rupees, ``0.05``). Expiry is ``YYYY-MM-DD 14:30:00`` on NSE rows and ``23:30:00`` on MCX rows in the compact
file, the bare date in the detailed one. Lines end with CRLF like the published files. ISINs are not in the
packaged data, so the detailed file says ``NA``; price bands are ``0.0000``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from feed.sim.contracts import Contract, is_listed
from feed.sim.reference import COMPACT_HEADER, Reference

__all__ = [
    "COMPACT_HEADER", "DETAILED_HEADER", "compact_rows", "detailed_rows", "render_compact", "render_detailed",
]

DETAILED_HEADER: tuple[str, ...] = (
    "EXCH_ID", "SEGMENT", "SECURITY_ID", "ISIN", "INSTRUMENT", "UNDERLYING_SECURITY_ID", "UNDERLYING_SYMBOL",
    "SYMBOL_NAME", "DISPLAY_NAME", "INSTRUMENT_TYPE", "SERIES", "LOT_SIZE", "SM_EXPIRY_DATE", "STRIKE_PRICE",
    "OPTION_TYPE", "TICK_SIZE", "EXPIRY_FLAG", "BRACKET_FLAG", "COVER_FLAG", "ASM_GSM_FLAG",
    "ASM_GSM_CATEGORY",
    "BUY_SELL_INDICATOR", "BUY_CO_MIN_MARGIN_PER", "BUY_CO_SL_RANGE_MAX_PERC", "BUY_CO_SL_RANGE_MIN_PERC",
    "BUY_BO_MIN_MARGIN_PER", "BUY_BO_PROFIT_RANGE_MAX_PERC", "BUY_BO_PROFIT_RANGE_MIN_PERC", "MTF_LEVERAGE",
    "SM_UPPER_LIMIT", "SM_LOWER_LIMIT", "SM_FREEZE_QTY",
)
# BRACKET_FLAG .. MTF_LEVERAGE as on Dhan's index and derivative rows.
_FLAGS = ("N", "N", "N", "NA", "A", "0", "0", "0", "0", "0", "0", "0")
_NO_BANDS = ("0.0000", "0.0000")
_MCX_FREEZE_QTY = 100


def _listed(contracts: Iterable[Contract], at_utc_epoch: float) -> list[Contract]:
    return [c for c in contracts if is_listed(c.expiry, c.close_time, at_utc_epoch)]


def _tick_paise(tick_rupees: float) -> str:
    return f"{tick_rupees * 100:.4f}"


def _strike(c: Contract) -> str:
    if c.strike is not None:
        return f"{c.strike:.5f}"
    return "0.00000" if c.underlying.exch == "MCX" else "-0.01000"


def _compact_contract(c: Contract) -> list[str]:
    u = c.underlying
    mcx = u.exch == "MCX"
    return [
        u.exch, "M" if mcx else "D", str(c.security_id), c.instrument, "0", c.trading_symbol,
        f"{u.lot_size:.1f}",
        c.custom_symbol, f"{c.expiry.isoformat()} {'23:30' if mcx else '14:30'}:00", _strike(c),
        c.option_type or "XX", _tick_paise(c.tick_size), c.expiry_flag,
        "FUTCOM" if mcx else ("OP" if c.is_option else "FUT"), "2" if mcx else "", u.name if mcx else "",
    ]


def compact_rows(reference: Reference, contracts: Sequence[Contract], at_utc_epoch: float) -> list[list[str]]:
    """Rows (without the header) of the compact master listed at ``at_utc_epoch``."""
    rows = [list(r) for r in reference.index_rows]
    rows += [list(r) for r in reference.equity_rows]
    rows += [_compact_contract(c) for c in _listed(contracts, at_utc_epoch)]
    return rows


def _detailed_reference(row: Sequence[str]) -> list[str]:
    exch, seg, sid, inst, symbol, lot, custom = row[0], row[1], row[2], row[3], row[5], row[6], row[7]
    tick, series, name = row[11], row[14], row[15]
    if seg == "I":
        return [exch, seg, sid, "NA", inst, sid, symbol, name or symbol, custom, "INDEX", "NA",
                f"{float(lot or 1):.1f}", "0001-01-01", "", "XX", f"{float(tick or 0):.4f}", "N",
                *_FLAGS, *_NO_BANDS, "0"]
    return [exch, seg, sid, "NA", inst, "", symbol, name, custom, row[13] or "ES", series,
            f"{float(lot or 1):.1f}", "", "", "", f"{float(tick or 0):.4f}", row[12] or "NA",
            *_FLAGS, *_NO_BANDS, "0"]


def _detailed_contract(c: Contract) -> list[str]:
    u = c.underlying
    mcx = u.exch == "MCX"
    return [
        u.exch, "M" if mcx else "D", str(c.security_id), "NA", c.instrument, str(u.underlying_security_id),
        u.name, u.name if mcx else c.trading_symbol, c.custom_symbol,
        "FUTCOM" if mcx else ("OP" if c.is_option else "FUT"), "2" if mcx else "NA", f"{u.lot_size:.1f}",
        c.expiry.isoformat(), _strike(c), c.option_type or "XX", _tick_paise(c.tick_size), c.expiry_flag,
        *_FLAGS, *_NO_BANDS, str(_MCX_FREEZE_QTY if mcx else u.freeze_qty),
    ]


def detailed_rows(
    reference: Reference, contracts: Sequence[Contract], at_utc_epoch: float
) -> list[list[str]]:
    """Rows (without the header and the trailing empty column) of the detailed master."""
    rows = [_detailed_reference(r) for r in reference.index_rows]
    rows += [_detailed_reference(r) for r in reference.equity_rows]
    rows += [_detailed_contract(c) for c in _listed(contracts, at_utc_epoch)]
    return rows


def _write(header: Sequence[str], rows: Iterable[Sequence[str]], trailing_comma: bool) -> str:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    tail = [""] if trailing_comma else []
    writer.writerow([*header, *tail])
    for row in rows:
        writer.writerow([*row, *tail])
    return buf.getvalue()


def render_compact(reference: Reference, contracts: Sequence[Contract], at_utc_epoch: float) -> str:
    """``api-scrip-master.csv`` as listed at ``at_utc_epoch`` (CSV text, CRLF line ends)."""
    return _write(COMPACT_HEADER, compact_rows(reference, contracts, at_utc_epoch), trailing_comma=False)


def render_detailed(reference: Reference, contracts: Sequence[Contract], at_utc_epoch: float) -> str:
    """``api-scrip-master-detailed.csv`` as listed at ``at_utc_epoch`` (trailing comma on every line)."""
    return _write(DETAILED_HEADER, detailed_rows(reference, contracts, at_utc_epoch), trailing_comma=True)
