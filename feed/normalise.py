"""Packets -> normalised events (pure; the hot path after decoding).

The normaliser keeps each instrument's merged latest state, so every quote event it emits is complete even
though Dhan splits state across packet types (prev close at subscribe, OI in its own packet in quote mode).
Outputs are orjson-encoded event bytes appended to three lists the caller owns (quotes, ticks, depth), so
the publisher sends them without encoding again.

A trade is emitted when an instrument's cumulative volume rises; its ``qty`` is the rise (which may cover
several exchange trades between two packets: Dhan sends snapshots, not every print). The first packet of a
session only sets the baseline. ``side`` classifies the trade against the best bid/ask seen before it (at or
above the ask: "B", at or below the bid: "S"), else by tick rule against the previous trade price.

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

import struct
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from feed.prices import (
    BAD_VALUE_KINDS,
    DEFAULT_TICK,
    BadValue,
    decimals,
    native_tick,
    price_rounder,
    shared_rounder,
    usable_tick,
)
from feed.protocol.constants import SEGMENT_BY_CODE, ResponseCode
from feed.protocol.decode import Decoder, Packet
from shared.clock import IST_OFFSET_S
from shared.events import PRICE_MAX

try:  # optional native fast path for full packets (feed/_fastfeed.c); same events, ~3x faster
    from feed._fastfeed import encode_full as _encode_full
except ImportError:  # pragma: no cover - exercised where no compiler was available at install
    _encode_full = None

__all__ = [
    "BAD_VALUE_KINDS", "DEFAULT_TICK", "FAST_PATH_AVAILABLE", "LTT_AHEAD_MAX_S", "LTT_FLOOR", "PRICE_MAX",
    "TRADE_LTT_BEHIND_MAX_S", "BadSink", "Normaliser", "price_rounder",
]

FAST_PATH_AVAILABLE = _encode_full is not None
LTT_FLOOR = 1_577_836_800  # 2020-01-01 00:00 in Dhan's epoch (IST wall time counted as UTC)
LTT_AHEAD_MAX_S = 86_400
TRADE_LTT_BEHIND_MAX_S = 86_400
_DAY_S = 86_400
_AHEAD = IST_OFFSET_S + LTT_AHEAD_MAX_S  # receive time (true epoch) -> latest acceptable Dhan-epoch LTT
_FULL_SIZE = 162
_U32 = struct.Struct("<I")

_DUMPS = orjson.dumps
_TICKER = int(ResponseCode.TICKER)
_QUOTE = int(ResponseCode.QUOTE)
_FULL = int(ResponseCode.FULL)
_OI = int(ResponseCode.OI)
_PREV = int(ResponseCode.PREV_CLOSE)
_DEPTH = int(ResponseCode.MARKET_DEPTH)

BadSink = Callable[[str, dict[str, Any]], None]


class _Inst:
    """Per-instrument state: the merged quote dict, tick rounding, trade baseline."""

    __slots__ = ("dp", "full_json", "last_trade_price", "native", "quote", "rnd", "tick", "vol", "vol_ltt")

    def __init__(self, seg: str, sid: int, tick: float) -> None:
        self.full_json: bytes | None = None  # set by the native path: the merged state lives in this JSON
        self.vol = -1  # cumulative volume baseline; -1 = none yet
        self.vol_ltt = 0  # the LTT of the baseline's packet (its trading day: // 86400)
        self.last_trade_price = 0.0
        self.set_tick(tick)
        self.quote: dict[str, Any] = {
            "v": 1, "seg": seg, "sid": sid, "ltp": None, "ltq": None, "exchange_ts": None, "atp": None,
            "volume": None, "tsq": None, "tbq": None, "oi": None, "oi_high": None, "oi_low": None,
            "open": None, "close": None, "high": None, "low": None, "prev_close": None, "prev_oi": None,
            "bid": None, "ask": None, "recv_ts": None, "src": None,
        }

    def set_tick(self, tick: float) -> None:
        self.tick = usable_tick(tick)
        self.dp = decimals(self.tick)
        self.rnd = shared_rounder(self.tick)
        self.native = native_tick(self.tick, self.dp)


class Normaliser:
    """Turns decoded packets into encoded quote, tick and depth events; drops and counts bad packets."""

    def __init__(self, tick_sizes: Mapping[tuple[int, int], float] | None = None, *, fast: bool = True,
                 on_bad: BadSink | None = None) -> None:
        self._ticks: dict[tuple[int, int], float] = dict(tick_sizes or {})
        self.fast = fast and FAST_PATH_AVAILABLE
        self._state: dict[tuple[int, int], _Inst] = {}
        self.first_seen: set[tuple[int, int]] = set()
        self.status_packets = 0
        self.disconnect_reasons: list[int] = []
        self.bad_values: dict[str, int] = dict.fromkeys(BAD_VALUE_KINDS, 0)
        self._on_bad = on_bad
        self._reported: set[str] = set()
        self._exchange_ts = 0  # newest LTT accepted so far: the exchange's clock as the data tells it
        self._trade_ltt_min = LTT_FLOOR

    @property
    def bad_total(self) -> int:
        return sum(self.bad_values.values())

    def set_tick_sizes(self, tick_sizes: Mapping[tuple[int, int], float]) -> None:
        """Add/replace tick sizes (by (segment code, security id)); existing state picks them up."""
        self._ticks.update(tick_sizes)
        for key, inst in self._state.items():
            if key in tick_sizes:
                inst.set_tick(tick_sizes[key])

    def last_price(self, seg_code: int, sid: int) -> float | None:
        inst = self._state.get((seg_code, sid))
        if inst is None:
            return None
        q = inst.quote
        price: float | None = q["ltp"] if q["ltp"] else q["prev_close"]
        return price

    def quote_state(self, seg_code: int, sid: int) -> dict[str, Any] | None:
        inst = self._state.get((seg_code, sid))
        if inst is None:
            return None
        return orjson.loads(inst.full_json) if inst.full_json is not None else dict(inst.quote)

    def forget(self, seg_code: int, sid: int) -> None:
        self._state.pop((seg_code, sid), None)
        self.first_seen.discard((seg_code, sid))

    def _inst(self, seg_code: int, sid: int) -> _Inst:
        key = (seg_code, sid)
        inst = _Inst(SEGMENT_BY_CODE.get(seg_code, str(seg_code)), sid, self._ticks.get(key, DEFAULT_TICK))
        self._state[key] = inst
        self.first_seen.add(key)
        return inst

    def process(
        self, packets: list[Packet], recv_ts: float,
        quotes: list[bytes], ticks: list[bytes], depth: list[bytes],
    ) -> None:
        state = self._state
        ltt_max = recv_ts + _AHEAD
        for p in packets:
            code = p[0]
            inst = state.get((p[2], p[3]))
            if inst is None:
                if code == 7 or code == 50:  # market status / disconnect carry no instrument
                    self._meta(p)
                    continue
                inst = self._inst(p[2], p[3])
            if inst.full_json is not None:  # state last set by the native path: materialise it
                inst.quote = orjson.loads(inst.full_json)
                inst.full_json = None
            q = inst.quote
            rnd = inst.rnd
            # Each branch computes (and so checks) every value first and changes state only after that.
            try:
                if code == _FULL:
                    self._full(inst, p, q, rnd, recv_ts, ltt_max, quotes, ticks, depth)
                elif code == _QUOTE:
                    ltp = rnd(p[4])
                    atp, op, cl, hi, lo = rnd(p[7]), rnd(p[11]), rnd(p[12]), rnd(p[13]), rnd(p[14])
                    qty = self._admit(inst, p[8], p[6], ltp, ltt_max)
                    if qty:
                        self._trade(inst, q, ltp, p[5], p[6], p[8], qty, q["oi"], q["bid"], q["ask"], recv_ts,
                                    ticks)
                    q["ltp"] = ltp; q["ltq"] = p[5]; q["exchange_ts"] = p[6]; q["atp"] = atp
                    q["volume"] = p[8]; q["tsq"] = p[9]; q["tbq"] = p[10]; q["open"] = op
                    q["close"] = cl; q["high"] = hi; q["low"] = lo
                    q["recv_ts"] = recv_ts; q["src"] = code
                    quotes.append(_DUMPS(q))
                elif code == _TICKER:
                    ltp = rnd(p[4])
                    ltt = p[5]
                    if not LTT_FLOOR <= ltt <= ltt_max and ltt:  # 0: no trade yet
                        raise BadValue("ltt_future" if ltt > ltt_max else "ltt_past", ltt)
                    if ltt > self._exchange_ts:
                        self._advance_exchange_ts(ltt)
                    q["ltp"] = ltp; q["exchange_ts"] = ltt; q["recv_ts"] = recv_ts; q["src"] = code
                    quotes.append(_DUMPS(q))
                elif code == _OI:
                    q["oi"] = p[4]; q["recv_ts"] = recv_ts; q["src"] = code
                    quotes.append(_DUMPS(q))
                elif code == _PREV:
                    q["prev_close"] = rnd(p[4]); q["prev_oi"] = p[5]; q["recv_ts"] = recv_ts; q["src"] = code
                    quotes.append(_DUMPS(q))
                elif code == _DEPTH:
                    self._depth_v1(p, q, rnd, recv_ts, quotes, depth)
                else:
                    self._meta(p)
            except BadValue as bad:
                self._bad(bad, code, p[2], p[3])

    def _full(self, inst: _Inst, p: Packet, q: dict[str, Any], rnd: Callable[[float], float], recv_ts: float,
              ltt_max: float, quotes: list[bytes], ticks: list[bytes], depth: list[bytes]) -> None:
        """The full packet (code 8) on the Python path: where the native path is not built, or refused it."""
        ltp = rnd(p[4])
        atp, op, cl, hi, lo = rnd(p[7]), rnd(p[14]), rnd(p[15]), rnd(p[16]), rnd(p[17])
        bids = [[rnd(p[22]), p[18], p[20]], [rnd(p[28]), p[24], p[26]], [rnd(p[34]), p[30], p[32]],
                [rnd(p[40]), p[36], p[38]], [rnd(p[46]), p[42], p[44]]]
        asks = [[rnd(p[23]), p[19], p[21]], [rnd(p[29]), p[25], p[27]], [rnd(p[35]), p[31], p[33]],
                [rnd(p[41]), p[37], p[39]], [rnd(p[47]), p[43], p[45]]]
        if p[22] > p[23] > 0.0:
            raise BadValue("depth_crossed", p[22])
        bid = bids[0][0] if p[18] or p[22] else None
        ask = asks[0][0] if p[19] or p[23] else None
        qty = self._admit(inst, p[8], p[6], ltp, ltt_max)
        if qty:
            self._trade(inst, q, ltp, p[5], p[6], p[8], qty, p[11], bid, ask, recv_ts, ticks)
        seg, sid = q["seg"], q["sid"]
        inst.quote = {
            "v": 1, "seg": seg, "sid": sid, "ltp": ltp, "ltq": p[5], "exchange_ts": p[6], "atp": atp,
            "volume": p[8], "tsq": p[9], "tbq": p[10], "oi": p[11], "oi_high": p[12], "oi_low": p[13],
            "open": op, "close": cl, "high": hi, "low": lo, "prev_close": q["prev_close"], "prev_oi": q["prev_oi"],
            "bid": bid, "ask": ask, "recv_ts": recv_ts, "src": p[0],
        }
        quotes.append(_DUMPS(inst.quote))
        depth.append(_DUMPS({"v": 1, "seg": seg, "sid": sid, "exchange_ts": p[6], "recv_ts": recv_ts,
                             "bids": bids, "asks": asks}))

    def _depth_v1(self, p: Packet, q: dict[str, Any], rnd: Callable[[float], float], recv_ts: float,
                  quotes: list[bytes], depth: list[bytes]) -> None:
        """The v1 market-depth packet (code 3): LTP and five levels, no exchange time."""
        ltp = rnd(p[4])
        bids = [[rnd(p[i + 4]), p[i], p[i + 2]] for i in (5, 11, 17, 23, 29)]
        asks = [[rnd(p[i + 5]), p[i + 1], p[i + 3]] for i in (5, 11, 17, 23, 29)]
        if p[9] > p[10] > 0.0:
            raise BadValue("depth_crossed", p[9])
        q["ltp"] = ltp; q["recv_ts"] = recv_ts; q["src"] = p[0]
        q["bid"] = bids[0][0] if p[5] or p[9] else None
        q["ask"] = asks[0][0] if p[6] or p[10] else None
        quotes.append(_DUMPS(q))
        depth.append(_DUMPS({"v": 1, "seg": q["seg"], "sid": q["sid"], "exchange_ts": q["exchange_ts"],
                             "recv_ts": recv_ts, "bids": bids, "asks": asks}))

    def feed_frame(
        self, decoder: Decoder, frame: bytes, recv_ts: float,
        quotes: list[bytes], ticks: list[bytes], depth: list[bytes],
    ) -> None:
        """Decode and normalise one WebSocket frame; a lone full packet takes the native path when built.

        The native path encodes good packets only; a full packet it refuses (a bad price, a crossed book)
        and an instrument whose tick it cannot print exactly go the reference Python path, which counts.
        """
        if self.fast and len(frame) == _FULL_SIZE and frame[0] == _FULL:
            key = (frame[3], _U32.unpack_from(frame, 4)[0])
            inst = self._state.get(key)
            if inst is None:
                inst = self._inst(*key)
            q = inst.quote
            res = _encode_full(frame, 0, inst.tick, inst.dp, q["seg"], recv_ts, q["prev_close"], q["prev_oi"]
                               ) if inst.native else None
            if res is not None:
                stats = decoder.stats
                stats.frames += 1
                stats.packets += 1
                qj, dj, ltp, ltq, ltt, vol, oi, bid, ask = res
                try:
                    qty = self._admit(inst, vol, ltt, ltp, recv_ts + _AHEAD)
                except BadValue as bad:
                    self._bad(bad, _FULL, key[0], key[1])
                    return
                if qty:
                    self._trade(inst, q, ltp, ltq, ltt, vol, qty, oi, bid, ask, recv_ts, ticks)
                # keep what the trade rule and last_price() read; the rest lives in full_json
                q["ltp"] = ltp; q["bid"] = bid; q["ask"] = ask; q["volume"] = vol; q["exchange_ts"] = ltt
                inst.full_json = qj
                quotes.append(qj)
                depth.append(dj)
                return
        packets = decoder.decode(frame)
        if packets:
            self.process(packets, recv_ts, quotes, ticks, depth)

    def _admit(self, inst: _Inst, volume: int, ltt: int, ltp: float, ltt_max: float) -> int:
        """The exchange-time and volume rules of a packet with a cumulative volume (quote, full), checked last.

        Returns the traded quantity (0: no trade) and moves the baseline; raises :class:`BadValue`.
        """
        prev = inst.vol
        if volume > prev >= 0 and self._trade_ltt_min <= ltt <= ltt_max:  # a trade: the common case first
            inst.vol = volume
            inst.vol_ltt = ltt
            if ltt > self._exchange_ts:
                self._advance_exchange_ts(ltt)
            return volume - prev
        if volume == prev and LTT_FLOOR <= ltt <= ltt_max:  # a book update
            return 0
        return self._admit_rare(inst, volume, ltt, ltp, ltt_max)

    def _admit_rare(self, inst: _Inst, volume: int, ltt: int, ltp: float, ltt_max: float) -> int:
        """:meth:`_admit` for the first packet, a new session, an LTT of 0 and every bad value."""
        if ltt > ltt_max:
            raise BadValue("ltt_future", ltt)
        prev = inst.vol
        if volume < prev:
            if ltt // _DAY_S <= inst.vol_ltt // _DAY_S:
                raise BadValue("volume_back", volume)
            prev = 0  # a later trading day: the next session
        if volume > prev >= 0:
            if ltt < self._trade_ltt_min:
                raise BadValue("ltt_past", ltt)
        elif 0 < ltt < LTT_FLOOR:
            raise BadValue("ltt_past", ltt)
        if ltt > self._exchange_ts:
            self._advance_exchange_ts(ltt)
        if prev < 0:  # the first packet: only the baseline
            inst.vol = volume
            inst.vol_ltt = ltt
            inst.last_trade_price = ltp
            return 0
        if volume <= prev:
            if prev == 0 and inst.vol:  # the next session, before its first trade
                inst.vol = 0
                inst.vol_ltt = ltt
            return 0
        inst.vol = volume
        inst.vol_ltt = ltt
        return volume - prev

    def _advance_exchange_ts(self, ltt: int) -> None:
        self._exchange_ts = ltt
        self._trade_ltt_min = max(LTT_FLOOR, ltt - TRADE_LTT_BEHIND_MAX_S)

    @staticmethod
    def _trade(
        inst: _Inst, q: dict[str, Any], ltp: float, ltq: int, ltt: int, volume: int, qty: int, oi: int | None,
        bid: float | None, ask: float | None, recv_ts: float, ticks: list[bytes],
    ) -> None:
        # Classify against the book as it stood before this trade, then by tick rule.
        pbid, pask = q["bid"], q["ask"]
        if pask is not None and ltp >= pask:
            side = "B"
        elif pbid is not None and ltp <= pbid:
            side = "S"
        elif ltp > inst.last_trade_price:
            side = "B"
        elif ltp < inst.last_trade_price:
            side = "S"
        else:
            side = ""
        inst.last_trade_price = ltp
        ticks.append(_DUMPS({
            "v": 1, "seg": q["seg"], "sid": q["sid"], "ltp": ltp, "qty": qty, "ltq": ltq,
            "volume": volume, "exchange_ts": ltt, "oi": oi, "side": side, "bid": bid, "ask": ask,
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
        if p[0] == 7:
            self.status_packets += 1
        elif p[0] == 50:
            self.disconnect_reasons.append(p[4])
