"""The journal file on its own: round trip, day rotation, torn tail, damaged blocks, fsync policy, bounds."""

from __future__ import annotations

import os
import random
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from feed.journal import HEADER_BYTES, KIND_FRAMES, Journal, JournalReader, NullJournal, journal_path, make_journal
from shared.clock import IST
from shared.errors import ConfigError
from shared.settings import load_settings
from tests.conftest import make_settings

DAY1_EVENING = datetime(2026, 11, 25, 23, 59, 58, tzinfo=IST).timestamp()


def frames(n: int, start: float, step_s: float = 0.0007, seed: int = 7) -> list[tuple[float, bytes]]:
    rng = random.Random(seed)
    return [(start + i * step_s + rng.random() * 1e-7, rng.randbytes(rng.choice((16, 50, 162, 162, 300))))
            for i in range(n)]


async def write(tmp_path: Path, items: list[tuple[float, bytes]], *, at: float | None = None,
                notes: dict[int, Any] | None = None, **overrides: Any) -> Journal:
    settings = make_settings(journal_dir=tmp_path, journal_block_kb=8, **overrides)
    j = Journal(settings, instance="feed", clock=lambda: at if at is not None else items[0][0])
    await j.start()
    for i, (ts, frame) in enumerate(items):
        if notes and i in notes:
            j.note_universe(*notes[i])
        j.append(frame, ts)
    await j.stop()
    return j


@pytest.mark.parametrize(("codec", "level"), [("zstd", 3), ("zlib", 6), ("zstd", 0)])
async def test_round_trip_keeps_frames_receive_times_and_notes_in_order(
    tmp_path: Path, codec: str, level: int
) -> None:
    items = frames(5000, DAY1_EVENING - 3600)
    added = {"NSE_EQ:2885": {"seg": "NSE_EQ", "sid": 2885, "tick_size": 0.1}}
    j = await write(tmp_path, items, notes={2500: (added, ["IDX_I:13"])}, journal_codec=codec,
                    journal_compress_level=level)
    assert j.path == journal_path(tmp_path, datetime(2026, 11, 25).date(), "feed")
    reader = JournalReader(j.path)
    records = list(reader.records())
    got = [r for r in records if isinstance(r[1], bytes)]
    assert got == items  # bytes and float64 receive times bit for bit
    metas = [(i, r[1]) for i, r in enumerate(records) if isinstance(r[1], dict)]
    assert [m["type"] for _, m in metas] == ["file", "session", "universe"]
    assert metas[2][1]["added"] == added and metas[2][1]["removed"] == ["IDX_I:13"]
    assert sum(1 for r in records[: metas[2][0]] if isinstance(r[1], bytes)) == 2500  # stream position kept
    assert reader.header()["day"] == "2026-11-25" and reader.header()["source"] == "sim"
    assert reader.stats.blocks > 10 and reader.stats.torn_tail_bytes == reader.stats.corrupt_blocks == 0
    assert j.counters.written_frames == 5000 and j.counters.dropped == j.counters.lost_frames == 0
    assert j.counters.bytes_written == os.path.getsize(j.path) - 8  # noqa: ASYNC240 (a test, nothing else runs)
    codec_id = {("zstd", 3): 2, ("zlib", 6): 1, ("zstd", 0): 0}[(codec, level)]
    assert j.path.read_bytes()[8 + 5] == codec_id  # the first block header's codec byte


async def test_frames_after_ist_midnight_go_to_the_next_days_file(tmp_path: Path) -> None:
    items = frames(6000, DAY1_EVENING)  # 23:59:58 .. 00:00:02 IST
    added = {"IDX_I:13": {"seg": "IDX_I", "sid": 13, "tick_size": 0.05}}
    j = await write(tmp_path, items, notes={0: (added, [])})
    day1 = journal_path(tmp_path, datetime(2026, 11, 25).date(), "feed")
    day2 = journal_path(tmp_path, datetime(2026, 11, 26).date(), "feed")
    assert sorted(tmp_path.iterdir()) == [day1, day2] and j.counters.rotations == 1  # noqa: ASYNC240
    midnight = datetime(2026, 11, 26, tzinfo=IST).timestamp()
    first, second = list(JournalReader(day1).frames()), list(JournalReader(day2).frames())
    assert first + second == items
    assert first and second and first[-1][0] < midnight <= second[0][0]
    metas = [m for _, m in JournalReader(day2).records() if isinstance(m, dict)]
    assert metas[0]["type"] == "file" and metas[0]["day"] == "2026-11-26"
    assert metas[1]["type"] == "session" and metas[1]["continued"] is True
    assert metas[2]["type"] == "universe" and metas[2]["added"] == added  # each day's file is self-contained


