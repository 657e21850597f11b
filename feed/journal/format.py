"""The journal's file format: blocks, their codec, the frames payload, file names. Pure: no file I/O.

File ``<journal_dir>/<YYYY-MM-DD>.<instance>.djr`` (the IST day of the receive times inside)::

    b"DHANJRNL"                         signature
    block*                              every unit after the signature is a block

    block header (40 bytes, little endian): magic b"DJB\\x01", kind u8 (0 frames, 1 meta, 2 depth frames),
    codec u8 (0 stored, 1 zlib, 2 zstd), levels u16 (depth frames: 20 or 200; else 0), count u32 (records),
    raw_len u32, comp_len u32, first_ts f64, last_ts f64, crc32 u32 (of the header's first 36 bytes, then
    the payload); then comp_len payload bytes.

    frames payload (raw), in columns: count x recv_ts (f64 epoch seconds), count x length (u32), the frames
    concatenated (columns compress better and read back without a per-record unpack)
    depth frames payload: the same columns, holding the frames of the 20- or 200-level depth feed (the
    header's levels). Order is kept within a kind; a depth block holds the depth frames of about the same
    span as the frames block written with it (the sockets are independent: no order exists between them).
    Readers that only know kinds 0 and 1 skip such a block as damage; ``dhan replay`` skips them.
    meta payload (raw): one JSON object with "type": "file" (first block: version, instance, day),
    "session" (each start, and "continued" after a day rotation), "universe" (instruments added: member
    records with tick sizes; removed: "SEG:ID" keys - in stream order, so a reader can mirror the feed's
    normaliser exactly).

The write-ahead file (:mod:`feed.journal.wal`) holds blocks of the same format, stored (uncompressed).

Blocks are independent (own compressed stream, own CRC): a torn tail after a crash is detected (short header
or payload, bad CRC at the end) and ignored on read, and cut off when the writer reopens the file to append.
A damaged block inside the file is skipped: the reader resynchronises on the next block magic.

zstd (the zstandard package) by default, zlib (stdlib) as the fallback codec (``journal_codec``). Measured on
simulator frames in 256 KiB blocks (bench/journal_replay.py): zstd level 3 stores 52 B/frame for 0.5 us of
writer-thread CPU per frame and reads back at 0.2 us/frame; zlib level 3 stores 69 B/frame for 4.2 us and
0.7 us. A quarter less disk and an eighth of the CPU pay for the dependency.
"""

from __future__ import annotations

import re
import struct
import sys
import zlib
from array import array
from collections.abc import Callable, Mapping
from datetime import date
from itertools import accumulate, pairwise
from pathlib import Path
from typing import Any, NamedTuple

import orjson

try:  # the default codec; zlib (stdlib) when DHAN_JOURNAL_CODEC=zlib
    import zstandard
    from zstandard import ZstdError
except ImportError:  # pragma: no cover - zstandard is a dependency
    zstandard = None  # type: ignore[assignment]
    ZstdError = zlib.error  # type: ignore[misc,assignment]

from shared.errors import ConfigError
from shared.settings import JOURNAL_BLOCK_KB_MAX

__all__ = [
    "BLOCK_MAGIC", "CODEC_STORED", "CODEC_ZLIB", "CODEC_ZSTD", "CRC_STRUCT", "FORMAT_VERSION", "HEADER_BYTES",
    "HEAD_STRUCT", "KIND_DEPTH", "KIND_FRAMES", "KIND_META", "MAX_BLOCK_COMP", "MAX_BLOCK_RAW", "SIGNATURE",
    "TS_LIMIT", "BlockCodec", "DepthFrame", "Record", "ZstdError", "is_stream_meta", "journal_path", "pack_frames",
    "plain_universe", "unpack_frames", "wal_path", "zstandard",
]

FORMAT_VERSION = 1
SIGNATURE = b"DHANJRNL"
BLOCK_MAGIC = b"DJB\x01"
KIND_FRAMES, KIND_META, KIND_DEPTH = 0, 1, 2
CODEC_STORED, CODEC_ZLIB, CODEC_ZSTD = 0, 1, 2
HEAD_STRUCT = struct.Struct("<4sBBHIIIdd")  # the block header without its CRC
CRC_STRUCT = struct.Struct("<I")
HEADER_BYTES = HEAD_STRUCT.size + CRC_STRUCT.size  # 40
_LITTLE = sys.byteorder == "little"
assert array("d").itemsize == 8 and array("I").itemsize == 4, "journal columns need f64 and u32 arrays"

# Largest block payload a writer can produce; a header claiming more is damage, not data. A frames block closes
# once it holds journal_block_kb (at most JOURNAL_BLOCK_KB_MAX KiB, the setting's bound) and the record that
# crossed it: one WebSocket message (the feed takes at most FEED_MESSAGE_MAX_BYTES, feed/connection.py) and its
# 12 bytes of columns; write-ahead blocks are cut the same way. A meta block stays below: its largest, a
# universe snapshot of Dhan's 25,000 instruments at most (5 connections x 5,000) at ~270 B each, is 6.75 MB.
# The reader holds one block's compressed and raw bytes, whatever a header or a compressed stream claims (see
# JournalReader._inflate), and the objects decoded from them: dhan verify peaks at 300 MB on blocks of this size
# that decode to the most objects (empty frames, JSON numbers, JSON keys: 17 KB of zlib each on disk).
FEED_MESSAGE_MAX_BYTES = 1 << 20
MAX_BLOCK_RAW = JOURNAL_BLOCK_KB_MAX * 1024 + FEED_MESSAGE_MAX_BYTES + 12
# Incompressible data grows when compressed (zstd: ~n/256 and a frame header; zlib: 5 B per stored 16 KiB).
MAX_BLOCK_COMP = MAX_BLOCK_RAW + MAX_BLOCK_RAW // 128 + 1024
# Receive times are epoch seconds in [0, 2**33) (1970 to 2242): datetime takes them (day_bounds, the replay's
# listing as of its first frame). A time outside, NaN or infinite, makes its block damage. In the f64 columns
# (little endian) such a time is one whose most significant byte is above 0x41: one C-level pass per block.
TS_LIMIT = float(2**33)
_TS_TOP_BYTES_OK = bytes(range(0x42))
_INSTANCE_RE = re.compile(r"[^A-Za-z0-9_.-]")

