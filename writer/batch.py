"""Stream entries -> rows, pure: decode, validate, collapse and aggregate one batch (no I/O).

Rows are rendered here as SQL value tuples (ASCII text) because this is the writer's hot path: one format
per row is about 40 % cheaper than the driver's generic escaping, and validates as it goes. Every value is
checked for its exact type and its column's range before it is used (:mod:`writer.values`), then rendered
as a number, NULL, or a quoted literal from a validated cache (segments, sides, dates): no text from an
event reaches SQL unchecked. An entry that fails, for whatever reason, is a :class:`Poison` with a one-line
reason; the rest of the batch goes on.

Per batch: quotes, depth and greeks collapse to the newest per instrument (the order of the forward-only
upserts in ``sql.py``); ticks are deduplicated on their natural key (instrument, trade day, cum volume)
and folded into per-(instrument, day) summary increments and per-(instrument, minute) candle increments
(:mod:`writer.candle_rows`). Prices go out with four decimals (currency
ticks are 0.0025), receive times with six. Ticks' prices are kept as integer ten-thousandths, so turnover
(sum of price x qty, hence vwap) is exact.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson

from shared.events import EVENT_VERSION
from writer.candle_rows import candle_rows
from writer.depth20 import Depth20Rows
from writer.oi_close import oi_close_row
from writer.summary_rows import TickItem, TickKey, fold_summary
from writer.values import (
    NPRICE,
    NU32,
    NU64,
    NUMBER,
    RECV_TS_MAX,
    STRIKE_MAX,
    TRADE_PRICE_MAX,
    TRADE_QTY_MAX,
    TS6,
    U32,
    U64,
    bad,
    dbl,
    native_fields,
    native_levels,
    nprice,
    nu32,
    nu64,
    show,
    ts6,
    u32,
)
from writer.values import price as render_price

__all__ = ["ENTRY_MAX_BYTES", "Batch", "BatchBuilder", "Entry", "Poison", "TickItem", "TickKey", "fold_summary"]

# used with fullmatch: ``$`` also matches before a trailing newline, and "NSE_FNO\n" is not a segment
_SEG_RE = re.compile(r"[A-Z][A-Z0-9_]{0,15}")
_WORD_RE = re.compile(r"[A-Za-z0-9_.:-]{0,16}")
_SIDES = {"B": "'B'", "S": "'S'", "": "''"}
_RULES = {"q": "'q'", "t": "'t'", "": "''"}  # how the side was inferred (schema 006); absent: ''
_OPTION_TYPES = {"CE": "'CE'", "PE": "'PE'"}
# A quote row's plain fields, in column order, either side of exchange_time_ist (native_fields' specs)
_QUOTE_HEAD = (("ltp", NPRICE), ("ltq", NU32), ("exchange_ts", NU32))
_QUOTE_BODY = (
    ("atp", NPRICE), ("volume", NU64), ("tsq", NU64), ("tbq", NU64), ("oi", NU64), ("oi_high", NU64),
    ("oi_low", NU64), ("open", NPRICE), ("close", NPRICE), ("high", NPRICE), ("low", NPRICE),
    ("prev_close", NPRICE), ("prev_oi", NU64), ("bid", NPRICE), ("ask", NPRICE), ("recv_ts", TS6),
)  # fmt: skip
_EXPIRY_YEARS = (1970, 9999)
# Memo caches hold validated values only; each is cleared when full, so hostile variety costs recomputation,
# never memory. Legitimately there are a handful of segments, words and expiries, and at most 52,200
# distinct exchange seconds a day (MCX, 09:00-23:30).
_LITERALS_MAX = 1024
_TIMES_MAX = 65_536
ENTRY_MAX_BYTES = 65_536  # default cap on an entry's payload (events are under 1 KB); see writer_entry_max_bytes
_EMPTY_LEVEL = "NULL,NULL,NULL"
_EVENT_ERRORS = (orjson.JSONDecodeError, KeyError, TypeError, ValueError, OverflowError)


@dataclass(slots=True)
class Entry:
    """One stream entry as read: ``payload`` is the ``d`` field, None when the entry's fields are gone."""

    kind: str  # "quotes" | "ticks" | "depth" | "greeks" | "depth20"
    entry_id: bytes
    payload: bytes | None


