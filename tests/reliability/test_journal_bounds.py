"""Hostile journal files: what a block header or a compressed stream claims never sizes the reader's memory.

A zstd frame header declaring 1 TiB, a zlib bomb (1 MB that inflates to 1 GiB), block headers whose count or
size fields are absurd, a file header asking the replay for 3,000,000 strikes, paths that are directories or
FIFOs. The reader skips the damaged blocks (counted) and goes on; ``dhan replay``, ``dhan verify`` and the
feed's write-ahead recovery are run as the real commands: one line on stderr, no traceback, memory bounded.
"""

from __future__ import annotations

import itertools
import math
import os
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path

import orjson
import pytest
import zstandard

from feed.journal import (
    BLOCK_MAGIC,
    CODEC_STORED,
    CODEC_ZLIB,
    CODEC_ZSTD,
    CRC_STRUCT,
    HEAD_STRUCT,
    KIND_FRAMES,
    KIND_META,
    MAX_BLOCK_RAW,
    SIGNATURE,
    JournalReader,
    pack_frames,
)
from shared.db import init_schema
from shared.settings import Settings
from tests.child import PEAK_RSS_BOUND_BYTES, clean_env, run_dhan
from tests.conftest import DATA, free_port, make_settings, track_prefix

T0 = 1_795_600_000.0
TIB = 1 << 40


def block(kind: int, codec: int, count: int, raw_len: int, body: bytes, ts: float = T0) -> bytes:
    """A block with a valid CRC: the damage is in what it claims, not in its bytes."""
    head = HEAD_STRUCT.pack(BLOCK_MAGIC, kind, codec, 0, count, raw_len, len(body), ts, ts)
    return head + CRC_STRUCT.pack(zlib.crc32(body, zlib.crc32(head))) + body


def frames_block(frames: list[bytes], ts: float = T0) -> bytes:
    raw = pack_frames([ts + i for i in range(len(frames))], frames)
    return block(KIND_FRAMES, CODEC_STORED, len(frames), len(raw), raw, ts)


def zstd_claiming(size: int) -> bytes:
    """A 16-byte zstd frame whose header declares ``size`` bytes of content (single segment, one empty block)."""
    return b"\x28\xb5\x2f\xfd" + bytes([0xE0]) + struct.pack("<Q", size) + b"\x01\x00\x00"


@pytest.fixture(scope="module")
def zlib_bomb() -> bytes:
    """~1 MB of zlib that inflates to 1 GiB of zeros."""
    packer = zlib.compressobj(9)
    zeros = bytes(1 << 20)
    out = [packer.compress(zeros) for _ in range(1024)]
    out.append(packer.flush())
    return b"".join(out)


HOSTILE = ("zstd header claiming 1 TiB", "zlib bomb", "zlib bomb in the largest block a writer makes",
           "a receive time of NaN amid good ones", "receive times in the year 10^292")


def times_block(tss: list[float], first_ts: float, last_ts: float) -> bytes:
    raw = pack_frames(tss, [b"\x02" * 16] * len(tss))
    head = HEAD_STRUCT.pack(BLOCK_MAGIC, KIND_FRAMES, CODEC_STORED, 0, len(tss), len(raw), len(raw), first_ts, last_ts)
    return head + CRC_STRUCT.pack(zlib.crc32(raw, zlib.crc32(head))) + raw


def hostile_blocks(bomb: bytes) -> list[bytes]:
    """Each holds a stream far larger than the payload its header declares, or times datetime cannot take
    (see HOSTILE)."""
    return [block(KIND_FRAMES, CODEC_ZSTD, 1, 20, zstd_claiming(TIB)),
            block(KIND_FRAMES, CODEC_ZLIB, 1, 20, bomb),
            block(KIND_FRAMES, CODEC_ZLIB, 1, MAX_BLOCK_RAW, bomb),
            times_block([T0, math.nan, T0 + 2], T0, T0 + 2),
            times_block([1e300], 1e300, 1e300)]


# --- the reader ---
def test_a_zstd_header_claiming_a_tebibyte_is_a_damaged_block(tmp_path: Path) -> None:
    path = tmp_path / "tib.djr"
    data = SIGNATURE + block(KIND_FRAMES, CODEC_ZSTD, 1, 20, zstd_claiming(TIB))
    path.write_bytes(data)
    assert len(data) == 64
    reader = JournalReader(path)
    assert list(reader.frames()) == [] and reader.stats.corrupt_blocks == 1


