"""Normalised events: what travels through Redis between services. Version 1.

An event is a plain dict encoded with orjson. A stream entry holds one event in one field, ``d`` (measured:
one blob field XADDs ~2.3x faster than one field per attribute, and decodes in one ``orjson.loads``). A channel
message holds a JSON *array* of events (one PUBLISH per batch and stream, not one per event).

Fields (prices are floats rounded to the instrument's tick; ``exchange_ts`` is Dhan's epoch verbatim, see
``shared.clock``; ``recv_ts`` is our receive time, epoch seconds with microseconds):

quote  ``{v, seg, sid, ltp, ltq, exchange_ts, atp, volume, tsq, tbq, oi, oi_high, oi_low, open, close, high,
        low, prev_close, prev_oi, bid, ask, recv_ts, src}`` - the instrument's merged latest state
        (``close`` is what Dhan's quote packet carries: previous day's close). Fields never seen are null.
        ``src`` is the response code (int) of the packet that produced the update (2 ticker, 4 quote,
        5 OI, 6 prev close, 8 full).
tick   ``{v, seg, sid, ltp, qty, ltq, volume, exchange_ts, oi, side, rule, bid, ask, recv_ts}`` - one trade
        per rise of cumulative ``volume``; ``qty`` is the rise; ``side`` is the inferred aggressor, "B" (at/above
        the previous book's ask, or an uptick), "S" (at/below its bid, or a downtick) or "" (unknown); ``rule``
        says how: "q" quote rule (the previous book's best bid/ask), "t" tick rule, "" none (``side`` is "").
        Ticks from before the field existed have no ``rule``: readers treat it as not recorded.
depth  ``{v, seg, sid, exchange_ts, recv_ts, bids: [[price, qty, orders] x5], asks: [...]}``.
depth20 ``{v, seg, sid, levels, seq, recv_ts, bids: [[price, qty, orders] x<=levels], asks: [...]}`` - a 20- or
        200-level book (``levels``) of the depth feeds, best first, empty rows left out; the merge of the
        latest bid and ask side (``feed/fulldepth/books.py``); ``seq`` the 20-level sequence (0 at 200).
greeks ``{v, seg, sid, underlying_seg, underlying_sid, strike, option_type, expiry, price, underlying_price,
        iv, delta, gamma, vega, theta, rho, exchange_ts, recv_ts}``.

Every price in an event is finite, at least 0 and below ``PRICE_MAX`` (:func:`is_price`): the feed drops a
packet that breaks this (``feed.normalise``), and readers check it again where a value could reach a
computation or a screen (greeks, viz), so a bad value can never become a crash or a garbage figure.
"""

from __future__ import annotations

import reprlib
from typing import Any, TypeGuard

import orjson

__all__ = [
    "EVENT_FIELD", "EVENT_VERSION", "PRICE_MAX", "Event", "decode_batch", "decode_event", "encode_batch",
    "encode_event", "instrument_key", "is_price", "show_value",
]

EVENT_VERSION = 1
EVENT_FIELD = b"d"

Event = dict[str, Any]

# Above any price traded in India (MRF ~1.5e5, index levels ~1e5), and DECIMAL(18,4) holds it exactly.
PRICE_MAX = 1e9


def is_price(value: object) -> TypeGuard[float]:
    """A usable price: an int or float (not bool), finite, ``0 <= value < PRICE_MAX`` (NaN fails)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value < PRICE_MAX

encode_event = orjson.dumps
decode_event = orjson.loads


def encode_batch(events: list[Event]) -> bytes:
    return orjson.dumps(events)


def decode_batch(data: bytes | str) -> list[Event]:
    out = orjson.loads(data)
    return out if isinstance(out, list) else [out]


def instrument_key(seg: str, sid: int | str) -> str:
    """``"NSE_FNO:35001"``: the hash field / map key of an instrument, everywhere."""
    return f"{seg}:{sid}"


_SHOW = reprlib.Repr()
_SHOW.maxstring = _SHOW.maxother = 40
_SHOW.maxlevel = 2


def show_value(value: Any) -> str:
    """A value from an event for a one-line error message: short, and safe on any decoded JSON (``repr`` of
    orjson's deepest nesting, 1,024 levels, raises RecursionError)."""
    return _SHOW.repr(value)
