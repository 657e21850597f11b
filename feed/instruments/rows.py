"""How one row of Dhan's scrip master reads: the layout's columns (compact ``SEM_*`` or detailed names, found
by name in the header) and :class:`RowParser`, row -> :class:`~feed.instruments.info.InstrumentInfo`.

The facts of the format are listed in :mod:`feed.instruments.parse`. A row that cannot be read raises
ValueError (the caller counts it); a row of an (exchange, segment) the feed does not carry reads as None.
"""

from __future__ import annotations

import math
import operator
import re
from datetime import date

from feed.instruments.info import InstrumentInfo
from shared.errors import ConfigError

__all__ = ["MAX_TICK_RS", "MIN_TICK_RS", "SEGMENT_MAP", "RowParser", "column_index", "underlying_from_symbol"]

# (exchange id, segment code) -> feed segment name (dhan-protocol.md; BSE currency is in the feed's enum too).
SEGMENT_MAP: dict[tuple[str, str], str] = {
    ("NSE", "I"): "IDX_I",
    ("BSE", "I"): "IDX_I",
    ("NSE", "E"): "NSE_EQ",
    ("NSE", "D"): "NSE_FNO",
    ("BSE", "E"): "BSE_EQ",
    ("BSE", "D"): "BSE_FNO",
    ("MCX", "M"): "MCX_COMM",
    ("NSE", "C"): "NSE_CURRENCY",
    ("BSE", "C"): "BSE_CURRENCY",
}

_DERIVATIVES = frozenset({"FUTIDX", "OPTIDX", "FUTSTK", "OPTSTK", "FUTCOM", "OPTFUT", "FUTCUR", "OPTCUR"})
# Contract month in a trading symbol: Nov2026 (Dhan), also tolerates 26NOV / NOV26 styles of other dumps.
_MONTH_PART = re.compile(r"^(?P<u>.+?)-(?:[A-Za-z]{3}\d{2,4}|\d{1,2}[A-Za-z]{3}\d{0,4})(?:-|$)")

# Logical field -> column name, per layout. The first four of each are required to recognise the layout.
_COMPACT = {
    "exch_id": "SEM_EXM_EXCH_ID",
    "segment_code": "SEM_SEGMENT",
    "security_id": "SEM_SMST_SECURITY_ID",
    "instrument": "SEM_INSTRUMENT_NAME",
    "trading_symbol": "SEM_TRADING_SYMBOL",
    "lot_size": "SEM_LOT_UNITS",
    "custom_symbol": "SEM_CUSTOM_SYMBOL",
    "expiry": "SEM_EXPIRY_DATE",
    "strike": "SEM_STRIKE_PRICE",
    "option_type": "SEM_OPTION_TYPE",
    "tick_size": "SEM_TICK_SIZE",
    "expiry_flag": "SEM_EXPIRY_FLAG",
    "series": "SEM_SERIES",
    "symbol_name": "SM_SYMBOL_NAME",
}
_DETAILED = {
    "exch_id": "EXCH_ID",
    "segment_code": "SEGMENT",
    "security_id": "SECURITY_ID",
    "instrument": "INSTRUMENT",
    "underlying_symbol": "UNDERLYING_SYMBOL",
    "lot_size": "LOT_SIZE",
    "custom_symbol": "DISPLAY_NAME",
    "expiry": "SM_EXPIRY_DATE",
    "strike": "STRIKE_PRICE",
    "option_type": "OPTION_TYPE",
    "tick_size": "TICK_SIZE",
    "expiry_flag": "EXPIRY_FLAG",
    "series": "SERIES",
    "symbol_name": "SYMBOL_NAME",
}
_DEFAULT_TICK = 0.01  # rupees, for rows whose tick reads 0 or empty
# What a row's numbers may be: the feed's packets carry security ids as u32; dhan_instruments stores lot sizes as
# INT UNSIGNED, strikes as DECIMAL(16,4) and ticks as DECIMAL(12,6). Outside these a row is bad, not stored wrong.
_U32_MAX = 2**32 - 1
_STRIKE_MAX = 1e12
MIN_TICK_RS = 1e-6
MAX_TICK_RS = 999_999.0
_REQUIRED = ("exch_id", "segment_code", "security_id", "instrument")


def underlying_from_symbol(trading_symbol: str) -> str:
    """``NIFTY-Nov2026-25000-CE`` -> ``NIFTY``, ``BAJAJ-AUTO-Dec2026-FUT`` -> ``BAJAJ-AUTO``, else as is."""
    # Fast path for Dhan's own forms (<underlying>-Mon2026-FUT, <underlying>-Mon2026-<strike>-CE): a split is
    # several times cheaper than the regex over 200k rows.
    parts = trading_symbol.rsplit("-", 2 if trading_symbol.endswith("-FUT") else 3)
    if len(parts) >= 3 and len(parts[1]) == 7 and parts[1][3:].isdigit() and parts[1][:3].isalpha():
        return parts[0]
    m = _MONTH_PART.match(trading_symbol)
    if m:
        return m.group("u")
    return trading_symbol.split("-", 1)[0] if "-" in trading_symbol else trading_symbol



def column_index(header: list[str]) -> tuple[str, dict[str, int]]:
    names = {name.strip().lstrip("\ufeff").upper(): i for i, name in enumerate(header)}
    for layout, columns in (("compact", _COMPACT), ("detailed", _DETAILED)):
        if all(columns[f] in names for f in _REQUIRED):
            return layout, {f: names[c] for f, c in columns.items() if c in names}
    shown = ",".join(h.strip() for h in header[:4])[:80]
    raise ConfigError(
        f"not a Dhan scrip master: header starts with '{shown}' "
        f"(expected SEM_EXM_EXCH_ID,SEM_SEGMENT,... or EXCH_ID,SEGMENT,...)"
    )