async def test_torn_tail_is_ignored_on_read_and_cut_when_appending_again(tmp_path: Path) -> None:
    items = frames(3000, DAY1_EVENING - 7200)
    j = await write(tmp_path, items)
    assert j.path is not None
    data = j.path.read_bytes()
    blocks = [b for b in JournalReader(j.path).blocks() if b.kind == KIND_FRAMES]
    last = blocks[-1]
    whole = sum(len(b.records) for b in blocks[:-1])
    for keep in (last.offset + 3, last.offset + HEADER_BYTES, last.offset + HEADER_BYTES + 10, len(data) - 1):
        j.path.write_bytes(data[:keep])
        reader = JournalReader(j.path)
        assert list(reader.frames()) == items[:whole], keep
        assert reader.stats.torn_tail_bytes == keep - last.offset and reader.stats.corrupt_blocks == 0
    more = frames(500, DAY1_EVENING - 3600, seed=8)
    again = await write(tmp_path, more)  # a restarted feed appends to the same day's file
    assert again.path == j.path and again.counters.truncated_tail_bytes == len(data) - 1 - last.offset
    reader = JournalReader(j.path)
    records = list(reader.records())
    assert [r for r in records if isinstance(r[1], bytes)] == items[:whole] + more
    assert reader.stats.torn_tail_bytes == 0
    sessions = [m for _, m in records if isinstance(m, dict) and m["type"] == "session"]
    assert [s["continued"] for s in sessions] == [False, False]  # a new session: readers reset their state


async def test_damaged_block_inside_the_file_is_skipped_and_reading_resyncs(tmp_path: Path) -> None:
    items = frames(3000, DAY1_EVENING - 7200)
    j = await write(tmp_path, items)
    assert j.path is not None
    blocks = [b for b in JournalReader(j.path).blocks() if b.kind == KIND_FRAMES]
    bad = blocks[3]
    data = bytearray(j.path.read_bytes())
    data[bad.offset + HEADER_BYTES + 20] ^= 0xFF
    j.path.write_bytes(bytes(data))
    reader = JournalReader(j.path)
    got = list(reader.frames())
    assert got == [f for b in blocks if b is not bad for f in b.records]
    assert reader.stats.corrupt_blocks == 1 and reader.stats.torn_tail_bytes == 0


@pytest.mark.parametrize(("policy", "interval_s"), [("none", 1.0), ("block", 1.0), ("interval", 3600.0)])
async def test_fsync_policies(tmp_path: Path, policy: str, interval_s: float) -> None:
    items = frames(2000, DAY1_EVENING - 7200)
    j = await write(tmp_path, items, journal_fsync=policy, journal_fsync_interval_s=interval_s)
    assert j.path is not None and list(JournalReader(j.path).frames()) == items
    frame_blocks = sum(1 for b in JournalReader(j.path).blocks() if b.kind == KIND_FRAMES)
    if policy == "none":
        assert j.counters.fsyncs == 0
    elif policy == "block":
        assert j.counters.fsyncs >= frame_blocks + 1  # every block, and the header blocks at open
    else:
        assert j.counters.fsyncs == 2  # once at open, once at close: nothing in between within the hour


def test_unknown_fsync_policy_is_a_one_line_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DHAN_JOURNAL_FSYNC", "sometimes")
    with pytest.raises(ConfigError, match="DHAN_JOURNAL_FSYNC"):
        load_settings(_env_file=None)


async def test_queue_is_bounded_and_append_works_before_start(tmp_path: Path) -> None:
    settings = make_settings(journal_dir=tmp_path, journal_queue_max=1000)
    j = Journal(settings, clock=lambda: DAY1_EVENING - 60)
    items = frames(1500, DAY1_EVENING - 60)
    for ts, frame in items:
        j.append(frame, ts)  # nothing drains yet: the first 1000 wait, the rest are dropped and counted
    assert j.counters.dropped == 500
    await j.start()
    await j.stop()
    assert j.path is not None and list(JournalReader(j.path).frames()) == items[:1000]
    assert j.metrics()["journal_dropped"] == 500 and j.metrics()["journal_frames"] == 1000


async def test_disabled_journal_writes_nothing(tmp_path: Path) -> None:
    settings = make_settings(journal_dir=tmp_path / "j", journal_enabled=False)
    j = make_journal(settings)
    assert isinstance(j, NullJournal)
    await j.start()
    j.append(b"\x08" * 162, 1.0)
    j.note_universe({"IDX_I:13": {}}, [])
    await j.stop()
    assert not (tmp_path / "j").exists() and j.path is None
    on = Journal(make_settings(journal_dir=tmp_path / "on"))
    assert j.metrics().keys() == on.metrics().keys()  # the heartbeat shows the same fields, all nothing
    assert {v for k, v in j.metrics().items() if k != "journal_file"} == {0} and j.metrics()["journal_file"] == ""


async def test_unusable_directory_is_a_one_line_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    j = Journal(make_settings(journal_dir=blocker / "journal"))
    with pytest.raises(ConfigError, match="DHAN_JOURNAL_DIR") as info:
        await j.start()
    assert "\n" not in str(info.value)


def test_reader_refuses_a_file_that_is_not_a_journal(tmp_path: Path) -> None:
    other = tmp_path / "x.djr"
    other.write_bytes(b"PK\x03\x04 not a journal")
    with pytest.raises(ConfigError, match="not a dhan journal"):
        JournalReader(other)
    with pytest.raises(ConfigError, match="cannot read journal"):
        JournalReader(tmp_path / "missing.djr")
