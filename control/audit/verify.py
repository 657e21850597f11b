"""The journal against MySQL: every trade stored once, latest quotes and day summaries right; and the repair.

The journal is decoded with the feed's own :class:`Decoder` and :class:`Normaliser`, mirroring the live feed
from the journal's meta records: a new session resets them, ``universe`` records set tick sizes and make the
normaliser forget instruments that left (as the feed does), so the trades derived here are the very trades
the feed published. Then, per (instrument, trading day):

* ticks: every journal trade's natural key (segment, id, day, cumulative volume) is in ``dhan_ticks`` exactly
  once with the same price and quantity; rows in MySQL inside the journal's volume range but not in the
  journal are reported as ``extra`` (information: another writer or journal), not as a problem;
* quotes: the journal's last quote per instrument equals ``dhan_quotes`` when it is the last write (same
  exchange time and volume); a row ahead of it is ``superseded`` (information), behind it ``stale``;
* summaries: ``dhan_trade_summary`` equals the recomputation from ``dhan_ticks`` for the journal's keys.

:func:`repair` refills missing ticks through the writer's own row rendering (``writer.batch``) and statements
(``writer.sql``), recomputes the touched summaries with the writer's recompute statement (right whether or
not the lost ticks had been counted), and upserts stale, missing or differing quotes (forward-only, so never
backwards). Memory: the first pass keeps three integers and a receive time per trade; the repair pass re-decodes
the journal keeping only the missing ones.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from feed.instruments.parse import MAX_TICK_RS, MIN_TICK_RS
from feed.journal import KIND_META, JournalReader, ReadStats
from feed.normalise import DEFAULT_TICK, Normaliser
from feed.protocol.constants import SEGMENT_BY_NAME
from feed.protocol.decode import Decoder

__all__ = ["JournalScan", "Report", "TickKey", "TradeKey", "day_of", "scan_journal", "trade_recv_ts"]

TickKey = tuple[str, int, int]  # (segment, security id, trading day as days since 1970-01-01)
TradeKey = tuple[str, int, int, int]  # TickKey + cumulative volume: one trade (dhan_ticks' natural key)
EXAMPLES_MAX = 10
_EPOCH = date(1970, 1, 1)


def day_of(exchange_ts: int) -> int:
    """Trading day of Dhan's exchange time (IST wall time counted as UTC), as days since 1970-01-01."""
    return exchange_ts // 86_400


def day_text(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).isoformat()


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
    trades = scan.trades
    loads = orjson.loads
    for path in paths:
        reader = JournalReader(path)
        for block in reader.blocks():
            if block.kind == KIND_META:
                assert block.meta is not None
                mirror.meta(block.meta)
                continue
            feed_frame = mirror.norm.feed_frame
            decoder = mirror.decoder
            for ts, frame in block.records:
                feed_frame(decoder, frame, ts, quotes, ticks, depth)
                if ticks:
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
                    ticks.clear()
                quotes.clear()
                depth.clear()
        st = reader.stats
        r = scan.read
        r.blocks += st.blocks
        r.frames += st.frames
        r.metas += st.metas
        r.corrupt_blocks += st.corrupt_blocks
        r.torn_tail_bytes += st.torn_tail_bytes
        r.bytes_read += st.bytes_read
    mirror.reset()
    scan.elapsed_s = time.perf_counter() - t0
    return scan


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