# Order of the fields a row is read into (one itemgetter call per row: faster than a lookup per field).
_FIELDS = (
    "exch_id",
    "segment_code",
    "security_id",
    "instrument",
    "trading_symbol",
    "underlying_symbol",
    "lot_size",
    "custom_symbol",
    "expiry",
    "strike",
    "option_type",
    "tick_size",
    "expiry_flag",
    "series",
    "symbol_name",
)


class RowParser:
    """Row -> InstrumentInfo for one layout; caches the few distinct expiry strings (many rows share one)."""

    def __init__(self, layout: str, cols: dict[str, int]) -> None:
        self.layout = layout
        self.width = max(cols.values()) + 1
        # A column the layout lacks reads the empty cell appended to every row (index -1).
        self._pick = operator.itemgetter(*(cols.get(f, -1) for f in _FIELDS))
        self._expiry_cache: dict[str, date | None] = {}
        self._lots: dict[str, int] = {}
        self._ticks: dict[tuple[str, bool], float] = {}
        self.defaulted_ticks = 0

    def _lot(self, raw: str) -> int:
        value = float(raw) if raw else 1.0
        if not 1 <= value <= _U32_MAX:  # also nan and inf
            raise ValueError(f"bad lot size {raw[:40]!r}")
        lot = self._lots[raw] = int(value)
        return lot

    def _tick(self, raw: str, is_index: bool) -> float:
        """Rupee tick of a row: index rows carry rupees, tradable rows paise."""
        value = float(raw) if raw else 0.0
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"bad tick size {raw[:40]!r}")
        if value == 0:
            # A real row carries 0 (the GIFTNIFTY index, July 2026). Index values are quoted to the paisa,
            # so Rs 0.01 keeps rounding harmless and never divides by zero downstream. Not cached: counted.
            self.defaulted_ticks += 1
            return _DEFAULT_TICK
        tick = value if is_index else round(value / 100.0, 8)
        if not MIN_TICK_RS <= tick <= MAX_TICK_RS:
            raise ValueError(f"bad tick size {raw[:40]!r}")
        self._ticks[(raw, is_index)] = tick
        return tick

    @staticmethod
    def _security_id(raw: str) -> int:
        value = float(raw) if "." in raw else int(raw)  # "13.0" in some dumps
        if not 1 <= value <= _U32_MAX:  # also nan and inf ("1.0e400")
            raise ValueError(f"bad security id {raw[:40]!r}")
        return int(value)

    def expiry(self, raw: str) -> date | None:
        try:
            return self._expiry_cache[raw]
        except KeyError:
            pass
        value: date | None
        head = raw[:10]
        if not head or head.startswith("0001-01-01"):
            value = None
        else:
            try:
                value = date.fromisoformat(head)
            except ValueError:
                raise ValueError(f"bad expiry {raw!r}") from None
            if value.year < 1900:  # other placeholder dates
                value = None
        self._expiry_cache[raw] = value
        return value

    def parse(self, row: list[str]) -> InstrumentInfo | None:
        """None when the (exchange, segment) is not one the feed carries; ValueError when the row is bad."""
        if len(row) < self.width:
            raise ValueError(f"{len(row)} columns, expected {self.width}")
        row.append("")
        (exch_id, segment_code, sid_raw, instrument, trading_symbol, under, lot_raw, custom_symbol, expiry_raw,
         strike_raw, option_type, tick_text, flag, series, symbol_name) = map(str.strip, self._pick(row))
        exch_id = exch_id.upper()
        segment_code = segment_code.upper()
        segment = SEGMENT_MAP.get((exch_id, segment_code))
        if segment is None:
            if not exch_id or not segment_code:
                raise ValueError("empty exchange or segment")
            return None
        security_id = self._security_id(sid_raw)
        instrument = instrument.upper()
        if not instrument:
            raise ValueError("empty instrument")
        trading_symbol, underlying = self._symbols(instrument, trading_symbol, under, symbol_name)
        lot_size = self._lots.get(lot_raw) or self._lot(lot_raw)
        is_index = segment_code == "I" or instrument == "INDEX"
        tick_size = self._ticks.get((tick_text, is_index)) or self._tick(tick_text, is_index)
        option_type = option_type.upper()
        opt: str | None = None
        strike: float | None = None
        if option_type == "CE" or option_type == "PE":
            opt, strike = option_type, _strike(strike_raw)
        return InstrumentInfo(segment, security_id, exch_id, segment_code, instrument, trading_symbol, custom_symbol,
                              underlying, self.expiry(expiry_raw), strike, opt, lot_size, tick_size,
                              flag.upper() or "NA", series, symbol_name)

    def _symbols(self, instrument: str, trading_symbol: str, under: str, symbol_name: str) -> tuple[str, str]:
        """(trading symbol, underlying) of a row; the layouts name them differently."""
        derivative = instrument in _DERIVATIVES
        if self.layout == "compact":
            underlying = underlying_from_symbol(trading_symbol) if derivative else trading_symbol
        elif derivative:
            # Detailed: SYMBOL_NAME is the contract's symbol on derivatives, the company name on equities;
            # UNDERLYING_SYMBOL is the short name (NIFTY, RELIANCE).
            trading_symbol = symbol_name
            underlying = under or underlying_from_symbol(symbol_name)
        else:
            trading_symbol = under or symbol_name
            underlying = trading_symbol
        if not trading_symbol:
            raise ValueError("empty trading symbol")
        return trading_symbol, underlying


def _strike(raw: str) -> float:
    """An option's strike; ValueError unless it is usable."""
    strike = float(raw)
    if not 0 < strike < _STRIKE_MAX:
        raise ValueError(f"option without a usable strike ({raw[:40]!r})")
    return strike