def test_a_zlib_bomb_is_cut_at_the_size_the_block_declares(tmp_path: Path, zlib_bomb: bytes) -> None:
    assert len(zlib_bomb) < 1.1e6
    path = tmp_path / "bomb.djr"
    good = frames_block([b"a" * 30, b"b" * 40])
    path.write_bytes(SIGNATURE + good + block(KIND_FRAMES, CODEC_ZLIB, 1, 20, zlib_bomb) + good)
    reader = JournalReader(path)
    assert [f for _, f in reader.frames()] == [b"a" * 30, b"b" * 40] * 2  # read on past the bomb
    assert reader.stats.corrupt_blocks == 1


@pytest.mark.parametrize("case", ["raw_len huge", "comp_len huge", "count huge", "zstd declares other size",
                                  "zstd output past raw_len", "zlib output past raw_len", "zlib cut short"])
def test_blocks_whose_fields_lie_are_skipped_and_the_rest_is_read(tmp_path: Path, case: str) -> None:
    raw = pack_frames([T0, T0 + 1], [b"x" * 50, b"y" * 60])
    zstd = zstandard.ZstdCompressor(level=3)
    bad = {
        "raw_len huge": block(KIND_FRAMES, CODEC_STORED, 2, 0xFFFF_FFFF, raw),
        "comp_len huge": HEAD_STRUCT.pack(BLOCK_MAGIC, KIND_FRAMES, CODEC_STORED, 0, 2, len(raw), 0xFFFF_FFFF, T0, T0)
        + CRC_STRUCT.pack(0) + raw,
        "count huge": block(KIND_FRAMES, CODEC_STORED, 0xFFFF_FFFF, len(raw), raw),
        "zstd declares other size": block(KIND_FRAMES, CODEC_ZSTD, 2, len(raw) - 1, zstd.compress(raw)),
        "zstd output past raw_len": block(KIND_FRAMES, CODEC_ZSTD, 2, len(raw) - 1, zstandard.ZstdCompressor(
            level=3, write_content_size=False).compress(raw)),
        "zlib output past raw_len": block(KIND_FRAMES, CODEC_ZLIB, 2, len(raw) - 1, zlib.compress(raw)),
        "zlib cut short": block(KIND_FRAMES, CODEC_ZLIB, 2, len(raw), zlib.compress(raw)[:-6]),
    }[case]
    good = frames_block([b"g" * 10])
    path = tmp_path / "j.djr"
    path.write_bytes(SIGNATURE + good + bad + good)
    reader = JournalReader(path)
    assert [f for _, f in reader.frames()] == [b"g" * 10, b"g" * 10]
    assert reader.stats.corrupt_blocks == 1


@pytest.mark.parametrize(("tss", "first_ts", "last_ts"), [
    ([T0], math.nan, T0), ([T0], T0, math.inf), ([T0], -1.0, T0), ([T0], T0, 2.0**33),  # the block's times
    ([T0, math.nan], T0, T0), ([T0, -math.inf], T0, T0), ([T0, -5.0], T0, T0), ([1e300, T0], T0, T0),
])
def test_blocks_with_times_datetime_cannot_take_are_skipped(
    tmp_path: Path, tss: list[float], first_ts: float, last_ts: float
) -> None:
    good = times_block([0.5, T0, 2.0**33 - 1], 0.5, 2.0**33 - 1)  # the edges of the range are fine
    path = tmp_path / "j.djr"
    path.write_bytes(SIGNATURE + good + times_block(tss, first_ts, last_ts) + good)
    reader = JournalReader(path)
    assert [t for t, _ in reader.frames()] == [0.5, T0, 2.0**33 - 1] * 2 and reader.stats.corrupt_blocks == 1


def test_streams_without_a_declared_size_still_read(tmp_path: Path) -> None:
    """zstd frames written without a content size (other tools do) and zlib blocks are data, not damage."""
    raw = pack_frames([T0, T0 + 1], [b"x" * 500, b"y" * 600])
    unsized = zstandard.ZstdCompressor(level=3, write_content_size=False).compress(raw)
    assert zstandard.frame_content_size(unsized) == -1
    path = tmp_path / "j.djr"
    path.write_bytes(SIGNATURE + block(KIND_FRAMES, CODEC_ZSTD, 2, len(raw), unsized)
                     + block(KIND_FRAMES, CODEC_ZLIB, 2, len(raw), zlib.compress(raw)))
    reader = JournalReader(path)
    assert [f for _, f in reader.frames()] == [b"x" * 500, b"y" * 600] * 2 and reader.stats.corrupt_blocks == 0