@dataclass(slots=True)
class Report:
    """What :func:`check` found; ``problems`` counts everything that is wrong."""

    scan: JournalScan
    instrument_days: int = 0
    found: int = 0
    missing: int = 0
    duplicated: int = 0
    value_mismatched: int = 0
    extra: int = 0
    quotes_compared: int = 0
    quotes_equal: int = 0
    quotes_mismatched: int = 0
    quotes_stale: int = 0
    quotes_missing: int = 0
    quotes_superseded: int = 0
    summaries_checked: int = 0
    summaries_mismatched: int = 0
    missing_keys: set[TradeKey] = field(default_factory=set)
    duplicated_keys: set[TradeKey] = field(default_factory=set)  # in dhan_ticks more than once
    quotes_to_fix: list[dict[str, Any]] = field(default_factory=list)
    summary_keys_bad: list[TickKey] = field(default_factory=list)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def problems(self) -> int:
        return (self.missing + self.duplicated + self.value_mismatched + self.quotes_mismatched
                + self.quotes_stale + self.quotes_missing + self.summaries_mismatched
                + self.scan.read.corrupt_blocks)

    def example(self, kind: str, text: str) -> None:
        items = self.examples.setdefault(kind, [])
        if len(items) < EXAMPLES_MAX:
            items.append(text)


