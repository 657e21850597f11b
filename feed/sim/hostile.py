"""The ``hostile`` fault's packets: every value a robust feed must survive, for one simulated instrument.

:func:`hostile_packets` builds them from the instrument's current state, each with the bad-value kind the
feed's normaliser counts it as (``feed.normalise``), or None for a packet the feed must accept: NaN,
infinite, huge and negative prices (LTP, ATP, depth, previous close; full, quote and ticker packets), a
crossed book, the cumulative volume going back and an older snapshot arriving late (a reordered packet),
LTTs long ago and far ahead, open interest above 2^31 (valid: it must reach MySQL whole), empty depth
levels (valid) and duplicated packets (valid: no second trade). The burst opens and closes with the
instrument's current full packet, so the feed's state before and after it is the market's.

:func:`hostile_depth_burst` does the same for a depth feed: messages of a bid and an ask packet of one
instrument, each pair with exactly one bad value the check :func:`feed.protocol.depth.book_problem` names
(NaN, infinite, negative and huge prices at the touch and deeper, a crossed book), between the instrument's
current book and a duplicate of it, plus an all-empty book (valid).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

from feed.protocol.depth import DepthRow
from feed.protocol.encode import (
    DepthLevel,
    pack_depth_side,
    pack_full,
    pack_oi,
    pack_prev_close,
    pack_quote,
    pack_ticker,
)
from feed.sim.book import KIND_INDEX, SimInstrument

__all__ = ["HOSTILE_OI", "hostile_burst", "hostile_depth_burst", "hostile_depth_messages", "hostile_packets"]

HOSTILE_OI = 3_000_000_000  # above 2^31 (a signed INT column would overflow), below 2^32 (the wire's uint32)
_DAY_S = 86_400
_EMPTY: DepthLevel = (0, 0, 0, 0, 0.0, 0.0)


def _full(inst: SimInstrument, **change: object) -> bytes:
    """The instrument's current full packet with some fields changed (``depth`` a list of 5 levels)."""
    fields: dict[str, object] = {
        "ltp": inst.ltp, "ltq": inst.ltq, "ltt": inst.ltt, "atp": inst.atp, "volume": inst.volume,
        "total_sell_qty": inst.tsq, "total_buy_qty": inst.tbq, "oi": inst.oi, "oi_high": inst.oi_high,
        "oi_low": inst.oi_low, "open": inst.open, "close": inst.close, "high": inst.high, "low": inst.low,
        "depth": inst.depth(),
    }
    fields.update(change)
    return pack_full(inst.segment, inst.security_id, **fields)  # type: ignore[arg-type]


def _quote(inst: SimInstrument, **change: object) -> bytes:
    fields: dict[str, object] = {
        "ltp": inst.ltp, "ltq": inst.ltq, "ltt": inst.ltt, "atp": inst.atp, "volume": inst.volume,
        "total_sell_qty": inst.tsq, "total_buy_qty": inst.tbq, "open": inst.open, "close": inst.close,
        "high": inst.high, "low": inst.low,
    }
    fields.update(change)
    return pack_quote(inst.segment, inst.security_id, **fields)  # type: ignore[arg-type]


def hostile_packets(inst: SimInstrument, now_ltt: int) -> list[tuple[bytes, str | None]]:
    """``[(packet, kind or None), ...]`` for ``inst`` at Dhan-epoch time ``now_ltt``, in sending order.

    Each bad packet has exactly one bad value. Those with a trade (volume one above the current) would make
    a tick if the value were accepted, so the LTT ones are judged by the trade rule.
    """
    seg, sid, tick = inst.segment, inst.security_id, inst.tick
    up = inst.volume + 1
    depth = inst.depth()
    nan_depth = [*depth[:2], (*depth[2][:5], math.nan), *depth[3:]]
    crossed = [(depth[0][0] or 1, depth[0][1] or 1, 1, 1, inst.ltp + 10 * tick, max(inst.ltp, tick)), *depth[1:]]
    current = _full(inst)
    out: list[tuple[bytes, str | None]] = [
        (current, None), (current, None),  # a duplicate: accepted, no second trade
        (_full(inst, ltp=math.nan, volume=up), "price_nan"),
        (_full(inst, ltp=math.inf, volume=up), "price_inf"),
        (_full(inst, ltp=-math.inf, volume=up), "price_inf"),
        (_full(inst, ltp=3e38, volume=up), "price_range"),
        (_full(inst, ltp=1e18, volume=up), "price_range"),
        (_full(inst, ltp=-5.0, volume=up), "price_range"),
        (_full(inst, atp=math.inf), "price_inf"),
        (_full(inst, depth=nan_depth), "price_nan"),
        (_full(inst, depth=crossed, volume=up), "depth_crossed"),
        (_full(inst, volume=max(0, inst.volume - 1)), "volume_back"),
        # an older snapshot arriving after the newer one: one trade earlier
        (_full(inst, volume=max(0, inst.volume - max(1, inst.ltq)), ltt=inst.ltt - 1), "volume_back"),
        (_full(inst, ltt=_DAY_S, volume=up), "ltt_past"),  # 1970-01-02
        (_full(inst, ltt=now_ltt - 30 * _DAY_S, volume=up), "ltt_past"),
        (_full(inst, ltt=0xFFFFFFFF, volume=up), "ltt_future"),
        (_full(inst, ltt=now_ltt + 10 * _DAY_S, volume=up), "ltt_future"),
        (_quote(inst, ltp=math.nan, volume=up), "price_nan"),
        (_quote(inst, high=math.inf), "price_inf"),
        (pack_ticker(seg, sid, math.nan, now_ltt), "price_nan"),
        (pack_ticker(seg, sid, inst.ltp, now_ltt + 10 * _DAY_S), "ltt_future"),
        (pack_prev_close(seg, sid, math.nan, inst.prev_oi), "price_nan"),
        (pack_prev_close(seg, sid, 1e18, inst.prev_oi), "price_range"),
        (_full(inst, oi=HOSTILE_OI, oi_high=HOSTILE_OI, depth=[*depth[:3], _EMPTY, _EMPTY]), None),
        (pack_oi(seg, sid, 0xFFFFFFFF), None),
        (current, None), (pack_oi(seg, sid, inst.oi), None),  # back to the market's state
    ]
    return out