@dataclass(slots=True)
class Poison:
    """An entry that cannot become a row, and why (one line). ``error`` is set for a failure of ours (a bug)."""

    entry: Entry
    reason: str
    error: BaseException | None = None




@dataclass(slots=True)
class Batch:
    """Rows of one transaction, each list in key order (a stable lock order across writers)."""

    entries: list[Entry]
    tick_items: list[TickItem] = field(default_factory=list)  # what ticks/summary/candles were made from
    ticks: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    summary_keys: list[tuple[str, int, str]] = field(default_factory=list)
    candles: list[str] = field(default_factory=list)  # one-minute candle increments (all ticks new)
    quotes: list[str] = field(default_factory=list)
    depth: list[str] = field(default_factory=list)
    greeks: list[str] = field(default_factory=list)
    depth20: list[str] = field(default_factory=list)  # writer/depth20.py
    depth20_history: list[str] = field(default_factory=list)
    oi_close: list[str] = field(default_factory=list)  # the day's closing OI so far, from the quotes
    poison: list[Poison] = field(default_factory=list)

    @property
    def row_count(self) -> int:
        return (
            len(self.ticks) + len(self.summary) + len(self.candles) + len(self.quotes) + len(self.depth)
            + len(self.greeks) + len(self.depth20) + len(self.depth20_history)
        )  # fmt: skip


