"""When a packet with a cumulative volume (quote, full) is a trade, and of what quantity. Pure; the hot path.

A trade is a rise of an instrument's cumulative volume; its quantity is the rise (which may cover several
exchange trades between two packets: Dhan sends snapshots, not every print). The first packet of a session only
sets the baseline. The exchange-time and volume rules (``ltt_future``, ``ltt_past``, ``volume_back``: see the
table in :mod:`feed.normalise`) are checked here, last, after every other value of the packet; a packet that
breaks one raises :class:`~feed.prices.BadValue` and changes nothing.
"""

from __future__ import annotations

from typing import Protocol

from feed.prices import BadValue

__all__ = ["LTT_FLOOR", "TRADE_LTT_BEHIND_MAX_S", "Baseline", "TradeRules"]

LTT_FLOOR = 1_577_836_800  # 2020-01-01 00:00 in Dhan's epoch (IST wall time counted as UTC)
TRADE_LTT_BEHIND_MAX_S = 86_400
_DAY_S = 86_400


class Baseline(Protocol):
    """An instrument's trade baseline (the normaliser's per-instrument state)."""

    vol: int  # cumulative volume of the last accepted packet; -1: none yet
    vol_ltt: int  # the LTT of that packet (its trading day: // 86400)
    last_trade_price: float


class TradeRules:
    """The volume baselines' rules, and the exchange's clock as the data tells it (the newest LTT accepted)."""

    __slots__ = ("exchange_ts", "trade_ltt_min")

    def __init__(self) -> None:
        self.exchange_ts = 0  # newest LTT accepted so far
        self.trade_ltt_min = LTT_FLOOR  # a trade older than this (TRADE_LTT_BEHIND_MAX_S behind) is ltt_past

    def admit(self, inst: Baseline, volume: int, ltt: int, ltp: float, ltt_max: float) -> int:
        """The traded quantity of a packet (0: no trade), the baseline moved; raises :class:`BadValue`."""
        prev = inst.vol
        if volume > prev >= 0 and self.trade_ltt_min <= ltt <= ltt_max:  # a trade: the common case first
            inst.vol = volume
            inst.vol_ltt = ltt
            if ltt > self.exchange_ts:
                self.advance(ltt)
            return volume - prev
        if volume == prev and LTT_FLOOR <= ltt <= ltt_max:  # a book update
            return 0
        return self._admit_rare(inst, volume, ltt, ltp, ltt_max)

    def advance(self, ltt: int) -> None:
        """A newer exchange time was accepted."""
        self.exchange_ts = ltt
        self.trade_ltt_min = max(LTT_FLOOR, ltt - TRADE_LTT_BEHIND_MAX_S)

    def _admit_rare(self, inst: Baseline, volume: int, ltt: int, ltp: float, ltt_max: float) -> int:
        """:meth:`admit` for the first packet, a new session, an LTT of 0 and every bad value."""
        if ltt > ltt_max:
            raise BadValue("ltt_future", ltt)
        prev = inst.vol
        if volume < prev:
            if ltt // _DAY_S <= inst.vol_ltt // _DAY_S:
                raise BadValue("volume_back", volume)
            prev = 0  # a later trading day: the next session
        if volume > prev >= 0:
            if ltt < self.trade_ltt_min:
                raise BadValue("ltt_past", ltt)
        elif 0 < ltt < LTT_FLOOR:
            raise BadValue("ltt_past", ltt)
        if ltt > self.exchange_ts:
            self.advance(ltt)
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