def _with(rows: list[DepthRow], level: int, price: float) -> list[DepthRow]:
    out = list(rows)
    out[level] = (price, out[level][1] or 1, out[level][2] or 1)
    return out


def hostile_depth_messages(market: Any, inst: SimInstrument, levels: int) -> list[tuple[bytes, str | None]]:
    """``[(bid packet + ask packet, kind or None), ...]`` for ``inst`` on the ``levels``-level feed."""
    current = market.depth_message(inst, levels)
    bids = inst.deep.rows(inst, bid=True, levels=levels)
    asks = inst.deep.rows(inst, bid=False, levels=levels)
    if len(bids) < 3:  # a cheap option's bid side may be short: bad values need levels to sit in
        bids += [(inst.tick, inst.lot, 1)] * (3 - len(bids))

    def pair(b: list[DepthRow], a: list[DepthRow]) -> bytes:
        seg, sid = inst.segment, inst.security_id
        fill: list[DepthRow] = [(0.0, 0, 0)]
        pad_b = b + fill * (levels - len(b)) if levels == 20 else b
        pad_a = a + fill * (levels - len(a)) if levels == 20 else a
        return (pack_depth_side(seg, sid, pad_b, bid=True, levels=levels)
                + pack_depth_side(seg, sid, pad_a, bid=False, levels=levels))

    best_ask = asks[0][0]
    return [
        (current, None), (current, None),  # a duplicate: accepted
        (pair(_with(bids, 2, math.nan), asks), "price_nan"),
        (pair(bids, _with(asks, 0, math.nan)), "price_nan"),
        (pair(_with(bids, 0, math.inf), asks), "price_inf"),
        (pair(bids, _with(asks, 1, -math.inf)), "price_inf"),
        (pair(bids, _with(asks, 0, 1e300)), "price_range"),
        (pair(_with(bids, 1, -5.0), asks), "price_range"),
        (pair(_with(bids, 2, 2e9), asks), "price_range"),
        (pair(_with(bids, 0, best_ask + 10 * inst.tick), asks), "depth_crossed"),
        (pair([], []), None),  # an empty book: valid
        (current, None),  # back to the market's book
    ]


def _first(market: Any, subscribed: Iterable[tuple[int, int]], count: int) -> list[SimInstrument]:
    """The first ``count`` simulated, non-index instruments of ``subscribed``, in key order."""
    out: list[SimInstrument] = []
    for key in sorted(subscribed):
        inst = market.lookup(*key)
        if inst is not None and inst.kind != KIND_INDEX:
            out.append(inst)
            if len(out) == count:
                break
    return out


def _burst(pairs: Iterable[tuple[bytes, str | None]], packets: list[bytes], kinds: Counter[str]) -> None:
    for packet, kind in pairs:
        packets.append(packet)
        if kind is not None:
            kinds[kind] += 1


def hostile_burst(market: Any, subscribed: Iterable[tuple[int, int]], count: int,
                  now_ltt: int) -> tuple[list[bytes], Counter[str]]:
    """The packets for the first ``count`` simulated, non-index instruments of ``subscribed`` (in key order),
    and how many of each bad-value kind they hold. ``market`` is the :class:`feed.sim.market.Market`."""
    packets: list[bytes] = []
    kinds: Counter[str] = Counter()
    for inst in _first(market, subscribed, count):
        _burst(hostile_packets(inst, now_ltt), packets, kinds)
    return packets, kinds


def hostile_depth_burst(market: Any, subscribed: Iterable[tuple[int, int]], count: int,
                        levels: int) -> tuple[list[bytes], Counter[str]]:
    """Like :func:`hostile_burst` for a depth connection: one message per pair (a bid and an ask packet)."""
    messages: list[bytes] = []
    kinds: Counter[str] = Counter()
    for inst in _first(market, subscribed, count):
        _burst(hostile_depth_messages(market, inst, levels), messages, kinds)
    return messages, kinds
