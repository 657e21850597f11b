"""Values of the feed's lifecycle events, checked against dhan_gaps' columns (pure; see writer/gap_rows.py).

Each check raises ``ValueError`` with a one-line message (the value through :func:`shared.events.show_value`):
a value MySQL refuses would fail its whole batch on every retry, so the gap ledger dead-letters the entry.
"""

from __future__ import annotations

import re
from typing import Any

from shared.events import show_value

__all__ = [
    "CONN_MAX", "EVENT_MAX_BYTES", "SID_MAX", "TS_MAX", "conn_number", "count_of", "instrument", "instruments", "text",
    "timestamp",
]  # fmt: skip

EVENT_MAX_BYTES = 4 << 20  # a feed's start announces its whole universe: 25,000 instruments are ~0.5 MB
TS_MAX = 1e10  # start_ts/end_ts DECIMAL(16,6)
CONN_MAX = 0xFFFF  # SMALLINT UNSIGNED
SID_MAX = 0xFFFFFFFF  # INT UNSIGNED
_INSTRUMENT_KEY_RE = re.compile(r"([A-Z][A-Z0-9_]{0,15}):(\d{1,10})")


def timestamp(event: dict[str, Any], field: str = "ts") -> float:
    """An epoch-seconds field of an event (``ts``, or another such as a dropped range's ``from``)."""
    ts = event.get(field)
    if not isinstance(ts, int | float) or isinstance(ts, bool) or not 0 <= ts < TS_MAX:  # NaN fails it too
        raise ValueError(f"bad {field} {show_value(ts)}")
    return float(ts)


def conn_number(event: dict[str, Any]) -> int:
    conn = event.get("conn")
    if conn is None:
        return 0
    if type(conn) is not int or not 0 <= conn <= CONN_MAX:
        raise ValueError(f"bad conn {show_value(conn)}")
    return conn


def count_of(info: dict[str, Any], field: str) -> int:
    """A non-negative event count (a dropped range's quotes, depth, ticks, greeks)."""
    n = info.get(field) or 0
    if type(n) is not int or not 0 <= n <= SID_MAX:
        raise ValueError(f"bad {field} count {show_value(n)}")
    return n


def text(value: Any) -> str:
    """A text field (cause, reason, Dhan's code): a string, a number, or nothing."""
    if value is None:
        return ""
    if type(value) is str:
        return value
    if type(value) in (int, float, bool):
        return str(value)
    raise ValueError(f"bad text {show_value(value)}")


def instrument(key: Any) -> tuple[str, int]:
    """``"NSE_FNO:35001"`` -> ``("NSE_FNO", 35001)``."""
    match = _INSTRUMENT_KEY_RE.fullmatch(key) if type(key) is str else None
    if match is None or int(match.group(2)) > SID_MAX:
        raise ValueError(f"bad instrument key {show_value(key)}")
    return match.group(1), int(match.group(2))


def instruments(value: Any) -> list[tuple[str, str, int]]:
    """``["NSE_FNO:35001", ...]`` -> ``(key, segment, security id)`` each."""
    if value is None:
        return []
    if type(value) is not list:
        raise ValueError(f"bad instrument list {show_value(value)}")
    return [(key, *instrument(key)) for key in value]
