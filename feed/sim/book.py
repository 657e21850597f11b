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
_MCX_SEGMENT = 5


class SimInstrument:
    """Mutable state of one instrument; ``subs`` holds the subscribed sinks per mode (ticker, quote, full,
    20-level depth, 200-level depth)."""

    __slots__ = (
        "ask_o", "ask_q", "ask_t", "atp", "base_rate", "beta", "bid_o", "bid_q", "bid_t", "can_trade", "close",
        "contract", "deep", "depth_lots", "exchange", "expiry_key", "expiry_rank", "factor", "fno", "high",
        "is_call", "key", "kind", "last_factor", "last_t", "log_price", "lot", "low", "ltp", "ltq", "ltt",
        "max_lots", "mean_lots", "n_subs", "oi", "oi_high", "oi_low", "open", "prev_oi", "security_id",
        "segment", "sigma_s", "spread_ticks", "strike", "subs", "tbq", "tick", "tsq", "turnover",
        "underlying", "volume",
    )

    def __init__(self, segment: int, security_id: int, kind: int, tick: float, lot: int) -> None:
        self.segment = segment
        self.security_id = security_id
        self.key = (segment, security_id)
        self.kind = kind
        self.tick = tick
        self.lot = lot
        self.fno = kind in (KIND_FUTURE, KIND_OPTION)
        # sinks per mode: ticker, quote, full (live feed), 20-level and 200-level (depth feeds)
        self.subs: tuple[list[Any], ...] = ([], [], [], [], [])
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
        self.exchange = "MCX" if segment == _MCX_SEGMENT else "NSE"
        self.expiry_rank = 0  # 0: the nearest expiry of its kind (futures, or options) of its underlying
        self.base_rate = 1.0  # updates per second in a live session (feed.sim.activity)
        self.can_trade = True  # False in a pre-open session: the book changes, nothing trades
        self.deep: Any = None  # feed.sim.deep.DeepBook once a depth feed subscribes
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
    def step(self, rng: random.Random, mid: float, ltt: int, can_trade: bool = True) -> tuple[bool, bool]:
        """One update around model price ``mid``: returns ``(traded, oi_changed)``. Without ``can_trade``
        (a pre-open session) only the book changes."""
        spread = self.spread_ticks
        bid_t = int(mid / self.tick - spread * 0.5)
        if bid_t < 0:
            bid_t = 0
        self.bid_t = bid_t
        self.ask_t = bid_t + spread
        traded = rng.random() < _TRADE_SHARE and can_trade
        oi_changed = self._trade(rng, ltt) if traded else False
        self._arrivals(rng)
        return traded, oi_changed

    def requote(self, mid: float) -> None:
        """Move the best bid and ask around ``mid`` with nothing traded and no random number drawn."""
        bid_t = max(0, int(mid / self.tick - self.spread_ticks * 0.5))
        self.bid_t = bid_t
        self.ask_t = bid_t + self.spread_ticks

    def _trade(self, rng: random.Random, ltt: int) -> bool:
        """An aggressive order at the touch; returns whether the open interest changed with it."""
        r = rng.random
        lot, bid_t, ask_t = self.lot, self.bid_t, self.ask_t
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
        if not self.fno or r() >= _OI_CHANGE_SHARE:
            return False
        change = lot * int((r() - 0.45) * 2.0 * lots)
        if not change:
            return False
        oi = max(0, self.oi + change)
        self.oi = oi
        if oi > self.oi_high:
            self.oi_high = oi
        elif oi < self.oi_low:
            self.oi_low = oi
        return True

    def _arrivals(self, rng: random.Random) -> None:
        """New orders arrive on both sides."""
        r = rng.random
        lot, depth = self.lot, self.depth_lots
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

    def publish(self, traded: bool, oi_changed: bool) -> None:
        """Append the packets of one update to the subscribers, per mode (a ticker subscriber sees trades
        only; a depth subscriber the book of its feed, once the deep book has moved too)."""
        subs_t, subs_q, subs_f, subs_d20, subs_d200 = self.subs
        if subs_f:
            pkt = self.full_packet()
            for sink in subs_f:
                sink.out.append(pkt)
        if subs_q:
            pkt = self.quote_packet()
            oi_pkt = self.oi_packet() if oi_changed else None
            for sink in subs_q:
                sink.out.append(pkt)
                if oi_pkt is not None:
                    sink.out.append(oi_pkt)
        if subs_t and traded:
            pkt = self.ticker_packet()
            for sink in subs_t:
                sink.out.append(pkt)
        if subs_d20 or subs_d200:
            deep = self.deep
            deep.step(self)
            for levels, sinks in ((20, subs_d20), (200, subs_d200)):
                if sinks:
                    msg = deep.message(self, levels)
                    for sink in sinks:
                        sink.out.append(msg)

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

    def snapshot(self, mode: int) -> list[bytes]:
        """The current state in ``mode`` (0 ticker, 1 quote, 2 full), as Dhan sends it on subscribe: the
        quote packet comes with the OI packet on derivatives, and an index sends its value in every mode."""
        if mode == 0 or self.kind == KIND_INDEX:
            return [self.ticker_packet()]
        if mode == 1:
            return [self.quote_packet(), self.oi_packet()] if self.fno else [self.quote_packet()]
        return [self.full_packet()]
