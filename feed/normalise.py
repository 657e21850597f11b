"""Packets -> normalised events (pure; the hot path after decoding).

The normaliser keeps each instrument's merged latest state, so every quote event it emits is complete even
though Dhan splits state across packet types (prev close at subscribe, OI in its own packet in quote mode).
Outputs are JSON-encoded event bytes appended to three lists the caller owns (quotes, ticks, depth), so
the publisher sends them without encoding again.

Two paths give the same events. The native one (feed/_fastfeed.c, when built) takes a frame of one ticker,
quote, OI, previous-close or full packet whose values pass every rule and whose trade is the common case
(volume up, or the same, with a current LTT); it keeps the instrument's state in C (feed/instrument.py says
how the two copies hand over). Everything else, and everything where no compiler was, takes the Python path
below, the reference: it decides and counts every bad value. The native path prints receive times to the
microsecond; the Python path prints the float as it is.

A trade is emitted when an instrument's cumulative volume rises; its ``qty`` is the rise (which may cover
several exchange trades between two packets: Dhan sends snapshots, not every print). The first packet of a
session only sets the baseline. ``side`` classifies the trade against the best bid/ask seen before it (at or
above the ask: "B", at or below the bid: "S"), else by tick rule against the previous trade price; ``rule``
records which decided: "q" (the quote), "t" (the tick rule) or "" (neither: no side).

Bad values. Every packet is checked before it changes anything. A packet that breaks a rule is dropped whole
(no quote, tick or depth event; state and trade baseline untouched) and counted by kind in
:attr:`Normaliser.bad_values` (the feed's heartbeat and ``/metrics``: ``bad_values_<kind>``); the first of
each kind is reported through ``on_bad``. Nothing is lost by dropping: Dhan sends snapshots, so the next good
packet carries the whole state again, and a trade in the dropped packet is in the next good volume rise.

==============  ==================================================================================
price_nan       a price (LTP, ATP, OHLC, previous close, any depth level) is NaN
price_inf       ... is infinite
price_range     ... is negative or not below ``PRICE_MAX`` (1e9, every segment; see shared/events.py)
depth_crossed   the best bid is above the best ask, both non-zero. Zero levels are Dhan's empty levels and
                pass as they are; a locked book (bid = ask, auctions) passes too
ltt_future      the exchange time (LTT) is more than ``LTT_AHEAD_MAX_S`` ahead of the receive time. No data
                comes from the future, so this holds for the replay of an old journal as well
ltt_past        the LTT is before ``LTT_FLOOR`` (0, "no trade yet", passes), or the packet carries a trade
                and its LTT is more than ``TRADE_LTT_BEHIND_MAX_S`` behind the newest exchange time accepted
                so far: a trade happens now, and its time becomes the trade day of the tick row. A packet
                without a trade may carry an old LTT (an instrument untraded since before a weekend). The
                reference is the data's own clock, not ours, so a journal replayed days later keeps its
                trades; until a first LTT is accepted (the first packet of a session) only the floor applies
volume_back     the cumulative volume is below the baseline on the same trading day: a stale or reordered
                snapshot. So there is never a negative trade, and the baseline never moves back. A lower
                volume with an LTT on a later day is the next session: its volume counts from 0 again
==============  ==================================================================================

Open interest, volumes and quantities are unsigned 32-bit on the wire and MySQL keeps them in BIGINT
UNSIGNED (OI, volume) or INT UNSIGNED (depth quantities) columns: every value fits, none is a bad value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from feed.depth_levels import depth_v1_book, full_book
from feed.fields import (
    CODE,
    DEPTH_LTP,
    DISCONNECT_REASON,
    FULL_ATP,
    FULL_CLOSE,
    FULL_HIGH,
    FULL_LOW,
    FULL_LTP,
    FULL_LTQ,
    FULL_LTT,
    FULL_OI,
    FULL_OI_HIGH,
    FULL_OI_LOW,
    FULL_OPEN,
    FULL_TOTAL_BUY_QTY,
    FULL_TOTAL_SELL_QTY,
    FULL_VOLUME,
    OI_OI,
    PREV_CLOSE_PREV_CLOSE,
    PREV_CLOSE_PREV_OI,
    QUOTE_ATP,
    QUOTE_CLOSE,
    QUOTE_HIGH,
    QUOTE_LOW,
    QUOTE_LTP,
    QUOTE_LTQ,
    QUOTE_LTT,
    QUOTE_OPEN,
    QUOTE_TOTAL_BUY_QTY,
    QUOTE_TOTAL_SELL_QTY,
    QUOTE_VOLUME,
    SECURITY_ID,
    SEGMENT,
    TICKER_LTP,
    TICKER_LTT,
)
from feed.instrument import Instrument
from feed.prices import (
    BAD_VALUE_KINDS,
    DEFAULT_TICK,
    BadValue,
    price_rounder,
)
from feed.protocol.constants import SEGMENT_BY_CODE, ResponseCode
from feed.protocol.decode import Decoder, Packet
from feed.trades import LTT_FLOOR, TRADE_LTT_BEHIND_MAX_S, TradeRules
from shared.clock import IST_OFFSET_S
from shared.events import PRICE_MAX

try:  # optional native fast path (feed/_fastfeed.c): ticker, quote, OI, prev close and full; same events
    from feed._fastfeed import Core, State
except ImportError:  # pragma: no cover - exercised where no compiler was available at install
    Core = State = None

__all__ = [
    "BAD_VALUE_KINDS", "DEFAULT_TICK", "FAST_PATH_AVAILABLE", "LTT_AHEAD_MAX_S", "LTT_FLOOR", "PRICE_MAX",
    "TRADE_LTT_BEHIND_MAX_S", "BadSink", "Normaliser", "price_rounder",
]

FAST_PATH_AVAILABLE = Core is not None
LTT_AHEAD_MAX_S = 86_400
_AHEAD = IST_OFFSET_S + LTT_AHEAD_MAX_S  # receive time (true epoch) -> latest acceptable Dhan-epoch LTT

_DUMPS = orjson.dumps
_TICKER = int(ResponseCode.TICKER)
_QUOTE = int(ResponseCode.QUOTE)
_FULL = int(ResponseCode.FULL)
_OI = int(ResponseCode.OI)
_PREV = int(ResponseCode.PREV_CLOSE)
_DEPTH = int(ResponseCode.MARKET_DEPTH)
_STATUS = int(ResponseCode.MARKET_STATUS)
_DISCONNECT = int(ResponseCode.DISCONNECT)

BadSink = Callable[[str, dict[str, Any]], None]


class Normaliser:
    """Turns decoded packets into encoded quote, tick and depth events; drops and counts bad packets."""

    def __init__(self, tick_sizes: Mapping[tuple[int, int], float] | None = None, *, fast: bool = True,
                 on_bad: BadSink | None = None) -> None:
        self._ticks: dict[tuple[int, int], float] = dict(tick_sizes or {})
        self._rules = TradeRules()  # the trade baselines' rules and the exchange's clock
        self._core: Any = Core(self._rules, LTT_FLOOR, _AHEAD) if fast and FAST_PATH_AVAILABLE else None
        self._state: dict[tuple[int, int], Instrument] = {}
        self.first_seen: set[tuple[int, int]] = set()
        self.status_packets = 0
        self.disconnect_reasons: list[int] = []
        self.bad_values: dict[str, int] = dict.fromkeys(BAD_VALUE_KINDS, 0)
        self._on_bad = on_bad
        self._reported: set[str] = set()

    @property
    def fast(self) -> bool:
        """Whether the native path is on. Turning it off hands every instrument's state to Python for good."""
        return self._core is not None

    @fast.setter
    def fast(self, on: bool) -> None:
        if on and self._core is None and FAST_PATH_AVAILABLE:
            raise ValueError("the native path is chosen when the normaliser is built")
        if not on and self._core is not None:
            for inst in self._state.values():
                if inst.nat is not None:
                    if inst.nat.current:
                        inst.to_python()
                    inst.nat = None
            self._core = None

    @property
    def bad_total(self) -> int:
        return sum(self.bad_values.values())

    def set_tick_sizes(self, tick_sizes: Mapping[tuple[int, int], float]) -> None:
        """Add/replace tick sizes (by (segment code, security id)); existing state picks them up."""
        self._ticks.update(tick_sizes)
        for key, inst in self._state.items():
            if key in tick_sizes:
                if inst.nat is not None and inst.nat.current:
                    inst.to_python()
                inst.set_tick(tick_sizes[key])
                if inst.nat is not None:
                    self._core.remove(*key)
                    inst.nat = None
                self._go_native(key, inst)

    def last_price(self, seg_code: int, sid: int) -> float | None:
        inst = self._state.get((seg_code, sid))
        if inst is None:
            return None
        q = inst.view()
        price: float | None = q["ltp"] if q["ltp"] else q["prev_close"]
        return price

    def quote_state(self, seg_code: int, sid: int) -> dict[str, Any] | None:
        inst = self._state.get((seg_code, sid))
        if inst is None:
            return None
        return dict(inst.view())

    def forget(self, seg_code: int, sid: int) -> None:
        self._state.pop((seg_code, sid), None)
        self.first_seen.discard((seg_code, sid))
        if self._core is not None:
            self._core.remove(seg_code, sid)

    def _inst(self, seg_code: int, sid: int) -> Instrument:
        key = (seg_code, sid)
        inst = Instrument(SEGMENT_BY_CODE.get(seg_code, str(seg_code)), sid, self._ticks.get(key, DEFAULT_TICK))
        self._state[key] = inst
        self.first_seen.add(key)
        self._go_native(key, inst)
        return inst

    def _go_native(self, key: tuple[int, int], inst: Instrument) -> None:
        """Give a Python-held instrument a native copy when the native path can hold it (its tick prints
        exactly, its segment is a plain name); it becomes the truth at the next :meth:`Instrument.to_native`."""
        if self._core is None or not inst.native:
            return
        try:
            inst.nat = State(inst.quote["seg"], key[1], inst.tick, inst.dp)
        except ValueError:  # an odd segment name or security id: the Python path keeps it
            return
        inst.nat.current = False
        self._core.add(key[0], key[1], inst.nat)

    def process(
        self, packets: list[Packet], recv_ts: float,
        quotes: list[bytes], ticks: list[bytes], depth: list[bytes],
    ) -> None:
        state = self._state
        rules = self._rules
        ltt_max = recv_ts + _AHEAD
        for p in packets:
            code = p[CODE]
            inst = state.get((p[SEGMENT], p[SECURITY_ID]))
            if inst is None:
                if code in (_STATUS, _DISCONNECT):  # they carry no instrument
                    self._meta(p)
                    continue
                inst = self._inst(p[SEGMENT], p[SECURITY_ID])
            nat = inst.nat
            if nat is not None and nat.current:  # the native copy is the truth: take it
                inst.to_python()
            q = inst.quote
            rnd = inst.rnd
            # Each branch computes (and so checks) every value first and changes state only after that.
            try:
                if code == _FULL:
                    self._full(inst, p, q, rnd, recv_ts, ltt_max, quotes, ticks, depth)
                elif code == _QUOTE:
                    ltp = rnd(p[QUOTE_LTP])
                    atp, op, cl = rnd(p[QUOTE_ATP]), rnd(p[QUOTE_OPEN]), rnd(p[QUOTE_CLOSE])
                    hi, lo = rnd(p[QUOTE_HIGH]), rnd(p[QUOTE_LOW])
                    ltq, ltt, volume = p[QUOTE_LTQ], p[QUOTE_LTT], p[QUOTE_VOLUME]
                    qty = rules.admit(inst, volume, ltt, ltp, ltt_max)
                    if qty:
                        self._trade(inst, q, ltp, ltq, ltt, volume, qty, q["oi"], q["bid"], q["ask"], recv_ts, ticks)
                    q["ltp"] = ltp; q["ltq"] = ltq; q["exchange_ts"] = ltt; q["atp"] = atp; q["volume"] = volume
                    q["tsq"] = p[QUOTE_TOTAL_SELL_QTY]; q["tbq"] = p[QUOTE_TOTAL_BUY_QTY]; q["open"] = op
                    q["close"] = cl; q["high"] = hi; q["low"] = lo; q["recv_ts"] = recv_ts; q["src"] = code
                    quotes.append(_DUMPS(q))
                elif code == _TICKER:
                    ltp = rnd(p[TICKER_LTP])
                    ltt = p[TICKER_LTT]
                    if not LTT_FLOOR <= ltt <= ltt_max and ltt:  # 0: no trade yet
                        raise BadValue("ltt_future" if ltt > ltt_max else "ltt_past", ltt)
                    if ltt > rules.exchange_ts:
                        rules.advance(ltt)
                    q["ltp"] = ltp; q["exchange_ts"] = ltt; q["recv_ts"] = recv_ts; q["src"] = code
                    quotes.append(_DUMPS(q))
                elif code == _OI:
                    q["oi"] = p[OI_OI]; q["recv_ts"] = recv_ts; q["src"] = code
                    quotes.append(_DUMPS(q))
                elif code == _PREV:
                    q["prev_close"] = rnd(p[PREV_CLOSE_PREV_CLOSE]); q["prev_oi"] = p[PREV_CLOSE_PREV_OI]
                    q["recv_ts"] = recv_ts; q["src"] = code
                    quotes.append(_DUMPS(q))
                elif code == _DEPTH:
                    self._depth_v1(p, q, rnd, recv_ts, quotes, depth)
                else:
                    self._meta(p)
            except BadValue as bad:
                self._bad(bad, code, p[SEGMENT], p[SECURITY_ID])
            if nat is not None:
                inst.to_native()

    def _full(self, inst: Instrument, p: Packet, q: dict[str, Any], rnd: Callable[[float], float], recv_ts: float,
              ltt_max: float, quotes: list[bytes], ticks: list[bytes], depth: list[bytes]) -> None:
        """The full packet (code 8) on the Python path: where the native path is not built, or refused it."""
        ltp = rnd(p[FULL_LTP])
        atp, op, cl = rnd(p[FULL_ATP]), rnd(p[FULL_OPEN]), rnd(p[FULL_CLOSE])
        hi, lo = rnd(p[FULL_HIGH]), rnd(p[FULL_LOW])
        bids, asks, bid, ask = full_book(p, rnd)
        ltq, ltt, volume, oi = p[FULL_LTQ], p[FULL_LTT], p[FULL_VOLUME], p[FULL_OI]
        qty = self._rules.admit(inst, volume, ltt, ltp, ltt_max)
        if qty:
            self._trade(inst, q, ltp, ltq, ltt, volume, qty, oi, bid, ask, recv_ts, ticks)
        seg, sid = q["seg"], q["sid"]
        inst.quote = {
            "v": 1, "seg": seg, "sid": sid, "ltp": ltp, "ltq": ltq, "exchange_ts": ltt, "atp": atp,
            "volume": volume, "tsq": p[FULL_TOTAL_SELL_QTY], "tbq": p[FULL_TOTAL_BUY_QTY], "oi": oi,
            "oi_high": p[FULL_OI_HIGH], "oi_low": p[FULL_OI_LOW], "open": op, "close": cl, "high": hi, "low": lo,
            "prev_close": q["prev_close"], "prev_oi": q["prev_oi"], "bid": bid, "ask": ask, "recv_ts": recv_ts,
            "src": _FULL,
        }
        quotes.append(_DUMPS(inst.quote))
        depth.append(_DUMPS({"v": 1, "seg": seg, "sid": sid, "exchange_ts": ltt, "recv_ts": recv_ts,
                             "bids": bids, "asks": asks}))

    def _depth_v1(self, p: Packet, q: dict[str, Any], rnd: Callable[[float], float], recv_ts: float,
                  quotes: list[bytes], depth: list[bytes]) -> None:
        """The v1 market-depth packet (code 3): LTP and five levels, no exchange time."""
        ltp = rnd(p[DEPTH_LTP])
        bids, asks, bid, ask = depth_v1_book(p, rnd)
        q["ltp"] = ltp; q["recv_ts"] = recv_ts; q["src"] = _DEPTH; q["bid"] = bid; q["ask"] = ask
        quotes.append(_DUMPS(q))
        depth.append(_DUMPS({"v": 1, "seg": q["seg"], "sid": q["sid"], "exchange_ts": q["exchange_ts"],
                             "recv_ts": recv_ts, "bids": bids, "asks": asks}))

    def feed_frame(
        self, decoder: Decoder, frame: bytes, recv_ts: float,
        quotes: list[bytes], ticks: list[bytes], depth: list[bytes],
    ) -> None:
        """Decode and normalise one WebSocket frame. A frame of one ticker, quote, OI, previous-close or full
        packet takes the native path when built and the instrument's state is held there.

        The native path handles good packets and the trade rules' common cases only. A frame it refuses (a bad
        value, a crossed book, a first packet, a new session) and an instrument whose tick it cannot print
        exactly go the reference Python path, which decides and counts.
        """
        core = self._core
        if core is not None and core.feed(frame, recv_ts, quotes, ticks, depth):
            stats = decoder.stats
            stats.frames += 1
            stats.packets += 1
            return
        packets = decoder.decode(frame)
        if packets:
            self.process(packets, recv_ts, quotes, ticks, depth)

    @staticmethod
    def _trade(
        inst: Instrument, q: dict[str, Any], ltp: float, ltq: int, ltt: int, volume: int, qty: int, oi: int | None,
        bid: float | None, ask: float | None, recv_ts: float, ticks: list[bytes],
    ) -> None:
        # Classify against the book as it stood before this trade, then by tick rule.
        # ``rule`` says which one decided (viz.models.aggressor.classify_trade is the same rule, for re-inference).
        pbid, pask = q["bid"], q["ask"]
        if pask is not None and ltp >= pask:
            side, rule = "B", "q"
        elif pbid is not None and ltp <= pbid:
            side, rule = "S", "q"
        elif ltp > inst.last_trade_price:
            side, rule = "B", "t"
        elif ltp < inst.last_trade_price:
            side, rule = "S", "t"
        else:
            side = rule = ""
        inst.last_trade_price = ltp
        ticks.append(_DUMPS({
            "v": 1, "seg": q["seg"], "sid": q["sid"], "ltp": ltp, "qty": qty, "ltq": ltq,
            "volume": volume, "exchange_ts": ltt, "oi": oi, "side": side, "rule": rule, "bid": bid, "ask": ask,
            "recv_ts": recv_ts,
        }))

    def _bad(self, bad: BadValue, code: int, seg_code: int, sid: int) -> None:
        kind = bad.kind
        self.bad_values[kind] += 1
        if self._on_bad is not None and kind not in self._reported:
            self._reported.add(kind)
            self._on_bad(kind, {"seg": SEGMENT_BY_CODE.get(seg_code, str(seg_code)), "sid": sid, "code": code,
                                "value": repr(bad.value)})

    def _meta(self, p: Packet) -> None:
        if p[CODE] == _STATUS:
            self.status_packets += 1
        elif p[CODE] == _DISCONNECT:
            self.disconnect_reasons.append(p[DISCONNECT_REASON])
