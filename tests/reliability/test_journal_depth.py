"""Depth-feed frames in the journal: blocks of their own (kind 2, levels in the header), read back in order per
feed, kept out of the live feed's records (what dhan replay serves, dhan verify scans and recovery matches),
rotated with the day."""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path

from feed.journal import KIND_DEPTH, KIND_FRAMES, Journal, JournalReader, journal_path
from shared.clock import IST
from tests.conftest import make_settings

DAY1_EVENING = datetime(2026, 11, 25, 23, 59, 50, tzinfo=IST).timestamp()


async def test_depth_frames_round_trip_apart_from_the_live_feeds(tmp_path: Path) -> None:
    rng = random.Random(3)
    settings = make_settings(journal_dir=tmp_path, journal_block_kb=8)
    start = DAY1_EVENING - 3600
    j = Journal(settings, instance="feed", clock=lambda: start)
    await j.start()
    live: list[tuple[float, bytes]] = []
    depth: list[tuple[float, int, bytes]] = []
    for i in range(3000):
        ts = start + i * 0.001
        if i % 3 == 0:
            levels = 200 if i % 30 == 0 else 20
            frame = rng.randbytes(664 if levels == 20 else 3212)
            j.append_depth(frame, ts, levels)
            depth.append((ts, levels, frame))
        else:
            frame = bytes([8]) + rng.randbytes(161)
            j.append(frame, ts)
            live.append((ts, frame))
        if i == 1500:
            j.note_universe({}, ["IDX_I:13"])
    await j.stop()
    reader = JournalReader(j.path or tmp_path)
    assert list(reader.frames()) == live
    got = list(reader.depth_frames())
    for levels in (20, 200):  # in order within each feed
        assert [d for d in got if d[1] == levels] == [d for d in depth if d[1] == levels]
    records = list(reader.records())
    assert [r for r in records if isinstance(r[1], bytes)] == live
    assert [r[1]["type"] for r in records if isinstance(r[1], dict)] == ["file", "session", "universe"]
    kinds = {b.kind for b in reader.blocks(decode=False)}
    assert {KIND_FRAMES, KIND_DEPTH} <= kinds
    assert {b.levels for b in reader.blocks() if b.kind == KIND_DEPTH} == {20, 200}
    assert reader.stats.depth_frames == len(depth) and reader.stats.frames == len(live)
    assert reader.stats.corrupt_blocks == 0
    tail = reader.tail_records(20)  # what recovery matches against the write-ahead file: live records only
    assert tail == live[-20:]


async def test_depth_frames_rotate_with_the_day(tmp_path: Path) -> None:
    settings = make_settings(journal_dir=tmp_path)
    j = Journal(settings, instance="feed", clock=lambda: DAY1_EVENING)
    await j.start()
    j.append_depth(b"\x01" * 664, DAY1_EVENING, 20)
    j.append(bytes([2]) + b"\x00" * 15, DAY1_EVENING + 1)
    j.append_depth(b"\x02" * 664, DAY1_EVENING + 20, 20)  # past IST midnight
    await j.stop()
    day1 = JournalReader(journal_path(tmp_path, datetime(2026, 11, 25).date(), "feed"))
    day2 = JournalReader(journal_path(tmp_path, datetime(2026, 11, 26).date(), "feed"))
    assert [f for _, _, f in day1.depth_frames()] == [b"\x01" * 664]
    assert [f for _, _, f in day2.depth_frames()] == [b"\x02" * 664]
    assert len(list(day1.frames())) == 1 and not list(day2.frames())