class BatchBuilder:
    """Turns entries into a :class:`Batch`. Holds only memo caches of pure conversions (bounded).

    Every value of an event is checked for its type and its column's range before it is used; an entry
    whose payload exceeds ``entry_max_bytes`` is not parsed at all.
    """

    def __init__(self, *, entry_max_bytes: int = ENTRY_MAX_BYTES, depth20_sample_s: float = 1.0) -> None:
        self.entry_max_bytes = entry_max_bytes
        self.depth20_sample_ms = max(1, round(depth20_sample_s * 1000))
        self._segs: dict[str, str] = {}
        self._words: dict[str | int, str] = {}
        self._times: dict[int, tuple[str, str]] = {}
        self._dates: dict[str, str] = {}

    # --- validated literals (cached: a handful of distinct values per batch) ---
    def _seg(self, value: Any) -> str:
        if type(value) is not str:
            raise bad("exchange segment", value)
        lit = self._segs.get(value)
        if lit is None:
            if not _SEG_RE.fullmatch(value):
                raise ValueError(f"bad exchange segment {show(value)}")
            if len(self._segs) >= _LITERALS_MAX:
                self._segs.clear()
            lit = self._segs[value] = f"'{value}'"
        return lit

    def _word(self, value: Any) -> str:
        if value is None:
            return "''"
        kind = type(value)
        if kind is int:
            if not 0 <= value < 256:  # the feed's ``src`` is Dhan's response code
                raise ValueError(f"bad text value {value}")
        elif kind is not str:
            raise bad("text value", value)
        lit = self._words.get(value)
        if lit is None:
            if kind is str and not _WORD_RE.fullmatch(value):
                raise ValueError(f"bad text value {show(value)}")
            if len(self._words) >= _LITERALS_MAX:
                self._words.clear()
            lit = self._words[value] = f"'{value}'"
        return lit

    def _time(self, exchange_ts: Any) -> tuple[str, str]:
        """``(trade date, exchange_time_ist)`` literals of Dhan's epoch (IST wall time counted as UTC)."""
        if type(exchange_ts) is not int:
            raise bad("exchange_ts", exchange_ts)
        lits = self._times.get(exchange_ts)
        if lits is None:
            if not 0 < exchange_ts <= U32:
                raise ValueError(f"bad exchange_ts {exchange_ts}")
            if len(self._times) >= _TIMES_MAX:
                self._times.clear()
            t = time.gmtime(exchange_ts)
            day = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
            lits = self._times[exchange_ts] = (
                f"'{day}'",
                f"'{day} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}'",
            )
        return lits

    def _ntime(self, exchange_ts: Any) -> tuple[str, str]:
        return ("NULL", "NULL") if exchange_ts is None or exchange_ts == 0 else self._time(exchange_ts)

    def _date(self, value: Any) -> str:
        if value is None:
            return "NULL"
        if type(value) is not str:
            raise bad("expiry", value)
        lit = self._dates.get(value)
        if lit is None:
            if len(value) > 10:  # YYYY-MM-DD
                raise ValueError(f"bad expiry {show(value)}")
            day = date.fromisoformat(value)
            if not _EXPIRY_YEARS[0] <= day.year <= _EXPIRY_YEARS[1]:
                raise ValueError(f"bad expiry {value}")
            if len(self._dates) >= _LITERALS_MAX:
                self._dates.clear()
            lit = self._dates[value] = f"'{day.isoformat()}'"
        return lit

    # --- the batch ---
    def build(self, entries: Iterable[Entry]) -> Batch:
        """Rows of ``entries``; any entry that cannot become a row is in ``poison`` (never an exception)."""
        entries = list(entries)
        batch = Batch(entries)
        ticks: dict[TickKey, tuple[int, int, int, Any, str, str]] = {}
        # Latest-state kinds collapse before rendering: only the newest event per instrument becomes a row
        # (a superseded event is never written, so it is not validated beyond its key and order either).
        latest: dict[str, dict[tuple[str, int], tuple[tuple[Any, ...], dict[str, Any], Entry]]] = {
            "quotes": {},
            "depth": {},
            "greeks": {},
        }
        depth20 = Depth20Rows(self.depth20_sample_ms)
        cap = self.entry_max_bytes
        for entry in entries:
            try:
                payload = entry.payload
                if payload is None:
                    raise ValueError("entry has no 'd' field")
                if len(payload) > cap:  # not even parsed: the dead letter keeps its start
                    raise ValueError(f"entry of {len(payload):,} bytes is over the {cap:,}-byte cap")
                ev = orjson.loads(payload)
                if type(ev) is not dict:
                    raise ValueError("event is not an object")
                if ev.get("v") != EVENT_VERSION:
                    raise ValueError(f"unsupported event version {show(ev.get('v'))}")
                kind = entry.kind
                if kind == "ticks":
                    self._tick(ev, ticks)
                elif kind == "depth20":
                    depth20.add(ev, self._seg(ev["seg"]))
                elif kind in latest:
                    key, order = self._order(ev, kind)
                    rows = latest[kind]
                    prev = rows.get(key)
                    if prev is None or order >= prev[0]:
                        rows[key] = (order, ev, entry)
                else:
                    raise ValueError(f"unknown stream kind {show(kind)}")
            except Exception as exc:  # one entry's failure, whatever it is, is that entry's: never the writer's
                batch.poison.append(_poison(entry, exc))
        if ticks:
            self._fold_ticks(ticks, batch)
        batch.depth20, batch.depth20_history = depth20.latest_rows(), depth20.history_rows()
        for kind, render, out in (
            ("quotes", self._quote, batch.quotes),
            ("depth", self._depth, batch.depth),
            ("greeks", self._greeks, batch.greeks),
        ):
            rows = latest[kind]
            for key in sorted(rows):
                _, ev, entry = rows[key]
                try:
                    out.append(render(ev, key))
                except Exception as exc:  # as above
                    batch.poison.append(_poison(entry, exc))
                    continue
                if kind == "quotes" and ev.get("oi") is not None:
                    batch.oi_close.append(oi_close_row(key, ev))
        return batch

    def _order(self, ev: dict[str, Any], kind: str) -> tuple[tuple[str, int], tuple[Any, ...]]:
        """Instrument key and forward order of a latest-state event (the upsert guards' order).

        Every part of the order is range-checked here: an out-of-range value must not win the collapse
        over valid events of the same instrument and then be rejected, taking them with it.
        """
        seg = self._seg(ev["seg"])
        sid, ets, recv = ev["sid"], ev.get("exchange_ts"), ev["recv_ts"]
        if type(sid) is not int or not 0 <= sid <= U32:
            raise bad("sid", sid)
        if ets is not None and (type(ets) is not int or not 0 <= ets <= U32):
            raise bad("exchange_ts", ets)
        if type(recv) not in NUMBER or not 0 < recv < RECV_TS_MAX:
            raise bad("recv_ts", recv)
        if kind == "quotes":
            volume = ev.get("volume")
            if volume is not None and (type(volume) is not int or not 0 <= volume <= U64):
                raise bad("volume", volume)
            return (seg, sid), (ets or 0, volume or 0, recv)
        return (seg, sid), (ets or 0, recv)

    def _tick(self, ev: dict[str, Any], out: dict[TickKey, tuple[int, int, int, Any, str, str]]) -> None:
        seg = self._seg(ev["seg"])
        sid, ets, cum, qty, ltp = ev["sid"], ev["exchange_ts"], ev["volume"], ev["qty"], ev["ltp"]
        if type(sid) is not int or not 0 <= sid <= U32:
            raise bad("sid", sid)
        day, ist = self._time(ets)
        if type(cum) is not int or not 0 <= cum <= U64:
            raise bad("volume", cum)
        if type(qty) is not int or not 0 <= qty <= TRADE_QTY_MAX:
            raise bad("qty", qty)
        if type(ltp) not in NUMBER or not -TRADE_PRICE_MAX <= ltp <= TRADE_PRICE_MAX:
            raise bad("trade price", ltp)
        px4 = round(ltp * 10000)
        oi = ev.get("oi")
        side = ev.get("side")
        side_lit = "''" if side is None else _SIDES.get(side) if type(side) is str else None
        if side_lit is None:
            raise ValueError(f"bad side {show(side)}")
        rule = ev.get("rule")
        rule_lit = "''" if rule is None else _RULES.get(rule) if type(rule) is str else None
        if rule_lit is None:
            raise ValueError(f"bad rule {show(rule)}")
        row = (
            f"({seg},{sid:d},{day},{cum:d},{px4 / 10000:.4f},{qty:d},{nu32(ev.get('ltq'), 'ltq')},{ets:d},{ist},"
            f"{ts6(ev['recv_ts'])},{nu64(oi, 'oi')},{side_lit},{nprice(ev.get('bid'), 'bid')},"
            f"{nprice(ev.get('ask'), 'ask')},{rule_lit})"
        )
        key = (seg, sid, day, cum)
        if key not in out:  # the first delivery of a natural key wins, as in the table
            out[key] = (px4, qty, ets, oi, row, side or "")

    @staticmethod
    def _fold_ticks(ticks: dict[TickKey, tuple[int, int, int, Any, str, str]], batch: Batch) -> None:
        batch.tick_items = [(key, *ticks[key]) for key in sorted(ticks)]
        batch.ticks = [item[5] for item in batch.tick_items]
        batch.summary, batch.summary_keys = fold_summary(batch.tick_items)
        batch.candles = candle_rows(batch.tick_items)

    def _quote(self, ev: dict[str, Any], key: tuple[str, int]) -> str:
        seg, sid = key
        ets = ev.get("exchange_ts")
        if native_fields is not None:  # the same text, in one C call a side of the time; else the checks below
            head, body = native_fields(ev, _QUOTE_HEAD), native_fields(ev, _QUOTE_BODY)
            if head is not None and body is not None:
                return f"({seg},{sid:d},{head},{self._ntime(ets)[1]},{body},{self._word(ev.get('src'))})"
        g = ev.get
        row = (
            f"({seg},{sid:d},{nprice(g('ltp'), 'ltp')},{nu32(g('ltq'), 'ltq')},{nu32(ets, 'exchange_ts')},"
            f"{self._ntime(ets)[1]},{nprice(g('atp'), 'atp')},{nu64(g('volume'), 'volume')},{nu64(g('tsq'), 'tsq')},"
            f"{nu64(g('tbq'), 'tbq')},{nu64(g('oi'), 'oi')},{nu64(g('oi_high'), 'oi_high')},"
            f"{nu64(g('oi_low'), 'oi_low')},{nprice(g('open'), 'open')},{nprice(g('close'), 'close')},"
            f"{nprice(g('high'), 'high')},{nprice(g('low'), 'low')},{nprice(g('prev_close'), 'prev_close')},"
            f"{nu64(g('prev_oi'), 'prev_oi')},{nprice(g('bid'), 'bid')},{nprice(g('ask'), 'ask')},{ts6(ev['recv_ts'])},"
            f"{self._word(g('src'))})"
        )
        return row

    def _depth(self, ev: dict[str, Any], key: tuple[str, int]) -> str:
        seg, sid = key
        ets = ev.get("exchange_ts")
        parts = [f"({seg},{sid:d},{nu32(ets, 'exchange_ts')},{self._ntime(ets)[1]},{ts6(ev['recv_ts'])}"]
        if native_levels is not None:  # the same text, a side in one C call; else the checks below
            bids: Any = ev.get("bids")
            asks: Any = ev.get("asks")
            bid_text, ask_text = native_levels(bids, 5), native_levels(asks, 5)
            if bid_text is not None and ask_text is not None:
                for text, side in ((bid_text, bids), (ask_text, asks)):
                    if text:
                        parts.append(text)
                    parts.extend([_EMPTY_LEVEL] * (5 - len(side)))
                return ",".join(parts) + ")"
        for name in ("bids", "asks"):
            side = ev[name]
            if type(side) is not list or len(side) > 5:
                raise ValueError(f"{name} must be a list of at most 5 levels")
            for level in side:
                if type(level) is not list or len(level) != 3:
                    raise ValueError(f"a depth level must be [price, qty, orders], not {show(level)}")
                level_price, qty, orders = level
                parts.append(f"{render_price(level_price)},{u32(qty, 'depth qty'):d},{u32(orders, 'depth orders'):d}")
            parts.extend([_EMPTY_LEVEL] * (5 - len(side)))
        return ",".join(parts) + ")"

    def _greeks(self, ev: dict[str, Any], key: tuple[str, int]) -> str:
        seg, sid = key
        ets = ev.get("exchange_ts")
        useg = ev.get("underlying_seg")
        g = ev.get
        strike = g("strike")
        if strike is not None and (type(strike) not in NUMBER or not -STRIKE_MAX < strike < STRIKE_MAX):
            raise bad("strike", strike)
        option_type = g("option_type")
        opt = "NULL" if option_type is None else _OPTION_TYPES.get(option_type) if type(option_type) is str else None
        if opt is None:
            raise ValueError(f"bad option_type {show(option_type)}")
        row = (
            f"({seg},{sid:d},{'NULL' if useg is None else self._seg(useg)},"
            f"{nu32(g('underlying_sid'), 'underlying_sid')},{nprice(strike, 'strike')},{opt},{self._date(g('expiry'))},"
            f"{nprice(g('price'), 'price')},{nprice(g('underlying_price'), 'underlying_price')},{dbl(g('iv'), 'iv')},"
            f"{dbl(g('delta'), 'delta')},{dbl(g('gamma'), 'gamma')},{dbl(g('vega'), 'vega')},"
            f"{dbl(g('theta'), 'theta')},{dbl(g('rho'), 'rho')},{nu32(ets, 'exchange_ts')},{self._ntime(ets)[1]},"
            f"{ts6(ev['recv_ts'])})"
        )
        return row


def _poison(entry: Entry, exc: Exception) -> Poison:
    """The one-line reason of a failed entry; an exception the checks above do not raise is kept as a bug."""
    if isinstance(exc, KeyError):
        return Poison(entry, f"missing field {show(exc.args[0] if exc.args else None)}")
    text = str(exc).splitlines()[0] if str(exc) else ""
    reason = f"{type(exc).__name__}: {text}"[:300]
    return Poison(entry, reason, None if isinstance(exc, _EVENT_ERRORS) else exc)