def test_a_path_that_is_no_regular_file_is_refused(tmp_path: Path) -> None:
    from shared.errors import ConfigError

    fifo = tmp_path / "fifo.djr"
    os.mkfifo(fifo)  # without a writer, open() would wait forever; this one even starts like a journal
    keep = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    try:
        os.write(keep, SIGNATURE)
        (tmp_path / "dir.djr").mkdir()
        for name in ("fifo.djr", "dir.djr"):
            with pytest.raises(ConfigError, match="not a regular file"):
                JournalReader(tmp_path / name)
    finally:
        os.close(keep)


# --- the commands ---
def _replay(path: Path) -> list[str]:
    return ["replay", str(path), "--port", str(free_port()), "--duration", "30"]


def test_dhan_replay_of_hostile_blocks_is_one_line_in_bounded_memory(tmp_path: Path, zlib_bomb: bytes) -> None:
    for n, (what, data) in enumerate(zip(HOSTILE, hostile_blocks(zlib_bomb), strict=True)):
        path = tmp_path / f"{n}.djr"
        path.write_bytes(SIGNATURE + data)
        done = run_dhan(_replay(path), cwd=tmp_path, env=clean_env())
        assert done.one_line_error() and done.code == 2, (what, done)
        assert "1 damaged block(s) skipped" in done.err and "nothing to replay" in done.err, what
        assert done.peak_rss_bytes < PEAK_RSS_BOUND_BYTES, f"{what}: peak RSS {done.peak_rss_bytes >> 20} MiB"


def _header(sim: dict[str, object]) -> bytes:
    meta = orjson.dumps({"type": "file", "version": 1, "instance": "feed", "day": "2026-11-25", "source": "sim",
                         "sim": sim})
    return block(KIND_META, CODEC_STORED, 0, len(meta), meta)


@pytest.mark.parametrize(("sim", "named"), [
    ({"sim_nifty_strikes": 3_000_000}, "sim_nifty_strikes"),
    ({"sim_banknifty_strikes": -1}, "sim_banknifty_strikes"),
    ({"sim_start_price_nifty": "lots"}, "sim_start_price_nifty"),
    ({"sim_session_clock": "sundial"}, "sim_session_clock"),
])
def test_dhan_replay_validates_the_recorded_simulator_settings(
    tmp_path: Path, sim: dict[str, object], named: str
) -> None:
    path = tmp_path / "header.djr"
    data = SIGNATURE + _header(sim) + frames_block([b"\x02" * 16])
    path.write_bytes(data)
    if named == "sim_nifty_strikes":
        assert len(data) < 300  # the 241-byte file, near enough
    done = run_dhan(_replay(path), cwd=tmp_path, env=clean_env())
    assert done.one_line_error() and done.code == 2, done
    assert named in done.err and str(path) in done.err
    assert done.peak_rss_bytes < PEAK_RSS_BOUND_BYTES, f"peak RSS {done.peak_rss_bytes >> 20} MiB"


