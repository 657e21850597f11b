"""The journal against MySQL (``dhan verify``'s check, read-only): every trade stored once, latest quotes and
day summaries right.

Given a :class:`~control.audit.journal_scan.JournalScan`, per (instrument, trading day):

* ticks: every journal trade's natural key (segment, id, day, cumulative volume) is in ``dhan_ticks`` exactly
  once with the same price and quantity; rows in MySQL inside the journal's volume range but not in the
  journal are reported as ``extra`` (information: another writer or journal), not as a problem;
* quotes: the journal's last quote per instrument equals ``dhan_quotes`` when it is the last write (same
  exchange time and volume); a row ahead of it is ``superseded`` (information), behind it ``stale``;
* summaries: ``dhan_trade_summary`` equals the recomputation from ``dhan_ticks`` for the journal's keys;
* candles: ``dhan_candles_1m`` equals its recomputation from ``dhan_ticks`` for the same keys
  (:mod:`control.audit.verify_candles`).

:func:`check` returns a :class:`Report` with the counts, a few examples of each problem, and what
:mod:`control.audit.repair` needs (the missing trades' keys, the quotes and summaries to fix);
:func:`report_lines` and :func:`report_dict` render it for ``dhan verify`` and ``dhan chaos``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from control.audit.journal_scan import EPOCH, JournalScan, TickKey, TradeKey, day_text
from control.audit.verify_candles import check_candles
from feed.normalise import DEFAULT_TICK
from feed.protocol.constants import SEGMENT_BY_NAME
from shared.db import connect
from shared.settings import Settings

__all__ = ["KEYS_PER_QUERY", "Report", "check", "decimal4", "report_dict", "report_lines"]

EXAMPLES_MAX = 10
KEYS_PER_QUERY = 500


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
    candles_checked: int = 0  # instrument-days
    candle_minutes: int = 0
    candles_mismatched: int = 0
    missing_keys: set[TradeKey] = field(default_factory=set)
    duplicated_keys: set[TradeKey] = field(default_factory=set)  # in dhan_ticks more than once
    quotes_to_fix: list[dict[str, Any]] = field(default_factory=list)
    summary_keys_bad: list[TickKey] = field(default_factory=list)
    candle_keys_bad: list[TickKey] = field(default_factory=list)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def problems(self) -> int:
        return (self.missing + self.duplicated + self.value_mismatched + self.quotes_mismatched
                + self.quotes_stale + self.quotes_missing + self.summaries_mismatched + self.candles_mismatched
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
_UNKNOWN_TICK_TOLERANCE4 = round(DEFAULT_TICK * 10000)  # without a recorded tick size: within one 0.05 tick


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


async def check(settings: Settings, scan: JournalScan) -> Report:
    """Compare the scanned journal with MySQL (read-only)."""
    report = Report(scan)
    conn = await connect(settings)
    try:
        async with conn.cursor() as cur:
            await _check_ticks(cur, scan, report)
            await _check_quotes(cur, scan, report)
            await _check_summaries(cur, scan, report)
            candles = await check_candles(cur, sorted(scan.trades), EXAMPLES_MAX)
        report.candles_checked, report.candle_minutes = candles.checked, candles.minutes
        report.candles_mismatched, report.candle_keys_bad = len(candles.bad_keys), candles.bad_keys
        for text in candles.examples:
            report.example("candles", text)
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
    for start in range(0, len(keys), KEYS_PER_QUERY):
        chunk = keys[start : start + KEYS_PER_QUERY]
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
    for start in range(0, len(keys), KEYS_PER_QUERY):
        chunk = keys[start : start + KEYS_PER_QUERY]
        where, args = _key_where(chunk)
        await cur.execute(_recompute_select(where), args)
        expected = {(r[0], int(r[1]), r[2]): tuple(r[3:]) for r in await cur.fetchall()}
        await cur.execute("SELECT exchange_segment, security_id, trade_date, " + ", ".join(_SUMMARY_COLUMNS)
                          + " FROM dhan_trade_summary WHERE " + where, args)
        stored = {(r[0], int(r[1]), r[2]): tuple(r[3:]) for r in await cur.fetchall()}
        for seg, sid, day in chunk:
            k = (seg, sid, EPOCH + timedelta(days=day))
            report.summaries_checked += 1
            if expected.get(k) != stored.get(k):
                report.summaries_mismatched += 1
                report.summary_keys_bad.append((seg, sid, day))
                report.example("summary", f"{seg}:{sid} {k[2]}: stored {stored.get(k)}, "
                               f"recomputed {expected.get(k)}")


def report_dict(report: Report) -> dict[str, Any]:
    r, s = report.scan.read, report.scan
    return {
        "files": s.files, "blocks": r.blocks, "frames": r.frames, "corrupt_blocks": r.corrupt_blocks,
        "torn_tail_bytes": r.torn_tail_bytes, "bad_packets": s.bad_packets, "sessions": s.sessions,
        "decode_s": round(s.elapsed_s, 3), "trades": s.trade_count, "instrument_days": report.instrument_days,
        "found": report.found, "missing": report.missing, "duplicated": report.duplicated,
        "value_mismatched": report.value_mismatched, "extra": report.extra,
        "quotes_compared": report.quotes_compared, "quotes_equal": report.quotes_equal,
        "quotes_mismatched": report.quotes_mismatched, "quotes_stale": report.quotes_stale,
        "quotes_missing": report.quotes_missing, "quotes_superseded": report.quotes_superseded,
        "summaries_checked": report.summaries_checked, "summaries_mismatched": report.summaries_mismatched,
        "candles_checked": report.candles_checked, "candle_minutes": report.candle_minutes,
        "candles_mismatched": report.candles_mismatched,
        "problems": report.problems, "examples": report.examples,
    }


def report_lines(report: Report) -> list[str]:
    r, s, p = report.scan.read, report.scan, report
    out = [
        f"journal   {len(s.files)} file(s): {r.frames} frames in {r.blocks} blocks, {s.sessions} session(s), "
        f"{r.corrupt_blocks} corrupt blocks, torn tail {r.torn_tail_bytes} B, {s.bad_packets} bad packets "
        f"(decoded in {s.elapsed_s:.2f}s)",
        f"trades    {s.trade_count} in the journal over {p.instrument_days} instrument-days: "
        f"{p.found} found, {p.missing} missing, {p.duplicated} duplicated, {p.value_mismatched} with other "
        f"values ({p.extra} extra in MySQL, not in the journal)",
        f"quotes    {p.quotes_compared} instruments: {p.quotes_equal} equal, {p.quotes_mismatched} "
        f"mismatched, {p.quotes_stale} stale, {p.quotes_missing} missing ({p.quotes_superseded} superseded "
        "by later writes)",
        f"summary   {p.summaries_checked} instrument-days: {p.summaries_mismatched} differ from a "
        "recomputation",
        f"candles   {p.candles_checked} instrument-days ({p.candle_minutes} one-minute rows): "
        f"{p.candles_mismatched} differ from a recomputation",
    ]
    for kind, items in p.examples.items():
        out.extend(f"  {kind}: {text}" for text in items)
    out.append("result    OK" if not p.problems else f"result    {p.problems} problem(s)")
    return out
