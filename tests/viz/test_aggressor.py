"""Aggressor inference: quote rule, tick rule, unclassified; scalar, vectorised, and against the feed's own."""

from __future__ import annotations

import random

import numpy as np
import orjson

from feed.normalise import Normaliser
from feed.protocol.decode import Decoder
from feed.protocol.encode import pack_full
from viz.models.aggressor import (
    RULE_NONE,
    RULE_QUOTE,
    RULE_TICK,
    RULE_UNKNOWN,
    AggressorInference,
    classify_trade,
    classify_trades,
    rule_code,
)
from viz.models.ticks import SIDE_BUY, SIDE_NONE, SIDE_SELL

NAN = float("nan")
# (price, previous bid, previous ask, previous trade price) -> (side, rule)
CASES = [
    ((100.10, 100.00, 100.10, 100.05), ("B", "q")),  # at the ask
    ((100.15, 100.00, 100.10, 100.20), ("B", "q")),  # above the ask: a buy even on a downtick
    ((100.00, 100.00, 100.10, 99.95), ("S", "q")),  # at the bid, though an uptick
    ((100.05, 100.00, 100.10, 100.00), ("B", "t")),  # inside the spread, uptick
    ((100.05, 100.00, 100.10, 100.10), ("S", "t")),  # inside, downtick
    ((100.05, 100.00, 100.10, 100.05), ("", "")),  # inside, zero tick
    ((100.05, None, None, 100.00), ("B", "t")),  # no book: tick rule
    ((100.05, 0.0, 0.0, 100.10), ("S", "t")),  # Dhan's empty levels (zeros) are no book
    ((100.05, None, None, None), ("", "")),  # nothing to compare: the first trade
    ((100.00, 100.00, 100.00, 99.0), ("B", "q")),  # locked book at the price: the ask is tested first
    ((100.05, NAN, NAN, NAN), ("", "")),  # bad values are no quote
]


def test_classify_trade_cases() -> None:
    for args, expected in CASES:
        assert classify_trade(*args) == expected, args


def test_classify_trades_vectorised_matches_the_scalar_rule() -> None:
    cols = [np.array([NAN if v is None else v for v in col], dtype=np.float64)
            for col in zip(*(args for args, _ in CASES), strict=True)]
    side, rule = classify_trades(*cols)
    side_of = {"B": SIDE_BUY, "S": SIDE_SELL, "": SIDE_NONE}
    rule_of = {"q": RULE_QUOTE, "t": RULE_TICK, "": RULE_NONE}
    assert side.tolist() == [side_of[s] for _, (s, _) in CASES]
    assert rule.tolist() == [rule_of[r] for _, (_, r) in CASES]


def test_rule_code_of_event_fields() -> None:
    assert rule_code("B", "q") == RULE_QUOTE and rule_code("S", "t") == RULE_TICK
    assert rule_code("B", None) == RULE_UNKNOWN  # a tick from before the feed carried its rule
    assert rule_code("B", "") == RULE_UNKNOWN and rule_code("S", "x") == RULE_UNKNOWN  # a side needs a rule
    assert rule_code("", "q") == RULE_NONE and rule_code(None, None) == RULE_NONE


def test_inference_reproduces_the_feeds_side_and_rule_on_every_trade() -> None:
    # The feed classifies each trade against the book of the packet before it; replaying the same packets
    # through AggressorInference (book after each packet, trade price on each volume rise) must agree.
    rng = random.Random(7)
    frames, books, trades = [], [], []
    volume, mid = 1_000, 100.0
    for _ in range(400):
        mid = round(max(50.0, mid + rng.choice((-0.10, -0.05, 0.0, 0.05, 0.10))), 2)
        spread = rng.choice((0.05, 0.10, 0.15))
        bid = round(mid - 0.05, 2)
        ask = round(bid + spread, 2)
        qty = 10
        if rng.random() < 0.1:
            bid = ask = 0.0  # an empty book: Dhan sends zero levels
            qty = 0
        ltp = round(mid + rng.choice((-0.15, -0.10, -0.05, 0.0, 0.05, 0.10, 0.15)), 2)
        traded = rng.random() < 0.7
        volume += 75 * traded
        depth = ((qty, qty, 1, 1, bid, ask),) + ((0, 0, 0, 0, 0.0, 0.0),) * 4
        frames.append(pack_full(2, 7, ltp=ltp, ltq=75, ltt=1_795_598_100, atp=ltp, volume=volume,
                                total_sell_qty=1, total_buy_qty=1, oi=0, oi_high=0, oi_low=0, open=ltp,
                                close=ltp, high=ltp, low=ltp, depth=depth))
        books.append((bid or None, ask or None))
        trades.append((traded, ltp))
    for fast in (False, True):
        norm, dec, ticks = Normaliser({(2, 7): 0.05}, fast=fast), Decoder(), []
        for i, frame in enumerate(frames):
            norm.feed_frame(dec, frame, 1_795_578_300.0 + i, [], ticks, [])
        feed_sides = [(e["side"], e["rule"]) for e in map(orjson.loads, ticks)]
        inference = AggressorInference()
        inference.last_price = trades[0][1]  # the first packet is the feed's baseline, not a trade
        inference.on_book(*books[0])
        ours = []
        for (traded, ltp), book in zip(trades[1:], books[1:], strict=True):
            if traded:
                ours.append(inference.on_trade(ltp))
            inference.on_book(*book)
        assert ours == feed_sides and len(ours) > 200
        assert {("B", "q"), ("S", "q"), ("B", "t"), ("S", "t"), ("", "")} <= set(ours)  # the feed's rule agrees
