"""The deep book of one simulated instrument: levels 6 to 200, for the 20- and 200-level depth feeds.

Levels 1 to 5 are the instrument's own 5-level book (:class:`feed.sim.book.SimInstrument`: best bid and ask
ticks, quantities and orders), so the top five levels of the live feed's full packet, the 20-level and the
200-level feeds are the same at the same moment. The book is built when a depth feed first subscribes the
instrument and moves one level a side on every update of the instrument while depth subscribers remain. Its
random numbers come from its own generator, seeded from the market's seed and the instrument, so subscribing
depth never changes the bytes of the live feed. Levels are one tick apart, like the top five; on the bid side
they end at the minimum price (an option worth 0.50 at a 0.05 tick has 9 bid levels): the 20-level feed sends
the missing ones as empty rows (price 0), the 200-level feed sends only the rows it has.
"""

from __future__ import annotations

import random
from typing import Any

from feed.protocol.depth import DepthRow
from feed.protocol.encode import pack_depth_side

__all__ = ["DEEP_LEVELS", "TOP_LEVELS", "DeepBook"]

DEEP_LEVELS = 200
TOP_LEVELS = 5
_EMPTY: DepthRow = (0.0, 0, 0)


class DeepBook:
    """Quantities and orders of levels ``TOP_LEVELS + 1`` .. ``DEEP_LEVELS`` per side; ``sequence`` counts
    updates (the 20-level header's sequence)."""

    __slots__ = ("ask_o", "ask_q", "bid_o", "bid_q", "rng", "sequence")

    def __init__(self, inst: Any, seed: int) -> None:
        self.rng = random.Random((seed << 40) ^ (inst.segment << 32) ^ inst.security_id)
        n = DEEP_LEVELS - TOP_LEVELS
        self.bid_q = [0] * n
        self.ask_q = [0] * n
        self.bid_o = [0] * n
        self.ask_o = [0] * n
        self.sequence = 0
        for i in range(n):
            self._refill(inst, i, bid=True)
            self._refill(inst, i, bid=False)

    def _refill(self, inst: Any, i: int, *, bid: bool) -> None:
        r = self.rng.random
        lot = inst.lot
        # resting size grows away from the touch, as orders wait there for a move
        q = lot * (1 + int(r() * inst.depth_lots * (1.0 + i / 40.0)))
        o = 1 + int(r() * min(q // lot, 60))
        if bid:
            self.bid_q[i], self.bid_o[i] = q, o
        else:
            self.ask_q[i], self.ask_o[i] = q, o

    def step(self, inst: Any) -> None:
        """One update of the instrument: one deep level a side gets new orders."""
        n = DEEP_LEVELS - TOP_LEVELS
        self._refill(inst, int(self.rng.random() * n), bid=True)
        self._refill(inst, int(self.rng.random() * n), bid=False)
        self.sequence = (self.sequence + 1) & 0xFFFFFFFF

    def rows(self, inst: Any, *, bid: bool, levels: int) -> list[DepthRow]:
        """The best ``levels`` rows of one side that exist (the bid side ends at the minimum price)."""
        tick = inst.tick
        if bid:
            best, top_q, top_o, deep_q, deep_o, way = inst.bid_t, inst.bid_q, inst.bid_o, self.bid_q, self.bid_o, -1
        else:
            best, top_q, top_o, deep_q, deep_o, way = inst.ask_t, inst.ask_q, inst.ask_o, self.ask_q, self.ask_o, 1
        out: list[DepthRow] = []
        for i in range(levels):
            t = best + way * i
            if t <= 0:
                break
            if i < TOP_LEVELS:
                out.append((t * tick, top_q[i], top_o[i]))
            else:
                out.append((t * tick, deep_q[i - TOP_LEVELS], deep_o[i - TOP_LEVELS]))
        return out

    def message(self, inst: Any, levels: int) -> bytes:
        """The instrument's bid packet then its ask packet, back to back (one WebSocket message's worth)."""
        seg, sid, seq = inst.segment, inst.security_id, self.sequence
        bids = self.rows(inst, bid=True, levels=levels)
        asks = self.rows(inst, bid=False, levels=levels)
        if levels == 20:
            bids += [_EMPTY] * (20 - len(bids))
            asks += [_EMPTY] * (20 - len(asks))
        return (pack_depth_side(seg, sid, bids, bid=True, levels=levels, sequence=seq)
                + pack_depth_side(seg, sid, asks, bid=False, levels=levels, sequence=seq))