Record = tuple[float, bytes | dict[str, Any]]  # a frame, or a note (meta dict), with its time


class DepthFrame(NamedTuple):
    """A frame of a depth feed on the writer's queue (``(recv_ts, DepthFrame)``): not a live-feed record."""

    levels: int
    frame: bytes

# Notes the writer adds by itself; every other note was put in the stream by the feed.
_WRITER_NOTES = frozenset({"file", "session", "recovered"})


def pack_frames(tss: list[float], frames: list[bytes]) -> bytes:
    """A frames block's raw payload (see the module docstring)."""
    ts_col, len_col = array("d", tss), array("I", map(len, frames))
    if not _LITTLE:
        ts_col.byteswap()
        len_col.byteswap()
    return ts_col.tobytes() + len_col.tobytes() + b"".join(frames)


def unpack_frames(raw: bytes, count: int) -> list[tuple[float, bytes]] | None:
    """The records of a frames payload; None when the columns do not add up (damage)."""
    head = 12 * count
    if len(raw) < head or raw[7 : 8 * count : 8].translate(None, _TS_TOP_BYTES_OK):  # a time out of range
        return None
    ts_col, len_col = array("d"), array("I")
    ts_col.frombytes(raw[: 8 * count])
    len_col.frombytes(raw[8 * count : head])
    if not _LITTLE:
        ts_col.byteswap()
        len_col.byteswap()
    ends = list(accumulate(len_col, initial=head))
    if ends[-1] != len(raw):
        return None
    return list(zip(ts_col, [raw[a:b] for a, b in pairwise(ends)], strict=True))


def journal_path(directory: Path, day: date, instance: str) -> Path:
    return Path(directory) / f"{day.isoformat()}.{_INSTANCE_RE.sub('_', instance) or 'feed'}.djr"


def wal_path(directory: Path, instance: str) -> Path:
    """The write-ahead file of one feed instance (see :mod:`feed.journal.wal`)."""
    return Path(directory) / f"{_INSTANCE_RE.sub('_', instance) or 'feed'}.wal"


def is_stream_meta(meta: Mapping[str, Any] | None) -> bool:
    """A meta record the feed put in the stream (``note``, ``note_universe``), not one the writer adds by
    itself (file, session, recovered, the universe snapshot at a day rotation)."""
    return meta is not None and meta.get("type") not in _WRITER_NOTES and not meta.get("snapshot")


def plain_universe(meta: dict[str, Any]) -> dict[str, Any]:
    """A universe note with its member records as dicts (the feed passes them as JSON bytes)."""
    if meta.get("type") != "universe":
        return meta
    added = {k: orjson.loads(v) if isinstance(v, (bytes, bytearray)) else dict(v) for k, v in meta["added"].items()}
    return {**meta, "added": added}


class BlockCodec:
    """How blocks are compressed: ``journal_codec`` at ``journal_compress_level`` (0: stored)."""

    def __init__(self, name: str, level: int) -> None:
        self.compress: Callable[[bytes], bytes] | None = None
        if level <= 0:
            self.id = CODEC_STORED
        elif name == "zstd":
            if zstandard is None:
                raise ConfigError("the journal codec zstd needs the zstandard package: pip install zstandard, "
                                  "or set DHAN_JOURNAL_CODEC=zlib")
            self.id = CODEC_ZSTD
            self.compress = zstandard.ZstdCompressor(level=min(level, 19)).compress
        else:
            self.id = CODEC_ZLIB
            zlevel = min(level, 9)
            self.compress = lambda data: zlib.compress(data, zlevel)

    def block(self, kind: int, payload: bytes, count: int, first_ts: float, last_ts: float,
              levels: int = 0) -> bytes:
        body = payload if self.compress is None else self.compress(payload)
        head = HEAD_STRUCT.pack(BLOCK_MAGIC, kind, self.id, levels, count, len(payload), len(body), first_ts,
                                last_ts)
        return head + CRC_STRUCT.pack(zlib.crc32(body, zlib.crc32(head))) + body

    def frames_block(self, tss: list[float], frames: list[bytes]) -> bytes:
        return self.block(KIND_FRAMES, pack_frames(tss, frames), len(tss), tss[0], tss[-1])

    def depth_block(self, tss: list[float], frames: list[bytes], levels: int) -> bytes:
        return self.block(KIND_DEPTH, pack_frames(tss, frames), len(tss), tss[0], tss[-1], levels)

    def meta_block(self, meta: dict[str, Any], ts: float) -> bytes:
        return self.block(KIND_META, orjson.dumps(meta), 0, ts, ts)
