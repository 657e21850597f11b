"""The journal decoded back into trades and last quotes, as the live feed derived them (``dhan verify``'s first
pass, pure apart from reading the files).

The journal is decoded with the feed's own :class:`Decoder` and :class:`Normaliser`, mirroring the live feed
from the journal's meta records: a new session resets them, ``universe`` records set tick sizes and make the
normaliser forget instruments that left (as the feed does), so the trades derived here are the very trades
the feed published. :func:`scan_journal` keeps, per (instrument, trading day), three integers and a receive
time per trade (:class:`DayTrades`), and the last quote per instrument; given ``want`` (the keys of missing
trades, for the repair) it keeps only those trades' events. :func:`trade_recv_ts` maps trades back to the
receive time of the frame that carried them.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

from feed.instruments.parse import MAX_TICK_RS, MIN_TICK_RS
from feed.journal import KIND_FRAMES, KIND_META, JournalReader, ReadStats
from feed.normalise import DEFAULT_TICK, Normaliser
from feed.protocol.constants import SEGMENT_BY_NAME
from feed.protocol.decode import Decoder

__all__ = [
    "EPOCH", "DayTrades", "JournalScan", "TickKey", "TradeKey", "day_of", "day_text", "scan_journal", "trade_recv_ts",
]  # fmt: skip

TickKey = tuple[str, int, int]  # (segment, security id, trading day as days since 1970-01-01)
TradeKey = tuple[str, int, int, int]  # TickKey + cumulative volume: one trade (dhan_ticks' natural key)
EPOCH = date(1970, 1, 1)


def day_of(exchange_ts: int) -> int:
    """Trading day of Dhan's exchange time (IST wall time counted as UTC), as days since 1970-01-01."""
    return exchange_ts // 86_400


def day_text(day: int) -> str:
    return (EPOCH + timedelta(days=day)).isoformat()


@dataclass(slots=True)
class DayTrades:
    """The journal's trades of one instrument and day: cumulative volume, price (1/10000), quantity, and the
    receive time (epoch s) of the frame that carried each."""

    cum: array[int] = field(default_factory=lambda: array("q"))
    px4: array[int] = field(default_factory=lambda: array("q"))
    qty: array[int] = field(default_factory=lambda: array("q"))
    recv_ts: array[float] = field(default_factory=lambda: array("d"))


@dataclass(slots=True)
class JournalScan:
    files: list[str] = field(default_factory=list)
    read: ReadStats = field(default_factory=ReadStats)
    frames: int = 0
    bad_packets: int = 0
    sessions: int = 0
    trades: dict[TickKey, DayTrades] = field(default_factory=dict)
    trade_count: int = 0
    last_quotes: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    tick_sizes: dict[tuple[int, int], float] = field(default_factory=dict)
    wanted_events: list[bytes] = field(default_factory=list)  # repair pass: the missing trades' events
    elapsed_s: float = 0.0


class _Mirror:
    """Decoder + Normaliser driven by the journal's records as the live feed drove them."""

    def __init__(self, scan: JournalScan) -> None:
        self.scan = scan
        self.decoder = Decoder()
        self.norm = Normaliser(scan.tick_sizes)

    def snapshot_quotes(self, keys: Iterable[tuple[int, int]] | None = None) -> None:
        norm = self.norm
        for code, sid in list(norm.first_seen if keys is None else keys):
            state = norm.quote_state(code, sid)
            if state is not None and state.get("recv_ts") is not None:
                self.scan.last_quotes[(state["seg"], sid)] = state

    def reset(self) -> None:
        self.snapshot_quotes()
        self.scan.frames += self.decoder.stats.frames
        self.scan.bad_packets += self.decoder.stats.bad
        self.decoder = Decoder()
        self.norm = Normaliser(self.scan.tick_sizes)

    def meta(self, meta: dict[str, Any]) -> None:
        kind = meta.get("type")
        if kind == "session":
            self.scan.sessions += 1
            if not meta.get("continued"):
                self.reset()
        elif kind == "universe":
            sizes: dict[tuple[int, int], float] = {}
            added = meta.get("added")
            for rec in (added.values() if isinstance(added, dict) else ()):
                if not isinstance(rec, dict) or not isinstance(rec.get("sid"), int):
                    continue
                code = SEGMENT_BY_NAME.get(str(rec.get("seg")))
                if code is not None:
                    sizes[(code, rec["sid"])] = _recorded_tick(rec.get("tick_size"))
            self.scan.tick_sizes.update(sizes)
            self.norm.set_tick_sizes(sizes)
            gone: list[tuple[int, int]] = []
            removed = meta.get("removed")
            for text in (removed if isinstance(removed, list) else ()):
                seg, _, digits = str(text).partition(":")
                if seg in SEGMENT_BY_NAME and digits.isascii() and digits.isdigit() and len(digits) <= 10:
                    gone.append((SEGMENT_BY_NAME[seg], int(digits)))
            self.snapshot_quotes(gone)
            for seg_code, sid in gone:
                self.norm.forget(seg_code, sid)


