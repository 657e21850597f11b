"""What the models take from an event or a stored row: a bad value reads as missing, never as a number.

The feed drops packets with bad values (``feed/normalise.py``) and the greeks service checks its inputs, so
these checks should never fire. They are the last line before a screen: a NaN or an infinity would show as
"nan" or break a chart's range, ``int(inf)`` would raise in the middle of a paint, and a 1e18 price would
squash a chart to a line. Each function returns the value in the model's type, or None.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from shared.events import PRICE_MAX

__all__ = ["exchange_ts", "finite", "price", "quantity", "quote_order", "within"]

_QUANTITY_MAX = 1 << 63  # int64: what the tick columns hold
_U32_MAX = 0xFFFFFFFF  # Dhan's exchange times are uint32
_INTEGERS = (int, np.integer)  # event fields are Python numbers, the columns' items numpy ones
_NUMBERS = (int, float, np.integer, np.floating)


def _number(value: Any) -> bool:
    return isinstance(value, _NUMBERS) and not isinstance(value, bool)


def price(value: Any) -> float | None:
    """A price (finite, ``0 <= x < PRICE_MAX``, as shared.events.is_price) as float, else None."""
    return float(value) if _number(value) and 0.0 <= value < PRICE_MAX else None


def quantity(value: Any) -> int | None:
    """A volume, OI or quantity: a non-negative integer that fits an int64, else None."""
    if isinstance(value, _INTEGERS) and not isinstance(value, bool) and 0 <= value < _QUANTITY_MAX:
        return int(value)
    return None


def exchange_ts(value: Any) -> int | None:
    """Dhan's exchange time: a positive integer a uint32 holds, else None (0 is "none" too)."""
    if isinstance(value, _INTEGERS) and not isinstance(value, bool) and 0 < value <= _U32_MAX:
        return int(value)
    return None


def finite(value: Any) -> float | None:
    """A finite number (a receive time) as float, else None."""
    return float(value) if _number(value) and math.isfinite(value) else None


def within(value: Any, lo: float, hi: float) -> float | None:
    """A number in ``[lo, hi]`` (a volatility, a greek) as float, else None."""
    return float(value) if _number(value) and lo <= value <= hi else None


def quote_order(q: Any) -> tuple[float, float, float]:
    """The writer's forward order of a quote (exchange time, day volume, receive time), bad parts as 0."""
    recv = finite(q.get("recv_ts"))
    return (float(exchange_ts(q.get("exchange_ts")) or 0), float(quantity(q.get("volume")) or 0), recv or 0.0)
