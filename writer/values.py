"""Column types of the writer's tables as checks, pure: a value from an event is used only after these.

Each check takes any value (an event is untrusted JSON) and either returns its SQL literal or raises
``TypeError`` (wrong type) or ``ValueError`` (out of the column's range) with a one-line message; the
message shows the value through :func:`show` (:func:`shared.events.show_value`), short and safe on any input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.events import show_value as show

__all__ = [
    "NPRICE", "NU32", "NU64", "NUMBER", "PRICE", "PRICE_MAX", "RECV_TS_MAX", "STRIKE_MAX", "TRADE_PRICE_MAX",
    "TRADE_QTY_MAX", "TS6", "U32", "U32_KIND", "U64", "bad", "dbl", "native_fields", "native_levels", "nprice",
    "nu32", "nu64", "price", "show", "ts6", "u32",
]  # fmt: skip

NUMBER = frozenset({int, float})  # exact types: bool (an int subclass) is not a number here
# Column ranges (shared/schema/001_initial.sql): a value outside is rejected here, with its reason, rather than
# by MySQL, whose refusal costs a bisection of the whole batch.
U32 = 0xFFFFFFFF  # INT UNSIGNED: security ids, exchange_ts, ltq, depth quantities and orders
U64 = 0xFFFFFFFFFFFFFFFF  # BIGINT UNSIGNED: volumes, OI, total buy/sell quantities
PRICE_MAX = 1e14  # DECIMAL(18,4) holds |x| < 10^14
_PRICE_MIN = -PRICE_MAX
STRIKE_MAX = 1e12  # DECIMAL(16,4)
RECV_TS_MAX = 1e11  # DECIMAL(17,6)
# A trade also adds to its day's summary (volume BIGINT UNSIGNED, turnover DECIMAL(28,4)); one hostile trade
# must not be able to bring those sums to their limit, or every later trade of the instrument and day would
# fail with them. qty is a rise of Dhan's uint32 day volume, and nothing trades near 10^9 rupees: within both
# bounds, overflowing a day's turnover takes over 200,000 extreme trades of one instrument.
TRADE_QTY_MAX = U32
TRADE_PRICE_MAX = 1e9


def bad(what: str, value: Any) -> Exception:
    """TypeError for a value of the wrong type, ValueError for a number out of its column's range."""
    cls = ValueError if type(value) in NUMBER else TypeError
    return cls(f"bad {what} {show(value)}")


def u32(x: Any, what: str) -> int:
    if type(x) is int and 0 <= x <= U32:
        return x
    raise bad(what, x)


# The checks below run about twenty times per event on the writer's hot path: the common case is tested
# first, in one function (bench/writer_build.py).
def nu32(x: Any, what: str) -> str:
    """Nullable INT UNSIGNED."""
    if type(x) is int and 0 <= x <= U32:
        return f"{x:d}"
    if x is None:
        return "NULL"
    raise bad(what, x)


def nu64(x: Any, what: str) -> str:
    """Nullable BIGINT UNSIGNED."""
    if type(x) is int and 0 <= x <= U64:
        return f"{x:d}"
    if x is None:
        return "NULL"
    raise bad(what, x)


def price(x: Any, what: str = "price") -> str:
    """Price, four decimals: an int or float DECIMAL(18,4) holds (NaN fails the comparison too)."""
    if type(x) is float and _PRICE_MIN < x < PRICE_MAX:
        return f"{x:.4f}"
    if type(x) is int and _PRICE_MIN < x < PRICE_MAX:
        return f"{x:.4f}"
    raise bad(what, x)


def nprice(x: Any, what: str) -> str:
    """Nullable price."""
    if type(x) is float and _PRICE_MIN < x < PRICE_MAX:
        return f"{x:.4f}"
    if x is None:
        return "NULL"
    if type(x) is int and _PRICE_MIN < x < PRICE_MAX:
        return f"{x:.4f}"
    raise bad(what, x)


def ts6(x: Any) -> str:
    """recv_ts: epoch seconds, six decimals."""
    if type(x) is float and 0 < x < RECV_TS_MAX:
        return f"{x:.6f}"
    if type(x) is int and 0 < x < RECV_TS_MAX:
        return f"{x:.6f}"
    raise bad("recv_ts", x)


def dbl(x: Any, what: str) -> str:
    """DOUBLE (greeks): unknown or non-finite is NULL."""
    if x is None:
        return "NULL"
    if type(x) not in NUMBER:
        raise bad(what, x)
    s = repr(float(x))
    return "NULL" if s[-1] in "nf" else s


# The native form of nu32, nu64, nprice, ts6, price and u32 (writer/_rowfmt.c, built with the package where a
# C compiler is): ``native_fields(ev, ((key, kind), ...))`` is the literals of those fields of ``ev`` joined by
# commas, the same text as the functions above, or None when a value is not plain (the caller then renders in
# Python, which raises the reason); ``native_levels(side, n)`` the same for a depth side of at most n
# [price, qty, orders] levels ("" when empty). Both None when the extension was not built.
NU32, NU64, NPRICE, TS6, PRICE, U32_KIND = 0, 1, 2, 3, 4, 5
native_fields: Callable[[dict[str, Any], tuple[tuple[str, int], ...]], str | None] | None
native_levels: Callable[[Any, int], str | None] | None
try:
    from writer import _rowfmt

    native_fields, native_levels = _rowfmt.fields, _rowfmt.levels
except ImportError:  # pragma: no cover - depends on the build
    native_fields = native_levels = None