def _recorded_tick(value: Any) -> float:
    """A universe record's tick size; the default when it is not a usable one (a damaged or hostile journal
    may hold text, 0, a negative, or a size whose inverse overflows the normaliser's rounding)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and MIN_TICK_RS <= value <= MAX_TICK_RS:
        return float(value)
    return DEFAULT_TICK



def scan_journal(
    paths: Sequence[str | Path], *, want: set[TradeKey] | None = None
) -> JournalScan:
    """Decode the journal(s) in order. With ``want`` (keys of missing trades), keep those trades' events."""
    t0 = time.perf_counter()
    scan = JournalScan(files=[str(p) for p in paths])
    mirror = _Mirror(scan)
    quotes: list[bytes] = []
    ticks: list[bytes] = []
    depth: list[bytes] = []
    for path in paths:
        reader = JournalReader(path)
        for block in reader.blocks():
            if block.kind == KIND_META:
                assert block.meta is not None
                mirror.meta(block.meta)
                continue
            if block.kind != KIND_FRAMES:  # the depth feeds' frames: no trades or quotes in them
                continue
            feed_frame = mirror.norm.feed_frame
            decoder = mirror.decoder
            for ts, frame in block.records:
                feed_frame(decoder, frame, ts, quotes, ticks, depth)
                if ticks:
                    _take_trades(scan, ticks, ts, want)
                    ticks.clear()
                quotes.clear()
                depth.clear()
        _add_read_stats(scan.read, reader.stats)
    mirror.reset()
    scan.elapsed_s = time.perf_counter() - t0
    return scan


def _take_trades(scan: JournalScan, ticks: list[bytes], ts: float, want: set[TradeKey] | None) -> None:
    """One frame's trade events: kept as numbers, or (with ``want``) as the wanted events themselves."""
    loads = orjson.loads
    trades = scan.trades
    for raw in ticks:
        ev = loads(raw)
        key = (ev["seg"], ev["sid"], day_of(ev["exchange_ts"]))
        if want is not None:
            if (*key, ev["volume"]) in want:
                scan.wanted_events.append(raw)
            continue
        day = trades.get(key)
        if day is None:
            day = trades[key] = DayTrades()
        day.cum.append(ev["volume"])
        day.px4.append(round(ev["ltp"] * 10000))
        day.qty.append(ev["qty"])
        day.recv_ts.append(ts)
        scan.trade_count += 1


def _add_read_stats(total: ReadStats, st: ReadStats) -> None:
    total.blocks += st.blocks
    total.frames += st.frames
    total.metas += st.metas
    total.corrupt_blocks += st.corrupt_blocks
    total.torn_tail_bytes += st.torn_tail_bytes
    total.bytes_read += st.bytes_read


def trade_recv_ts(scan: JournalScan, keys: Iterable[TradeKey]) -> dict[TradeKey, float]:
    """Receive time of the (first) journal frame that carried each trade in ``keys``; keys the journal does not
    hold are left out."""
    by_day: dict[TickKey, list[int]] = {}
    for seg, sid, day, cum in keys:
        by_day.setdefault((seg, sid, day), []).append(cum)
    out: dict[TradeKey, float] = {}
    for tick_key, cums in by_day.items():
        trades = scan.trades.get(tick_key)
        if trades is None:
            continue
        first: dict[int, float] = {}
        for cum, ts in zip(trades.cum, trades.recv_ts, strict=True):
            first.setdefault(cum, ts)
        for cum in cums:
            if cum in first:
                out[(*tick_key, cum)] = first[cum]
    return out