def test_dhan_replay_of_a_directory_a_fifo_or_a_missing_path_is_one_line(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.djr")
    (tmp_path / "dir.djr").mkdir()
    for name in ("fifo.djr", "dir.djr", "missing.djr"):
        done = run_dhan(_replay(tmp_path / name), cwd=tmp_path, env=clean_env(), deadline_s=30)
        assert done.one_line_error() and done.code == 2, done
        assert "cannot read journal" in done.err


async def test_dhan_verify_counts_hostile_blocks_in_bounded_memory(
    tmp_path: Path, zlib_bomb: bytes, db_settings: Settings
) -> None:
    await init_schema(db_settings)
    path = tmp_path / "2026-11-25.feed.djr"
    path.write_bytes(SIGNATURE + b"".join(hostile_blocks(zlib_bomb)))
    env = clean_env(DHAN_MYSQL_URL=db_settings.mysql.url.get_secret_value())
    done = run_dhan(["verify", str(path)], cwd=tmp_path, env=env)
    assert done.code == 1 and not done.killed, done  # problems found: the damaged blocks
    assert "5 corrupt blocks" in done.out and "result    5 problem(s)" in done.out, done.out
    assert done.err == "" and "Traceback" not in done.out
    assert done.peak_rss_bytes < PEAK_RSS_BOUND_BYTES, f"peak RSS {done.peak_rss_bytes >> 20} MiB"


def _deflated(pieces: Iterable[bytes]) -> tuple[int, bytes]:
    """(raw length, zlib stream) of the concatenated pieces, never all in memory at once."""
    packer, out, raw_len = zlib.compressobj(9), [], 0
    for piece in pieces:
        raw_len += len(piece)
        out.append(packer.compress(piece))
    out.append(packer.flush())
    return raw_len, b"".join(out)


def amplifying_blocks(raw_len: int) -> list[bytes]:
    """Blocks of about ``raw_len`` that decode to the most Python objects per byte (9 KB to 12 MB on disk):
    empty frames (12 bytes of columns per record), and meta JSON of numbers or of distinct keys. Built in
    pieces: the test process stays small."""
    count, step = raw_len // 12, 1 << 16
    empty = (bytes(min(step, 12 * count - i)) for i in range(0, 12 * count, step))  # time 0.0, length 0
    numbers = itertools.chain([b'{"type":"x","p":['], (b"1.5," * (step // 4) for _ in range(raw_len // step - 1)),
                              [b"1]}"])
    keys = itertools.chain([b'{"type":"x"'], (b"".join(b',"%07x":0' % k for k in range(i, i + 1024))
                                              for i in range(0, raw_len // 12 - 1024, 1024)), [b"}"])
    out = []
    for kind, pieces, n in ((KIND_FRAMES, empty, count), (KIND_META, numbers, 0), (KIND_META, keys, 0)):
        size, body = _deflated(pieces)
        out.append(block(kind, CODEC_ZLIB, n, size, body, 1.0))
    return out


async def test_dhan_verify_memory_stays_bounded_on_blocks_that_decode_to_many_objects(
    tmp_path: Path, db_settings: Settings
) -> None:
    """At the largest block a writer makes they are read (300 MB at the peak, measured); at the 64 MiB the
    cap was before (over 1 GB to decode) they are refused unread."""
    assert MAX_BLOCK_RAW < 10 << 20
    await init_schema(db_settings)
    path = tmp_path / "2026-11-25.feed.djr"
    path.write_bytes(SIGNATURE + b"".join(amplifying_blocks(MAX_BLOCK_RAW) + amplifying_blocks(64 << 20)))
    env = clean_env(DHAN_MYSQL_URL=db_settings.mysql.url.get_secret_value())
    done = run_dhan(["verify", str(path)], cwd=tmp_path, env=env)
    assert done.code == 1 and not done.killed and done.err == "" and "Traceback" not in done.out, done
    assert f"{MAX_BLOCK_RAW // 12} frames in 3 blocks" in done.out and "3 corrupt blocks" in done.out, done.out
    assert done.peak_rss_bytes < PEAK_RSS_BOUND_BYTES, f"peak RSS {done.peak_rss_bytes >> 20} MiB"


async def test_a_write_ahead_batch_past_the_block_cap_is_cut_into_readable_blocks(tmp_path: Path) -> None:
    """A publisher stalled for long hands write_ahead() one huge batch: it is written in blocks of the writer
    thread's size, so a reader (the next start's recovery) takes every frame."""
    from feed.journal import Journal, wal_path

    settings = make_settings(journal_dir=tmp_path, journal_block_kb=64, journal_block_ms=60_000)
    j = Journal(settings, instance="feed", clock=lambda: T0)
    await j.start()
    frame = b"\x08" * 1000
    n = MAX_BLOCK_RAW // 1000 + 100  # more than the largest block a reader takes
    try:
        for i in range(n):
            j.append(frame, T0 + i * 1e-3)
        j.write_ahead()
        reader = JournalReader(wal_path(tmp_path, "feed"))
        sizes = [len(b.records) for b in reader.blocks()]
        assert sum(sizes) == n and reader.stats.corrupt_blocks == 0
        assert max(sizes) == 64 * 1024 // 1012 + 1  # closed by size, as the writer thread closes its blocks
    finally:
        await j.stop()


def test_feed_recovers_a_hostile_write_ahead_file_in_bounded_memory(tmp_path: Path, zlib_bomb: bytes) -> None:
    """The frames around the hostile blocks are moved into the journal; the feed then runs as usual."""
    journal_dir = tmp_path / "journal"
    journal_dir.mkdir()
    before = [b"a" * 20, b"b" * 30]
    after = [b"c" * 40]
    (journal_dir / "feed.wal").write_bytes(SIGNATURE + frames_block(before) + b"".join(hostile_blocks(zlib_bomb))
                                           + frames_block(after, T0 + 10))
    settings = make_settings()
    env = clean_env(
        DHAN_REDIS_URL=settings.redis.url.get_secret_value(), DHAN_KEY_PREFIX=track_prefix(settings.redis.key_prefix),
        DHAN_JOURNAL_DIR=str(journal_dir), DHAN_SPOOL_DIR=str(tmp_path / "spool"),
        DHAN_INSTRUMENTS_URL=str(DATA / "dhan-scrip-master-compact-nse-eq-idx-2026-07.csv"),
        DHAN_FEED_URL=f"ws://127.0.0.1:{free_port()}/",  # nobody there: the feed retries until --duration
    )
    done = run_dhan(["feed", "--duration", "2"], cwd=tmp_path, env=env)
    assert done.code == 0 and done.err == "" and "Traceback" not in done.out, done
    assert done.peak_rss_bytes < PEAK_RSS_BOUND_BYTES, f"peak RSS {done.peak_rss_bytes >> 20} MiB"
    recovered = [orjson.loads(line) for line in done.out.splitlines() if "journal_wal_recovered" in line]
    assert recovered and recovered[0]["frames"] == 3, done.out
    frames = [f for p in sorted(journal_dir.glob("*.djr")) for _, f in JournalReader(p).frames()]
    assert frames == before + after


# --- meta records with absurd values (dhan verify mirrors the feed from them) ---
@pytest.mark.parametrize("tick", ["abc", 5e-324, "inf", [1], -1, 0, 1e300])
def test_verify_scan_takes_absurd_universe_records_as_defaults(tmp_path: Path, tick: object) -> None:
    """A tick size that is text, not positive, or whose inverse overflows the normaliser's rounding is the
    default tick; a removed key with 5,000 digits (past int()'s limit) or an ``added`` that is no object is
    ignored. The trades around them are still read."""
    from control.audit.journal_scan import scan_journal
    from feed.normalise import DEFAULT_TICK
    from feed.protocol.encode import pack_quote

    notes = [
        {"type": "universe", "added": {"NSE_EQ:2885": {"seg": "NSE_EQ", "sid": 2885, "tick_size": tick}},
         "removed": ["NSE_EQ:" + "9" * 5000]},
        {"type": "universe", "added": ["NSE_EQ:2885"], "removed": "NSE_EQ:2885"},
    ]
    metas = [orjson.dumps(n) for n in notes]
    quotes = [pack_quote(1, 2885, ltp=ltp, ltq=10, ltt=1_795_600_000 + n, atp=1234.5, volume=volume,
                         total_sell_qty=50, total_buy_qty=60, open=1230.0, close=1240.0, high=1235.0, low=1220.0)
              for n, (ltp, volume) in enumerate([(1234.55, 100), (1234.6, 110)])]  # a trade of 10 between
    path = tmp_path / "j.djr"
    path.write_bytes(SIGNATURE + block(KIND_META, CODEC_STORED, 0, len(metas[0]), metas[0])
                     + frames_block(quotes) + block(KIND_META, CODEC_STORED, 0, len(metas[1]), metas[1]))
    scan = scan_journal([path])
    assert scan.read.corrupt_blocks == 0 and scan.frames == 2 and scan.trade_count == 1
    if not (isinstance(tick, (int, float)) and 1e-6 <= tick <= 999_999):
        assert scan.tick_sizes[(1, 2885)] == DEFAULT_TICK


def test_dhan_verify_ignores_what_only_looks_like_a_write_ahead_file(tmp_path: Path) -> None:
    from control.audit.verify_cli import pending_write_ahead

    journal = tmp_path / "2026-11-25.feed.djr"
    journal.write_bytes(SIGNATURE)
    (tmp_path / "gone.wal").symlink_to(tmp_path / "nowhere")  # stat() raised FileNotFoundError
    (tmp_path / "dir.wal").mkdir()
    assert pending_write_ahead([journal]) == []
