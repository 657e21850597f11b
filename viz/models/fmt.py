"""Number formats for Indian markets: prices at the tick's decimals, quantities grouped in lakhs and crores.

Unknown values (None) and values no number format can show (NaN, infinities) read "-", never "nan"."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

__all__ = ["compact", "display_decimals", "ist_time", "pct", "price", "qty", "signed"]


def display_decimals(tick_size: float) -> int:
    """Decimals to show prices of an instrument: its tick's, at least two (quotes read 2,274.50, not 2,274.5)."""
    text = f"{tick_size:.6f}".rstrip("0")
    return max(2, len(text.split(".")[1]) if "." in text else 0)


def price(value: float | None, decimals: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:,.{decimals}f}"


def qty(value: float | None) -> str:
    """Indian grouping: 12,34,56,789."""
    if value is None or not math.isfinite(value):
        return "-"
    n = round(value)
    sign, digits = ("-" if n < 0 else ""), str(abs(n))
    if len(digits) <= 3:
        return sign + digits
    head, tail = digits[:-3], digits[-3:]
    groups: list[str] = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    return sign + ",".join([*groups, tail])


def compact(value: float | None) -> str:
    """12.3K, 4.56L (lakh), 1.23Cr (crore)."""
    if value is None or not math.isfinite(value):
        return "-"
    v = abs(value)
    sign = "-" if value < 0 else ""
    if v >= 1e7:
        return f"{sign}{v / 1e7:.2f}Cr"
    if v >= 1e5:
        return f"{sign}{v / 1e5:.2f}L"
    if v >= 1e3:
        return f"{sign}{v / 1e3:.1f}K"
    return f"{sign}{v:.0f}"


def signed(value: float | None, decimals: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:+,.{decimals}f}"


def pct(value: float | None, decimals: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:+.{decimals}f}%"


def ist_time(exchange_ts: int | None) -> str:
    """Dhan's exchange epoch (IST wall clock counted as UTC) -> ``HH:MM:SS`` IST."""
    if not exchange_ts or type(exchange_ts) is not int or not 0 < exchange_ts <= 0xFFFFFFFF:
        return "-"
    return datetime.fromtimestamp(exchange_ts, UTC).strftime("%H:%M:%S")


def board_cell(column: str, value: Any, decimals: int, *, missing: str = "-") -> str:
    """Text of one quote-board cell (shared by the Qt board and the terminal board)."""
    if column == "symbol":
        return str(value)
    if column in ("ltp", "bid", "ask"):
        return price(value, decimals)
    if column == "change":
        return signed(value, decimals)
    if column == "change_pct":
        return pct(value)
    if column in ("volume", "oi"):
        return qty(value)
    if column == "oi_change":
        return "-" if value is None else ("+" if value > 0 else "") + qty(value)
    if column == "updated":
        return ist_time(value)
    return missing if value is None else str(value)
