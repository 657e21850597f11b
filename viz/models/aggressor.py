"""Which side started a trade, inferred: Dhan sends no aggressor flag (pure; scalar and numpy forms).

The rule, in order (the feed's, ``feed.normalise.Normaliser._trade``, so live ticks and a re-inference agree):

1. quote rule ``"q"``: a buy (``"B"``) when the trade price is at or above the best ask of the book *before*
   the trade, a sell (``"S"``) when at or below that book's best bid. The ask is tested first, so a trade in
   a locked book (bid = ask) at that price is a buy.
2. tick rule ``"t"``: otherwise a buy when the price is above the previous trade's price, a sell when below.
3. unclassified ``""``: a trade at the previous trade's price inside the spread (a zero tick), or with
   nothing to compare against.

A best bid or ask that is missing, not finite or not above 0 is no quote (Dhan fills an empty level with
zeros); so is a previous trade price that is not above 0. ``RULE_UNKNOWN`` (``"?"``) marks a side that
arrived without the rule that made it (a tick event or stored row from before the feed carried ``rule``).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt

from viz.models.ticks import (
    RULE_CODES,
    RULE_NONE,
    RULE_QUOTE,
    RULE_TICK,
    RULE_UNKNOWN,
    SIDE_BUY,
    SIDE_NONE,
    SIDE_SELL,
)

__all__ = [
    "RULE_CODES", "RULE_NAMES", "RULE_NONE", "RULE_QUOTE", "RULE_TICK", "RULE_UNKNOWN", "AggressorInference",
    "Rule", "Side", "classify_trade", "classify_trades", "rule_code",
]

Side = Literal["B", "S", ""]
Rule = Literal["q", "t", "", "?"]
# the codes live beside the side codes (viz.models.ticks), where the trade columns keep them
RULE_NAMES: dict[int, str] = {RULE_NONE: "unclassified", RULE_QUOTE: "quote rule", RULE_TICK: "tick rule",
                              RULE_UNKNOWN: "rule not recorded"}
I8 = npt.NDArray[np.int8]


def _usable(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) and x > 0.0 else None


def classify_trade(price: float, prev_bid: float | None, prev_ask: float | None,
                   prev_price: float | None) -> tuple[Side, Rule]:
    """``(side, rule)`` of one trade against the book before it and the previous trade's price."""
    ask, bid, prev = _usable(prev_ask), _usable(prev_bid), _usable(prev_price)
    if ask is not None and price >= ask:
        return "B", "q"
    if bid is not None and price <= bid:
        return "S", "q"
    if prev is not None and price > prev:
        return "B", "t"
    if prev is not None and price < prev:
        return "S", "t"
    return "", ""


def rule_code(side: str | None, rule: str | None) -> int:
    """The rule code of a side as an event carries it: no side is unclassified; a side without rule, unknown."""
    if side not in ("B", "S"):
        return RULE_NONE
    code = RULE_CODES.get(rule or "?", RULE_UNKNOWN)
    return RULE_UNKNOWN if code == RULE_NONE else code


def classify_trades(price: npt.ArrayLike, prev_bid: npt.ArrayLike, prev_ask: npt.ArrayLike,
                    prev_price: npt.ArrayLike) -> tuple[I8, I8]:
    """:func:`classify_trade` over arrays (NaN = no quote): ``(side codes, rule codes)`` as int8 arrays
    (``viz.models.ticks.SIDE_*``, ``RULE_*``)."""
    p = np.asarray(price, dtype=np.float64)
    bid, ask, prev = (np.asarray(a, dtype=np.float64) for a in (prev_bid, prev_ask, prev_price))
    with np.errstate(invalid="ignore"):  # NaN compares False: no quote
        at_ask = (ask > 0.0) & (p >= ask)
        at_bid = ~at_ask & (bid > 0.0) & (p <= bid)
        by_tick = ~at_ask & ~at_bid & (prev > 0.0)
        up, down = by_tick & (p > prev), by_tick & (p < prev)
    side = np.full(p.shape, SIDE_NONE, np.int8)
    side[at_ask | up] = SIDE_BUY
    side[at_bid | down] = SIDE_SELL
    rule = np.full(p.shape, RULE_NONE, np.int8)
    rule[at_ask | at_bid] = RULE_QUOTE
    rule[up | down] = RULE_TICK
    return side, rule


class AggressorInference:
    """One instrument's running inference: feed it books and trades in the order they happened.

    Only a stream that keeps book and trade order can use this (the feed's packets do; ticks and depth read
    back from two Redis streams or two MySQL tables do not interleave exactly). Prefer the feed's ``side``
    and ``rule`` where they exist.
    """

    __slots__ = ("ask", "bid", "last_price")

    def __init__(self) -> None:
        self.bid: float | None = None
        self.ask: float | None = None
        self.last_price: float | None = None

    def on_book(self, bid: float | None, ask: float | None) -> None:
        self.bid, self.ask = bid, ask

    def on_trade(self, price: float) -> tuple[Side, Rule]:
        result = classify_trade(price, self.bid, self.ask, self.last_price)
        self.last_price = price
        return result
