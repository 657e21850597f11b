"""Journal damage never stops the feed: damaged write-ahead files and journal files are recovered as far as
they read, moved to ``quarantine/``, logged and counted; a dead writer thread is reported and keeps the
write-ahead file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import orjson
from structlog.testing import capture_logs

from feed.journal import (
    HEADER_BYTES,
    KIND_FRAMES,
    KIND_META,
    SIGNATURE,
    BlockCodec,
    Journal,
    JournalReader,
    journal_path,
    pack_frames,
    wal_path,
)
from shared.clock import IST
from tests.conftest import eventually, make_settings

from .test_journal import DAY1_EVENING, frames

T = DAY1_EVENING - 3600
T_DAY = datetime.fromtimestamp(T, IST).date()


def _wal_bytes(parts: list[list[tuple[float, bytes]] | dict[str, object]]) -> tuple[bytes, list[int]]:
    """A write-ahead file as the feed writes it (stored blocks); returns it and each block's offset."""
    codec = BlockCodec("zlib", 0)
    out, offsets = bytearray(SIGNATURE), []
    for part in parts:
        offsets.append(len(out))
        if isinstance(part, dict):
            out += codec.block(KIND_META, orjson.dumps(part), 0, T, T)
        else:
            tss, fr = [t for t, _ in part], [f for _, f in part]
            out += codec.block(KIND_FRAMES, pack_frames(tss, fr), len(part), tss[0], tss[-1])
    return bytes(out), offsets


async def _start(tmp_path: Path) -> Journal:
    j = Journal(make_settings(journal_dir=tmp_path, journal_block_kb=8), instance="feed", clock=lambda: T)
    await j.start()
    return j


def _quarantined(tmp_path: Path) -> list[str]:
    folder = tmp_path / "quarantine"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


async def test_a_damaged_block_in_the_write_ahead_file_is_skipped_and_the_file_quarantined(tmp_path: Path) -> None:
    items = frames(300, T)
    a, b, c = items[:100], items[100:200], items[200:]
    data, offsets = _wal_bytes([a, b, c])
    damaged = bytearray(data)
    damaged[offsets[1] + HEADER_BYTES + 5] ^= 0xFF  # a flipped byte in the middle block's payload: bad CRC
    wal_path(tmp_path, "feed").write_bytes(bytes(damaged))
    with capture_logs() as logs:
        j = await _start(tmp_path)
        await j.stop()
    assert j.counters.recovered_frames == 200 and j.counters.quarantined == 1
    got = list(JournalReader(journal_path(tmp_path, T_DAY, "feed")).frames())
    assert got == a + c
    (name,) = _quarantined(tmp_path)
    assert name.startswith("feed.wal.") and (tmp_path / "quarantine" / name).read_bytes() == bytes(damaged)
    (event,) = [e for e in logs if e["event"] == "journal_quarantined"]
    assert event["log_level"] == "error" and "1 damaged blocks" in event["why"]


async def test_a_malformed_note_in_the_write_ahead_file_does_not_stop_the_start(tmp_path: Path) -> None:
    items = frames(200, T)
    bad_note = {"type": "universe", "added": ["not", "a", "mapping"], "removed": []}
    good_note = {"type": "universe", "added": {"NSE_EQ:2885": {"seg": "NSE_EQ", "sid": 2885}}, "removed": []}
    data, _ = _wal_bytes([items[:100], bad_note, good_note, items[100:]])
    wal_path(tmp_path, "feed").write_bytes(data)
    j = await _start(tmp_path)
    await j.stop()
    assert j.counters.recovered_frames == 200 and j.counters.quarantined == 1
    records = list(JournalReader(journal_path(tmp_path, T_DAY, "feed")).records())
    notes = [r[1] for r in records if isinstance(r[1], dict) and r[1]["type"] == "universe"]
    assert notes == [good_note]
    assert [n for n in _quarantined(tmp_path) if n.startswith("feed.wal.")]


async def test_a_journal_without_its_signature_is_set_aside_and_a_new_one_started(tmp_path: Path) -> None:
    path = journal_path(tmp_path, T_DAY, "feed")
    j = await _start(tmp_path)
    for ts, frame in frames(50, T):
        j.append(frame, ts)
    await j.stop()
    original = path.read_bytes()
    path.write_bytes(b"XXXXXXXX" + original[len(SIGNATURE):])  # the first bytes overwritten
    j = await _start(tmp_path)  # appending behind it is impossible: it was a ConfigError (exit 2, no restart)
    for ts, frame in frames(10, T + 60, seed=8):
        j.append(frame, ts)
    await j.stop()
    assert j.counters.quarantined == 1
    assert list(JournalReader(path).frames()) == frames(10, T + 60, seed=8)
    (name,) = _quarantined(tmp_path)
    assert name.startswith(path.name + ".")


async def test_a_dead_writer_thread_is_reported_and_keeps_the_write_ahead_file(tmp_path: Path) -> None:
    died: list[BaseException] = []
    j = Journal(make_settings(journal_dir=tmp_path), instance="feed", clock=lambda: T, on_failure=died.append)
    await j.start()
    items = frames(20, T)
    for ts, frame in items:
        j.append(frame, ts)
    j.write_ahead()
    j.writer.queue.append((T + 1, object()))  # a record the writer thread cannot turn into bytes: it dies on it
    j.writer.wake.set()
    await eventually(lambda: bool(died), message="failure reported on the loop")
    assert isinstance(died[0], TypeError) and j.failure is died[0]
    await j.stop()
    assert wal_path(tmp_path, "feed").exists()  # the next start recovers what the dead thread did not write
    again = await _start(tmp_path)
    await again.stop()
    assert list(JournalReader(journal_path(tmp_path, T_DAY, "feed")).frames())[-20:] == items
