"""``dhan verify --repair``: refill what :func:`~control.audit.verify.check` found missing or wrong.

Missing ticks are re-derived from the journal (a second pass keeping only the missing trades' events,
:func:`~control.audit.journal_scan.scan_journal` with ``want``) and inserted through the writer's own row
rendering (``writer.batch``) and statements (``writer.sql``); the touched summaries are recomputed with the
writer's recompute statement (right whether or not the lost ticks had been counted), and so are the one-minute
candles of those instrument-days and of any whose candles differ from their ticks; stale, missing or
differing quotes are upserted (forward-only, so never backwards).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from control.audit.journal_scan import day_text, scan_journal
from control.audit.verify import KEYS_PER_QUERY, Report
from shared.db import connect
from shared.settings import Settings
from writer import sql
from writer.batch import BatchBuilder, Entry

__all__ = ["RepairResult", "repair"]

_ISOLATION = "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"


@dataclass(slots=True)
class RepairResult:
    ticks_inserted: int = 0
    ticks_poison: int = 0
    summaries_recomputed: int = 0
    candles_recomputed: int = 0  # instrument-days
    quotes_upserted: int = 0


async def repair(settings: Settings, paths: Sequence[str | Path], report: Report) -> RepairResult:
    """Refill what ``check`` found missing or wrong through the writer's row rendering and statements."""
    result = RepairResult()
    builder = BatchBuilder()
    events = scan_journal(paths, want=report.missing_keys).wanted_events if report.missing_keys else []
    summary_keys: set[tuple[str, int, str]] = {(f"'{seg}'", sid, f"'{day_text(day)}'")
                                               for seg, sid, day in report.summary_keys_bad}
    chunk_size = max(1, settings.writer.batch_max)
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
            candle_keys = sorted(summary_keys | {(f"'{seg}'", sid, f"'{day_text(day)}'")
                                                 for seg, sid, day in report.candle_keys_bad})
            for start in range(0, len(keys), KEYS_PER_QUERY):
                await cur.execute(sql.summary_recompute(keys[start : start + KEYS_PER_QUERY]))
                await conn.commit()
            for start in range(0, len(candle_keys), KEYS_PER_QUERY):
                for text in sql.candle_recompute(candle_keys[start : start + KEYS_PER_QUERY]):
                    await cur.execute(text)
                await conn.commit()
            result.summaries_recomputed, result.candles_recomputed = len(keys), len(candle_keys)
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
