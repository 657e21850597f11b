"""One simulated instrument's state (last trade, day statistics, OI, 5-level book) and its packets.

This is the hot path of the simulator: a :class:`SimInstrument` is a ``__slots__`` struct built once, and
:meth:`SimInstrument.step` moves it by one update (a trade, or a change of the book alone) around a model
price, with integer tick arithmetic so every price lands on the tick grid. Packets are built with
:mod:`feed.protocol.encode`, the same codec the feed decodes with.
"""

from __future__ import annotations

import math
import random
from typing import Any

from feed.protocol.encode import DepthLevel, pack_full, pack_oi, pack_prev_close, pack_quote, pack_ticker

__all__ = ["KIND_EQUITY", "KIND_FUTURE", "KIND_INDEX", "KIND_OPTION", "MAX_LTQ", "SimInstrument"]

KIND_INDEX, KIND_EQUITY, KIND_FUTURE, KIND_OPTION = range(4)
MAX_LTQ = 65_535  # LTQ is a uint16 on the wire
_TRADE_SHARE = 0.75  # the rest of the updates change the book only (no trade: LTT and volume unchanged)
_OI_CHANGE_SHARE = 0.4
_LEVELS = 5


class SimInstrument:
    """Mutable state of one instrument; ``subs`` holds the subscribed sinks per mode (ticker, quote, full)."""

    __slots__ = (
        "ask_o", "ask_q", "ask_t", "atp", "base_weight", "beta", "bid_o", "bid_q", "bid_t", "close",
        "contract", "depth_lots", "expiry_key", "factor", "fno", "high", "is_call", "key", "kind",
        "last_factor", "last_t", "log_price", "lot", "low", "ltp", "ltq", "ltt", "max_lots", "mean_lots",
        "n_subs", "oi", "oi_high", "oi_low", "open", "prev_oi", "security_id", "segment", "sigma_s",
        "spread_ticks", "strike", "subs", "tbq", "tick", "tsq", "turnover", "underlying", "volume",
        "weight",
    )

    def __init__(self, segment: int, security_id: int, kind: int, tick: float, lot: int) -> None:
        self.segment = segment
        self.security_id = security_id
        self.key = (segment, security_id)
        self.kind = kind
        self.tick = tick
        self.lot = lot
        self.fno = kind in (KIND_FUTURE, KIND_OPTION)
        self.subs: tuple[list[Any], list[Any], list[Any]] = ([], [], [])
        self.n_subs = 0
        self.contract: Any = None
        self.underlying = ""
        self.factor = ""
        self.expiry_key: Any = None
        self.strike = 0.0
        self.is_call = False
        self.beta = 1.0
        self.sigma_s = 0.0
        self.log_price = 0.0
        self.last_factor = 0.0
        self.last_t = 0.0
        self.base_weight = 1.0
        self.weight = 1.0
        self.spread_ticks = 1
        self.mean_lots = 2.0
        self.max_lots = max(1, MAX_LTQ // lot)
        self.depth_lots = 20
        self.ltp = self.open = self.high = self.low = self.close = self.atp = 0.0
        self.ltq = self.ltt = self.volume = self.tbq = self.tsq = 0
        self.turnover = 0.0
        self.oi = self.oi_high = self.oi_low = self.prev_oi = 0
        self.bid_t = self.ask_t = 0
        self.bid_q = [0] * _LEVELS
        self.ask_q = [0] * _LEVELS
        self.bid_o = [0] * _LEVELS
        self.ask_o = [0] * _LEVELS

    # --- set-up ---
    def round_tick(self, price: float) -> float:
        return max(1, round(price / self.tick)) * self.tick

    def open_day(self, rng: random.Random, price: float, ltt: int, prev_close: float, oi: int) -> None:
        """Start a trading day: yesterday's close and OI, an opening trade at ``price``, a fresh book."""
        self.close = prev_close
        self.prev_oi = self.oi = self.oi_high = self.oi_low = oi
        self.ltp = self.open = self.high = self.low = self.atp = self.round_tick(price)
        if self.kind == KIND_INDEX:
            self.ltt = ltt
            return
        qty = self.lot * (1 + int(rng.random() * 4 * self.mean_lots))
        self.ltq = min(qty, self.lot * self.max_lots)
        self.ltt = ltt
        self.volume = self.ltq
        self.turnover = self.ltp * self.ltq
        x = self.ltp / self.tick
        self.bid_t = max(0, int(x - self.spread_ticks * 0.5))
        self.ask_t = max(1, self.bid_t + self.spread_ticks)
        for i in range(_LEVELS):
            self._refill(rng, i)
        self.tbq = sum(self.bid_q) * (10 + int(rng.random() * 20))
        self.tsq = sum(self.ask_q) * (10 + int(rng.random() * 20))

    def _refill(self, rng: random.Random, level: int) -> None:
        r = rng.random
        lot, depth = self.lot, self.depth_lots
        bq = lot * (1 + int(r() * depth))
        aq = lot * (1 + int(r() * depth))
        self.bid_q[level] = bq
        self.ask_q[level] = aq
        self.bid_o[level] = 1 + int(r() * min(bq // lot, 40))
        self.ask_o[level] = 1 + int(r() * min(aq // lot, 40))

    # --- the hot path ---
    def step(self, rng: random.Random, mid: float, ltt: int) -> tuple[bool, bool]:
        """One update around model price ``mid``: returns ``(traded, oi_changed)``."""
        r = rng.random
        spread = self.spread_ticks
        bid_t = int(mid / self.tick - spread * 0.5)
        if bid_t < 0:
            bid_t = 0
        ask_t = bid_t + spread
        self.bid_t = bid_t
        self.ask_t = ask_t
        lot = self.lot
        traded = r() < _TRADE_SHARE
        oi_changed = False
        if traded:
            buy = r() < 0.5 or bid_t < 1
            price = (ask_t if buy else bid_t) * self.tick
            lots = 1 + int(-self.mean_lots * math.log(1.0 - r()))
            if lots > self.max_lots:
                lots = self.max_lots
            qty = lots * lot
            self.ltp = price
            self.ltq = qty
            self.ltt = ltt
            self.volume += qty
            self.turnover += price * qty
            if price > self.high:
                self.high = price
            elif price < self.low:
                self.low = price
            atp = self.turnover / self.volume
            self.atp = self.low if atp < self.low else (self.high if atp > self.high else atp)
            if buy:  # an aggressive buy lifts the offer: resting sell quantity falls
                self.tsq = max(lot, self.tsq - qty)
                self.ask_q[0] = max(lot, self.ask_q[0] - qty)
            else:
                self.tbq = max(lot, self.tbq - qty)
                self.bid_q[0] = max(lot, self.bid_q[0] - qty)
            if self.fno and r() < _OI_CHANGE_SHARE:
                change = lot * int((r() - 0.45) * 2.0 * lots)
                if change:
                    oi = self.oi + change
                    if oi < 0:
                        oi = 0
                    self.oi = oi
                    if oi > self.oi_high:
                        self.oi_high = oi
                    elif oi < self.oi_low:
                        self.oi_low = oi
                    oi_changed = True
        # New orders arrive on both sides.
        depth = self.depth_lots
        j = int(r() * _LEVELS)
        q = lot * (1 + int(r() * depth))
        self.bid_q[j] = q
        self.bid_o[j] = 1 + int(r() * min(q // lot, 40))
        self.tbq += q - self.tbq // 40  # resting quantity reverts to ~40 arrivals' worth
        j = int(r() * _LEVELS)
        q = lot * (1 + int(r() * depth))
        self.ask_q[j] = q
        self.ask_o[j] = 1 + int(r() * min(q // lot, 40))
        self.tsq += q - self.tsq // 40
        return traded, oi_changed

    def depth(self) -> list[DepthLevel]:
        tick, bid_t, ask_t = self.tick, self.bid_t, self.ask_t
        bq, aq, bo, ao = self.bid_q, self.ask_q, self.bid_o, self.ask_o
        out = []
        for i in range(_LEVELS):
            b = bid_t - i
            if b > 0:
                out.append((bq[i], aq[i], bo[i], ao[i], b * tick, (ask_t + i) * tick))
            else:  # no bid below the minimum price
                out.append((0, aq[i], 0, ao[i], 0.0, (ask_t + i) * tick))
        return out

    # --- packets ---
    def ticker_packet(self) -> bytes:
        return pack_ticker(self.segment, self.security_id, self.ltp, self.ltt)

    def quote_packet(self) -> bytes:
        return pack_quote(
            self.segment, self.security_id, ltp=self.ltp, ltq=self.ltq, ltt=self.ltt, atp=self.atp,
            volume=self.volume, total_sell_qty=self.tsq, total_buy_qty=self.tbq, open=self.open,
            close=self.close, high=self.high, low=self.low,
        )

    def oi_packet(self) -> bytes:
        return pack_oi(self.segment, self.security_id, self.oi)

    def full_packet(self) -> bytes:
        return pack_full(
            self.segment, self.security_id, ltp=self.ltp, ltq=self.ltq, ltt=self.ltt, atp=self.atp,
            volume=self.volume, total_sell_qty=self.tsq, total_buy_qty=self.tbq, oi=self.oi,
            oi_high=self.oi_high, oi_low=self.oi_low, open=self.open, close=self.close, high=self.high,
            low=self.low, depth=self.depth(),
        )

    def prev_close_packet(self) -> bytes:
        return pack_prev_close(self.segment, self.security_id, self.close, self.prev_oi)
