"""The committed golden session (tests/data/golden/, see golden.py) replayed through a fresh feed publishes
exactly the recorded digest, and verify's journal mirror finds the same trades: the journal format, the
decoder and the normaliser read an old recording as they did when it was made."""

from __future__ import annotations

from pathlib import Path

import orjson
import redis.asyncio as aioredis

from control.audit.journal_scan import scan_journal
from devkit.golden import GOLDEN_DIR, replay_digest
from feed.journal import JournalReader
from tests.conftest import make_settings


def _golden() -> tuple[Path, dict[str, object]]:
    journal = next(GOLDEN_DIR.glob("session-*.djr"))
    return journal, orjson.loads((GOLDEN_DIR / "digest.json").read_bytes())


async def test_golden_session_replays_to_the_recorded_digest(tmp_path: Path, rclient: aioredis.Redis) -> None:
    journal, expected = _golden()
    settings = make_settings(journal_dir=tmp_path / "journal", sim_rate=300.0, sim_seed=42)
    rclient.cleanup.append(settings)  # type: ignore[attr-defined]
    got = await replay_digest(settings, rclient, journal)
    assert got == expected  # regenerate with scripts/record_golden_session.py only for a meant change


def test_golden_session_reads_whole_and_verify_sees_the_same_trades() -> None:
    journal, expected = _golden()
    reader = JournalReader(journal)
    frames = sum(1 for _ in reader.frames())
    assert reader.stats.corrupt_blocks == reader.stats.torn_tail_bytes == 0
    assert frames == expected["frames"]
    scan = scan_journal([journal])
    assert scan.trade_count == expected["ticks"]["events"]  # type: ignore[index]
    last = {f"{seg}:{sid}": max(day.cum) for (seg, sid, _), day in scan.trades.items()}
    assert last == expected["last_cum_volume"]