def decimal4(value: Any) -> int | None:
    """A price as integer ten-thousandths (DECIMAL or float), None for NULL."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return int(value * 10000)
    return round(float(value) * 10000)


_QUOTE_FIELDS = ("ltp", "ltq", "exchange_ts", "atp", "volume", "tsq", "tbq", "oi", "oi_high", "oi_low",
                 "open", "close", "high", "low", "prev_close", "prev_oi", "bid", "ask", "src")
_PRICE_FIELDS = frozenset({"ltp", "atp", "open", "close", "high", "low", "prev_close", "bid", "ask"})
_SUMMARY_COLUMNS = ("open", "high", "low", "close", "volume", "turnover", "vwap", "oi", "tick_count",
                    "first_cum_volume", "last_cum_volume", "first_exchange_ts", "last_exchange_ts")
_KEYS_PER_QUERY = 500
_UNKNOWN_TICK_TOLERANCE4 = round(DEFAULT_TICK * 10000)  # without a recorded tick size: within one 0.05 tick
_ISOLATION = "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"


def _key_where(keys: Sequence[TickKey]) -> tuple[str, list[Any]]:
    where = " OR ".join(["(exchange_segment = %s AND security_id = %s AND trade_date = %s)"] * len(keys))
    args: list[Any] = []
    for seg, sid, day in keys:
        args += [seg, sid, day_text(day)]
    return where, args


def _recompute_select(where: str) -> str:
    """The day summary recomputed from ``dhan_ticks`` (the writer's recompute, as a plain SELECT)."""
    return (
        "SELECT g.exchange_segment, g.security_id, g.trade_date, f.ltp, g.high, g.low, l.ltp, g.volume, "
        "g.turnover, ROUND(g.turnover / NULLIF(g.volume, 0), 4), l.oi, g.n, g.first_cv, g.last_cv, "
        "f.exchange_ts, l.exchange_ts FROM (SELECT exchange_segment, security_id, trade_date, "
        "MAX(ltp) AS high, MIN(ltp) AS low, SUM(qty) AS volume, SUM(ltp * qty) AS turnover, COUNT(*) AS n, "
        f"MIN(cum_volume) AS first_cv, MAX(cum_volume) AS last_cv FROM dhan_ticks WHERE {where} "
        "GROUP BY exchange_segment, security_id, trade_date) AS g "
        "JOIN dhan_ticks AS f ON f.exchange_segment = g.exchange_segment AND f.security_id = g.security_id "
        "AND f.trade_date = g.trade_date AND f.cum_volume = g.first_cv "
        "JOIN dhan_ticks AS l ON l.exchange_segment = g.exchange_segment AND l.security_id = g.security_id "
        "AND l.trade_date = g.trade_date AND l.cum_volume = g.last_cv"
    )


async def check(settings: Any, scan: JournalScan) -> Report:
    """Compare the scanned journal with MySQL (read-only)."""
    from shared.db import connect

    report = Report(scan)
    conn = await connect(settings)
    try:
        async with conn.cursor() as cur:
            await _check_ticks(cur, scan, report)
            await _check_quotes(cur, scan, report)
            await _check_summaries(cur, scan, report)
        await conn.rollback()
    finally:
        conn.close()
    return report


async def _check_ticks(cur: Any, scan: JournalScan, report: Report) -> None:
    report.instrument_days = len(scan.trades)
    for (seg, sid, day), trades in sorted(scan.trades.items()):
        tol = 0 if (SEGMENT_BY_NAME.get(seg), sid) in scan.tick_sizes else _UNKNOWN_TICK_TOLERANCE4
        journal = {c: (p, q) for c, p, q in zip(trades.cum, trades.px4, trades.qty, strict=True)}
        await cur.execute(
            "SELECT cum_volume, ltp, qty FROM dhan_ticks WHERE exchange_segment = %s AND security_id = %s "
            "AND trade_date = %s AND cum_volume BETWEEN %s AND %s",
            (seg, sid, day_text(day), min(trades.cum), max(trades.cum)),
        )
        seen: dict[int, int] = {}
        for cum, ltp, qty in await cur.fetchall():
            cum = int(cum)
            seen[cum] = seen.get(cum, 0) + 1
            want = journal.get(cum)
            if want is None:
                report.extra += 1
                continue
            if seen[cum] > 1:
                report.duplicated += 1
                report.duplicated_keys.add((seg, sid, day, cum))
                report.example("duplicated", f"{seg}:{sid} {day_text(day)} cum_volume {cum}")
                continue
            px4 = decimal4(ltp)
            if px4 is None or abs(px4 - want[0]) > tol or int(qty) != want[1]:
                report.value_mismatched += 1
                report.example("other_values", f"{seg}:{sid} {day_text(day)} cum_volume {cum}: MySQL ltp "
                               f"{ltp} qty {qty}, journal ltp {want[0] / 10000} qty {want[1]}")
        for cum in journal:
            if cum in seen:
                report.found += 1
            else:
                report.missing += 1
                report.missing_keys.add((seg, sid, day, cum))
                report.example("missing", f"{seg}:{sid} {day_text(day)} cum_volume {cum}")


async def _check_quotes(cur: Any, scan: JournalScan, report: Report) -> None:
    keys = sorted(scan.last_quotes)
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        chunk = keys[start : start + _KEYS_PER_QUERY]
        await cur.execute(
            "SELECT exchange_segment, security_id, recv_ts, " + ", ".join(_QUOTE_FIELDS)
            + " FROM dhan_quotes WHERE (exchange_segment, security_id) IN ("
            + ", ".join(["(%s, %s)"] * len(chunk)) + ")",
            [v for key in chunk for v in key],
        )
        for row in await cur.fetchall():
            rows[(row[0], int(row[1]))] = dict(zip(("recv_ts", *_QUOTE_FIELDS), row[2:], strict=True))
    for key in keys:
        j = scan.last_quotes[key]
        report.quotes_compared += 1
        db = rows.get(key)
        name = f"{key[0]}:{key[1]}"
        if db is None:
            report.quotes_missing += 1
            report.quotes_to_fix.append(j)
            report.example("quote_missing", name)
            continue
        mine = (j.get("exchange_ts") or 0, j.get("volume") or 0)
        theirs = (int(db["exchange_ts"] or 0), int(db["volume"] or 0))
        if theirs > mine:
            report.quotes_superseded += 1
            continue
        if theirs < mine:
            report.quotes_stale += 1
            report.quotes_to_fix.append(j)
            report.example("quote_stale", f"{name}: MySQL at {theirs}, journal at {mine}")
            continue
        tol = 0 if (SEGMENT_BY_NAME.get(key[0]), key[1]) in scan.tick_sizes else _UNKNOWN_TICK_TOLERANCE4
        differ = [f for f in _QUOTE_FIELDS if not _same(f, j.get(f), db[f], tol)]
        if not differ:
            report.quotes_equal += 1
        elif float(db["recv_ts"]) > float(j["recv_ts"]) + 1e-6:
            report.quotes_superseded += 1  # a later write with the same exchange time and volume
        else:
            report.quotes_mismatched += 1
            report.quotes_to_fix.append(j)
            report.example("quote_mismatched", f"{name}: " + ", ".join(
                f"{f} MySQL {db[f]} journal {j.get(f)}" for f in differ[:4]))


def _same(name: str, mine: Any, theirs: Any, tol4: int) -> bool:
    if mine is None or theirs is None:
        return mine is None and theirs is None
    if name == "src":
        return str(mine) == str(theirs)
    if name in _PRICE_FIELDS:
        a, b = decimal4(mine), decimal4(theirs)
        return a is not None and b is not None and abs(a - b) <= tol4
    return int(mine) == int(theirs)


async def _check_summaries(cur: Any, scan: JournalScan, report: Report) -> None:
    keys = sorted(scan.trades)
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        chunk = keys[start : start + _KEYS_PER_QUERY]
        where, args = _key_where(chunk)
        await cur.execute(_recompute_select(where), args)
        expected = {(r[0], int(r[1]), r[2]): tuple(r[3:]) for r in await cur.fetchall()}
        await cur.execute("SELECT exchange_segment, security_id, trade_date, " + ", ".join(_SUMMARY_COLUMNS)
                          + " FROM dhan_trade_summary WHERE " + where, args)
        stored = {(r[0], int(r[1]), r[2]): tuple(r[3:]) for r in await cur.fetchall()}
        for seg, sid, day in chunk:
            k = (seg, sid, _EPOCH + timedelta(days=day))
            report.summaries_checked += 1
            if expected.get(k) != stored.get(k):
                report.summaries_mismatched += 1
                report.summary_keys_bad.append((seg, sid, day))
                report.example("summary", f"{seg}:{sid} {k[2]}: stored {stored.get(k)}, "
                               f"recomputed {expected.get(k)}")


@dataclass(slots=True)
class RepairResult:
    ticks_inserted: int = 0
    ticks_poison: int = 0
    summaries_recomputed: int = 0
    quotes_upserted: int = 0


async def repair(settings: Any, paths: Sequence[str | Path], report: Report) -> RepairResult:
    """Refill what :func:`check` found missing through the writer's row rendering and statements."""
    from shared.db import connect
    from writer import sql
    from writer.batch import BatchBuilder, Entry

    result = RepairResult()
    builder = BatchBuilder()
    events = scan_journal(paths, want=report.missing_keys).wanted_events if report.missing_keys else []
    summary_keys: set[tuple[str, int, str]] = {(f"'{seg}'", sid, f"'{day_text(day)}'")
                                               for seg, sid, day in report.summary_keys_bad}
    chunk_size = max(1, settings.writer_batch_max)
    conn = await connect(settings)
    try:
        async with conn.cursor() as cur:
            await cur.execute(_ISOLATION)
            for start in range(0, len(events), chunk_size):
                chunk = events[start : start + chunk_size]
                batch = builder.build(Entry("ticks", b"repair", ev) for ev in chunk)
                result.ticks_poison += len(batch.poison)
                for text in sql.render_statements(sql.tick_insert, batch.ticks):
                    result.ticks_inserted += await cur.execute(text)
                await conn.commit()
                summary_keys.update(batch.summary_keys)
            # Recomputed, not incremented: right whether the lost ticks had been counted (rows deleted) or not
            # (entries trimmed from the stream before the writer read them).
            keys = sorted(summary_keys)
            for start in range(0, len(keys), _KEYS_PER_QUERY):
                await cur.execute(sql.summary_recompute(keys[start : start + _KEYS_PER_QUERY]))
                await conn.commit()
            result.summaries_recomputed = len(keys)
            if report.quotes_to_fix:
                quotes = [Entry("quotes", b"repair", orjson.dumps(q)) for q in report.quotes_to_fix]
                batch = builder.build(quotes)
                for text in sql.render_statements(sql.quote_upsert, batch.quotes):
                    await cur.execute(text)
                await conn.commit()
                result.quotes_upserted = len(batch.quotes)
    finally:
        conn.close()
    return result
