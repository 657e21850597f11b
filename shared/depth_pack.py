"""Packed order books: one depth snapshot (20 or 200 levels a side) as a few hundred bytes, pure.

``dhan_depth20`` and ``dhan_depth20_history`` store a whole book in one ``BLOB`` column instead of 120 (or
1,200) typed columns or 40 rows. The format is exact: prices are kept as integer ten-thousandths of a rupee
(currency ticks are 0.0025, so four decimals are exact, as in the DECIMAL(18,4) columns) and quantities as
integers. Format version 1, every integer an unsigned LEB128 varint (7 bits a byte, low bits first);
"signed" ones are zigzag-coded first (0, -1, 1, -2 ... -> 0, 1, 2, 3 ...)::

    version      1 byte, = 1
    n_bids       varint
    n_asks       varint
    price_unit   varint  >= 1: greatest common divisor of every price in ten-thousandths (500 for 0.05 ticks)
    qty_unit     varint  >= 1: greatest common divisor of every quantity (the lot size, usually)
    prices       n_bids + n_asks signed varints, bids best first then asks best first, in price_unit: the
                 first absolute, each next one the difference from the one before (-1 per tick down the bids,
                 the spread plus the bid ladder's depth at the turn, +1 per tick up the asks)
    quantities   n_bids + n_asks varints, in qty_unit
    orders       n_bids + n_asks varints

A 20-level book of 0.05-tick prices and lot-multiple quantities packs to about 4-5 bytes a level (the
price is one byte, the quantity one or two, the orders one), against 16 for float64 price + uint32 + uint32.
:func:`pack` raises ``ValueError`` for a price, quantity or order count it cannot hold (see the limits);
:func:`unpack` raises ``ValueError`` for bytes that are not a version-1 book.
"""

from __future__ import annotations

from collections.abc import Callable
from math import gcd
from typing import Any

__all__ = ["FORMAT_VERSION", "NATIVE", "PRICE_MAX", "QTY_MAX", "Level", "pack", "pack_px4", "pack_py", "unpack",
           "unpack_px4"]

FORMAT_VERSION = 1
PRICE_MAX = 1e9  # |price| below this (rupees); prices in ten-thousandths then fit 2^44
QTY_MAX = 0xFFFFFFFF  # quantities and order counts are Dhan's uint32
_LEVELS_MAX = 1000  # a side; Dhan sends 20 or 200

Level = tuple[float, int, int]  # price, quantity, orders

_native_pack: Callable[[Any, Any], bytes | None] | None
try:  # optional: absent where the package was installed without a C compiler
    from shared import _depthpack

    _native_pack = _depthpack.pack
except ImportError:  # pragma: no cover - depends on the build
    _native_pack = None
NATIVE = _native_pack is not None


def _put(out: bytearray, value: int) -> None:
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _zig(value: int) -> int:
    return value * 2 if value >= 0 else -value * 2 - 1


def _unzig(value: int) -> int:
    return value >> 1 if not value & 1 else -((value + 1) >> 1)


def pack_px4(bids: list[tuple[int, int, int]], asks: list[tuple[int, int, int]]) -> bytes:
    """Pack levels whose prices are already integer ten-thousandths (the exact form)."""
    levels = [*bids, *asks]
    price_unit = gcd(*(p for p, _, _ in levels)) or 1
    qty_unit = gcd(*(q for _, q, _ in levels)) or 1
    out = bytearray((FORMAT_VERSION,))
    for value in (len(bids), len(asks), price_unit, qty_unit):
        _put(out, value)
    prev = 0
    for p, _, _ in levels:
        unit = p // price_unit
        _put(out, _zig(unit - prev))
        prev = unit
    for _, q, _ in levels:
        _put(out, q // qty_unit)
    for _, _, n in levels:
        _put(out, n)
    return bytes(out)


def _px4(level: Any, side: str) -> tuple[int, int, int]:
    if type(level) not in (list, tuple) or len(level) != 3:
        raise ValueError(f"a {side} level must be [price, qty, orders]")
    price: Any
    qty: Any
    orders: Any
    price, qty, orders = level
    if type(price) not in (int, float) or not -PRICE_MAX < price < PRICE_MAX:
        raise ValueError(f"bad {side} price {price!r:.40}")
    if type(qty) is not int or not 0 <= qty <= QTY_MAX:
        raise ValueError(f"bad {side} quantity {qty!r:.40}")
    if type(orders) is not int or not 0 <= orders <= QTY_MAX:
        raise ValueError(f"bad {side} orders {orders!r:.40}")
    return round(price * 10000), qty, orders


def pack(bids: list[Level], asks: list[Level]) -> bytes:
    """Pack a book (prices in rupees, each side best first); ``ValueError`` for a value it cannot hold.

    The native form (``shared._depthpack``, built with the package where a C compiler is) packs a plain book
    to the same bytes; anything else, and every error, is this module's own code."""
    if _native_pack is not None:
        blob = _native_pack(bids, asks)
        if blob is not None:
            return blob
    return pack_py(bids, asks)


def pack_py(bids: list[Level], asks: list[Level]) -> bytes:
    """:func:`pack` in Python only: the reference the native form is tested against."""
    if len(bids) > _LEVELS_MAX or len(asks) > _LEVELS_MAX:
        raise ValueError(f"a side has more than {_LEVELS_MAX} levels")
    return pack_px4([_px4(lv, "bid") for lv in bids], [_px4(lv, "ask") for lv in asks])


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def varint(self) -> int:
        data, pos, shift, value = self.data, self.pos, 0, 0
        while True:
            if pos >= len(data):
                raise ValueError("packed book is truncated")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                self.pos = pos
                return value
            shift += 7
            if shift > 63:
                raise ValueError("packed book has an over-long varint")


def unpack_px4(data: bytes) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """Bids and asks with prices in integer ten-thousandths."""
    if not data or data[0] != FORMAT_VERSION:
        raise ValueError(f"packed book has version {data[0] if data else None}, expected {FORMAT_VERSION}")
    r = _Reader(data)
    r.pos = 1
    n_bids, n_asks, price_unit, qty_unit = r.varint(), r.varint(), r.varint(), r.varint()
    n = n_bids + n_asks
    if n > 2 * _LEVELS_MAX or price_unit < 1 or qty_unit < 1:
        raise ValueError("packed book header is out of range")
    prices, prev = [], 0
    for _ in range(n):
        prev += _unzig(r.varint())
        prices.append(prev * price_unit)
    qtys = [r.varint() * qty_unit for _ in range(n)]
    orders = [r.varint() for _ in range(n)]
    if r.pos != len(data):
        raise ValueError(f"packed book has {len(data) - r.pos} trailing bytes")
    levels = list(zip(prices, qtys, orders, strict=True))
    return levels[:n_bids], levels[n_bids:]


def unpack(data: bytes) -> tuple[list[Level], list[Level]]:
    """Bids and asks, best first, prices in rupees (the nearest float to the exact four-decimal price)."""
    bids, asks = unpack_px4(data)
    return [(p / 10000, q, n) for p, q, n in bids], [(p / 10000, q, n) for p, q, n in asks]
