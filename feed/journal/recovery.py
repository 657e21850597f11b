"""At start: what a killed feed left in its write-ahead file, and its journal lacks, moves into the journal.

The write-ahead file's records after the journal's last ones (matched on the journal's last ``MATCH_RECORDS``
records: receive time and bytes) are appended to the journal of their IST day behind a ``"recovered"`` note;
then the write-ahead file is started anew (:mod:`feed.journal.wal`).

Damage never stops the feed: a write-ahead file with damaged blocks or malformed notes, or that cannot be read,
is moved to ``<journal_dir>/quarantine/`` (what could be read is recovered first), logged
(``journal_quarantined``) and counted (``journal_quarantined``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from feed.journal.dayfile import quarantine
from feed.journal.format import SIGNATURE, Record, journal_path
from feed.journal.reader import JournalReader
from feed.journal.writer import BlockWriter
from shared.clock import ist_trading_day
from shared.errors import ConfigError
from shared.logs import get_logger

__all__ = ["MATCH_RECORDS", "missing_from", "recover_write_ahead"]

MATCH_RECORDS = 16  # records matched to find where the journal ends inside the write-ahead file
_log = get_logger("feed.journal")


def _record_key(record: Record) -> tuple[float, Any]:
    ts, body = record
    return (ts, body) if type(body) is bytes else (ts, body.get("type") if isinstance(body, dict) else None)


def missing_from(wal: Sequence[Record], journal_tail: Sequence[Record]) -> int:
    """Index of the first write-ahead record the journal lacks: just after the run of ``journal_tail``
    (the journal's last records) inside ``wal``; 0 when the journal's last record is not in it (the journal
    ends before the write-ahead file begins)."""
    if not journal_tail:
        return 0
    keys = [_record_key(r) for r in journal_tail]
    last = keys[-1]
    for i in range(len(wal) - 1, -1, -1):
        if _record_key(wal[i]) != last:
            continue
        k = min(len(keys), i + 1)
        if [_record_key(r) for r in wal[i - k + 1 : i + 1]] == keys[-k:]:
            return i + 1
    return 0


def _note_ok(meta: Any) -> bool:
    """A note the writer can store: a universe change needs its ``added`` mapping and ``removed`` list."""
    if not isinstance(meta, dict):
        return False
    if meta.get("type") != "universe":
        return True
    added, removed = meta.get("added"), meta.get("removed")
    return (isinstance(added, dict) and all(isinstance(v, (dict, bytes, bytearray)) for v in added.values())
            and isinstance(removed, list))


def _by_day(records: list[Record]) -> list[tuple[date, list[Record]]]:
    """Records grouped by the IST day of their frames (a note belongs with the frames around it), as the
    writer thread files them."""
    groups: list[tuple[date, list[Record]]] = []
    for rec in records:
        if type(rec[1]) is bytes or not groups:
            day = ist_trading_day(rec[0])
            if not groups or groups[-1][0] != day:
                groups.append((day, []))
        groups[-1][1].append(rec)
    return groups


def _journal_tail(path: Path) -> list[Record]:
    try:
        return JournalReader(path).tail_records(MATCH_RECORDS) if path.exists() else []
    except ConfigError:  # a file cut right after its creation: nothing in it to match
        return []


def recover_write_ahead(path: Path, writer: BlockWriter) -> None:
    """Move what a killed run left in the write-ahead file ``path``, and its journal lacks, into the journal
    through ``writer`` (before its thread starts)."""
    counters = writer.counters
    try:
        if not path.exists() or path.stat().st_size <= len(SIGNATURE):
            return
        reader = JournalReader(path)
        records: list[Record] = list(reader.records())
    except (OSError, ConfigError) as exc:
        quarantine(writer.directory, path, f"unreadable: {exc}", counters)  # not left for the WAL to truncate
        return
    malformed = [r for r in records if type(r[1]) is not bytes and not _note_ok(r[1])]
    if malformed:
        records = [r for r in records if type(r[1]) is bytes or _note_ok(r[1])]
    frames = notes = 0
    for day, recs in _by_day(records):
        tail = _journal_tail(journal_path(writer.directory, day, writer.instance))
        missing = recs[missing_from(recs, tail):]
        if not missing:
            continue
        n_frames = sum(1 for _, body in missing if type(body) is bytes)
        writer.append_recovered(missing, {"from": path.name, "frames": n_frames, "notes": len(missing) - n_frames})
        frames += n_frames
        notes += len(missing) - n_frames
    counters.recovered_frames += frames
    writer.forget_universe()
    _log.warning("journal_wal_recovered", path=str(path), frames=frames, notes=notes,
                 already_in_journal=len(records) - frames - notes)
    if reader.stats.corrupt_blocks or malformed:
        quarantine(writer.directory, path, f"{reader.stats.corrupt_blocks} damaged blocks, {len(malformed)} "
                                           "malformed notes (skipped; the rest was recovered)", counters)
