"""The feed's journal: every raw frame with its receive time, append-only, one file per IST day and instance.

Written off the hot path: :meth:`Journal.append` only puts ``(recv_ts, frame)`` on a bounded deque (O(1),
never blocks; past ``journal_queue_max`` waiting frames it drops and counts). A writer thread packs the
frames into blocks, compresses and writes them, and fsyncs by policy. Read back with :class:`JournalReader`;
``dhan replay`` serves a journal to a feed, ``dhan verify`` checks MySQL against it.

File ``<journal_dir>/<YYYY-MM-DD>.<instance>.djr`` (the IST day of the receive times inside)::

    b"DHANJRNL"                         signature
    block*                              every unit after the signature is a block

    block header (40 bytes, little endian): magic b"DJB\\x01", kind u8 (0 frames, 1 meta), codec u8
    (0 stored, 1 zlib, 2 zstd), reserved u16, count u32 (records), raw_len u32, comp_len u32, first_ts f64,
    last_ts f64, crc32 u32 (of the header's first 36 bytes, then the payload); then comp_len payload bytes.

    frames payload (raw), in columns: count x recv_ts (f64 epoch seconds), count x length (u32), the frames
    concatenated (columns compress better and read back without a per-record unpack)
    meta payload (raw): one JSON object with "type": "file" (first block: version, instance, day),
    "session" (each start, and "continued" after a day rotation), "universe" (instruments added: member
    records with tick sizes; removed: "SEG:ID" keys - in stream order, so a reader can mirror the feed's
    normaliser exactly).

Write-ahead file ``<journal_dir>/<instance>.wal`` (``journal_write_ahead``, on by default): the writer thread
lags the socket by up to ``journal_block_ms``, so a SIGKILLed feed would lose that much of its journal although
the events were already in Redis (and MySQL). So every record appended is also kept for :meth:`Journal.write_ahead`,
which the publisher calls before each send to Redis and each spool write: it packs what came since the last call
into stored (uncompressed) blocks of the same format and ``os.write``s them to the write-ahead file, one
syscall per publish batch, no fsync (a killed process loses nothing the kernel has). Every event in Redis thus
has its frame in the journal or in the write-ahead file. The file starts over (truncated) past
``WAL_RESET_BYTES`` once the journal holds all of it; a clean stop deletes it. At start, a write-ahead file left
by a killed feed is recovered: its records after the journal's last ones (matched on their last
``MATCH_RECORDS`` records: receive time and bytes) are appended to the journal of their day behind a
``"recovered"`` note, then the file is started anew.

Blocks are independent (own compressed stream, own CRC): a torn tail after a crash is detected (short header
or payload, bad CRC at the end) and ignored on read, and cut off when the writer reopens the file to append.
A damaged block inside the file is skipped: the reader resynchronises on the next block magic.

Damage never stops the feed: a write-ahead file with damaged blocks or malformed notes, or that cannot be read,
and a journal file whose signature is gone, are moved to ``<journal_dir>/quarantine/`` (what could be read is
recovered first), logged (``journal_quarantined``) and counted (``journal_quarantined``); the feed starts a
fresh file. The writer thread dying is reported through ``on_failure`` (the feed then stops, exit 1) and
keeps the write-ahead file for the next start.

zstd (the zstandard package) by default, zlib (stdlib) as the fallback codec (``journal_codec``). Measured on
simulator frames in 256 KiB blocks (bench/journal_replay.py): zstd level 3 stores 52 B/frame for 0.5 us of
writer-thread CPU per frame and reads back at 0.2 us/frame; zlib level 3 stores 69 B/frame for 4.2 us and
0.7 us. A quarter less disk and an eighth of the CPU pay for the dependency.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import socket
import stat
import struct
import sys
import threading
import time
import zlib
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import accumulate, pairwise
from pathlib import Path
from typing import Any, BinaryIO

import orjson

try:  # the default codec; zlib (stdlib) when DHAN_JOURNAL_CODEC=zlib
    import zstandard
    from zstandard import ZstdError
except ImportError:  # pragma: no cover - zstandard is a dependency
    zstandard = None  # type: ignore[assignment]
    ZstdError = zlib.error  # type: ignore[misc,assignment]

from shared import __version__
from shared.clock import IST, Clock, system_clock
from shared.errors import ConfigError
from shared.logs import get_logger
from shared.settings import JOURNAL_BLOCK_KB_MAX, Settings, mask_url

__all__ = [
    "FORMAT_VERSION", "SIM_LISTING_SETTINGS", "Block", "Journal", "JournalReader", "ReadStats", "day_bounds",
    "journal_path", "source_meta", "wal_path",
]

FORMAT_VERSION = 1
SIGNATURE = b"DHANJRNL"
BLOCK_MAGIC = b"DJB\x01"
KIND_FRAMES, KIND_META = 0, 1
CODEC_STORED, CODEC_ZLIB, CODEC_ZSTD = 0, 1, 2
_HEAD = struct.Struct("<4sBBHIIIdd")  # without the CRC
_CRC = struct.Struct("<I")
HEADER_BYTES = _HEAD.size + _CRC.size  # 40
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
REOPEN_EVERY_S = 5.0
WAL_RESET_BYTES = 8 * 1024 * 1024  # the write-ahead file starts over past this (once the journal holds it all)
MATCH_RECORDS = 16  # records matched to find where the journal ends inside the write-ahead file
_INSTANCE_RE = re.compile(r"[^A-Za-z0-9_.-]")


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
    """The write-ahead file of one feed instance (see the module docstring)."""
    return Path(directory) / f"{_INSTANCE_RE.sub('_', instance) or 'feed'}.wal"


Record = tuple[float, bytes | dict[str, Any]]  # a frame, or a note (meta dict), with its time


_WRITER_NOTES = frozenset({"file", "session", "recovered"})


def _is_stream_meta(meta: Mapping[str, Any] | None) -> bool:
    """A meta record the feed put in the stream (``note``, ``note_universe``), not one the writer adds by
    itself (file, session, recovered, the universe snapshot at a day rotation)."""
    return meta is not None and meta.get("type") not in _WRITER_NOTES and not meta.get("snapshot")


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


def _plain_universe(meta: dict[str, Any]) -> dict[str, Any]:
    """A universe note with its member records as dicts (the feed passes them as JSON bytes)."""
    if meta.get("type") != "universe":
        return meta
    added = {k: orjson.loads(v) if isinstance(v, (bytes, bytearray)) else dict(v) for k, v in meta["added"].items()}
    return {**meta, "added": added}


def _note_ok(meta: Any) -> bool:
    """A note the writer can store: a universe change needs its ``added`` mapping and ``removed`` list."""
    if not isinstance(meta, dict):
        return False
    if meta.get("type") != "universe":
        return True
    added, removed = meta.get("added"), meta.get("removed")
    return (isinstance(added, dict) and all(isinstance(v, (dict, bytes, bytearray)) for v in added.values())
            and isinstance(removed, list))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def day_bounds(epoch: float) -> tuple[date, float, float]:
    """The IST day of ``epoch`` and its [start, end) in epoch seconds."""
    day = datetime.fromtimestamp(epoch, IST).date()
    start = datetime(day.year, day.month, day.day, tzinfo=IST).timestamp()
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=IST).timestamp()
    return day, start, end


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

    def block(self, kind: int, payload: bytes, count: int, first_ts: float, last_ts: float) -> bytes:
        body = payload if self.compress is None else self.compress(payload)
        head = _HEAD.pack(BLOCK_MAGIC, kind, self.id, 0, count, len(payload), len(body), first_ts, last_ts)
        return head + _CRC.pack(zlib.crc32(body, zlib.crc32(head))) + body


# --- reading ---
@dataclass(slots=True)
class ReadStats:
    blocks: int = 0
    frames: int = 0
    metas: int = 0
    corrupt_blocks: int = 0   # damaged blocks skipped inside the file
    torn_tail_bytes: int = 0  # an incomplete block at the end (a crash while writing): ignored
    bytes_read: int = 0


@dataclass(slots=True)
class Block:
    kind: int
    first_ts: float
    last_ts: float
    offset: int
    size: int  # header + payload bytes in the file
    records: list[tuple[float, bytes]] = field(default_factory=list)  # frames blocks
    meta: dict[str, Any] | None = None  # meta blocks


class JournalReader:
    """Streams the blocks of one journal file (constant memory: one block at a time)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.stats = ReadStats()
        self._zstd_d: Any = None
        try:
            if not stat.S_ISREG(self.path.stat().st_mode):  # a directory, a FIFO (open would wait forever)
                raise ConfigError(f"cannot read journal {self.path}: not a regular file")
            with self.path.open("rb") as fh:
                sig = fh.read(len(SIGNATURE))
        except OSError as exc:
            raise ConfigError(f"cannot read journal {self.path}: {exc.strerror or exc}") from None
        if sig != SIGNATURE:
            raise ConfigError(f"{self.path} is not a dhan journal (no {SIGNATURE.decode()} signature)")

    def header(self) -> dict[str, Any]:
        """The file meta block (version, instance, day...), or {} when even that was lost."""
        kept = self.stats
        try:
            for block in self.blocks():
                return (block.meta or {}) if block.kind == KIND_META else {}
            return {}
        finally:
            self.stats = kept

    def blocks(self, *, decode: bool = True) -> Iterator[Block]:
        """Intact blocks in file order; ``decode=False`` checks CRCs only (no records: a fast scan)."""
        stats = self.stats = ReadStats()
        with self.path.open("rb") as fh:
            data_end = os.fstat(fh.fileno()).st_size
            pos = len(SIGNATURE)
            fh.seek(pos)
            while pos < data_end:
                head = fh.read(HEADER_BYTES)
                if len(head) < HEADER_BYTES:
                    stats.torn_tail_bytes = data_end - pos
                    return
                block, size = self._parse(fh, head, pos, data_end, decode)
                if block is None:
                    if size < 0:  # runs past the end of the file: the torn tail of a crash
                        stats.torn_tail_bytes = data_end - pos
                        return
                    stats.corrupt_blocks += 1
                    pos = self._resync(fh, pos + 1, data_end)
                    fh.seek(pos)
                    continue
                pos += size
                stats.blocks += 1
                stats.bytes_read = pos
                if block.kind == KIND_FRAMES:
                    stats.frames += len(block.records)
                else:
                    stats.metas += 1
                yield block

    def _parse(
        self, fh: BinaryIO, head: bytes, pos: int, data_end: int, decode: bool
    ) -> tuple[Block | None, int]:
        """(block, size); (None, -1) when it runs past EOF, (None, 0) when damaged."""
        magic, kind, codec, _, count, raw_len, comp_len, first_ts, last_ts = _HEAD.unpack_from(head)
        if magic != BLOCK_MAGIC or kind not in (KIND_FRAMES, KIND_META) or raw_len > MAX_BLOCK_RAW \
                or comp_len > MAX_BLOCK_COMP or codec not in (CODEC_STORED, CODEC_ZLIB, CODEC_ZSTD):
            return None, 0
        if pos + HEADER_BYTES + comp_len > data_end:
            # A header that is intact (its CRC cannot be checked without the payload) but whose payload is
            # cut: torn only if nothing valid follows; a damaged length inside the file is resynced.
            return None, (-1 if self._resync(fh, pos + 1, data_end) >= data_end else 0)
        body = fh.read(comp_len)
        (crc,) = _CRC.unpack_from(head, _HEAD.size)
        if zlib.crc32(body, zlib.crc32(head[: _HEAD.size])) != crc:
            return None, (-1 if self._resync(fh, pos + 1, data_end) >= data_end else 0)
        if not decode:
            return Block(kind, first_ts, last_ts, pos, HEADER_BYTES + comp_len), HEADER_BYTES + comp_len
        if not (0.0 <= first_ts < TS_LIMIT and 0.0 <= last_ts < TS_LIMIT):  # also NaN
            return None, 0
        raw = self._inflate(codec, body, raw_len)
        if raw is None:
            return None, 0
        block = Block(kind, first_ts, last_ts, pos, HEADER_BYTES + comp_len)
        if kind == KIND_META:
            try:
                meta = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return None, 0
            block.meta = meta if isinstance(meta, dict) else {"type": "?"}
        else:
            records = unpack_frames(raw, count)
            if records is None:
                return None, 0
            block.records = records
        return block, HEADER_BYTES + comp_len

    def _inflate(self, codec: int, body: bytes, raw_len: int) -> bytes | None:
        """The block's payload, or None unless it is exactly ``raw_len`` bytes. Never produces more than
        ``raw_len`` + 1 bytes, whatever the compressed stream claims: a zstd frame header declaring 1 TiB,
        a zlib bomb (1 MB that inflates to 1 GB)."""
        try:
            if codec == CODEC_ZSTD:
                # decompress() allocates the size a frame header declares and uses max_output_size only
                # when the header declares none: a declared size other than the block's is damage.
                declared = zstandard.frame_content_size(body) if zstandard is not None else -1
                if declared not in (raw_len, -1):
                    return None
                raw = self._zstd().decompress(body, max_output_size=max(raw_len, 1))
            elif codec == CODEC_ZLIB:
                inflater = zlib.decompressobj()
                raw = inflater.decompress(body, raw_len + 1)  # max_length: stops at the first byte too many
                if not inflater.eof:
                    return None
            else:
                raw = body
        except (zlib.error, ZstdError):
            return None
        return raw if len(raw) == raw_len else None

    def _zstd(self) -> Any:
        if self._zstd_d is None:
            if zstandard is None:
                raise ConfigError(f"{self.path} holds zstd blocks: install the zstandard package to read it")
            self._zstd_d = zstandard.ZstdDecompressor()
        return self._zstd_d

    @staticmethod
    def _resync(fh: BinaryIO, start: int, data_end: int) -> int:
        """Offset of the next block magic at or after ``start`` (``data_end`` when none)."""
        chunk_bytes = 1 << 20
        pos = start
        while pos < data_end:
            fh.seek(pos)
            chunk = fh.read(chunk_bytes + len(BLOCK_MAGIC) - 1)
            i = chunk.find(BLOCK_MAGIC)
            if i >= 0:
                return pos + i
            pos += chunk_bytes
        return data_end

    def records(self) -> Iterator[tuple[float, bytes | dict[str, Any]]]:
        """Every record in order: ``(recv_ts, frame)`` or ``(ts, meta dict)``."""
        for block in self.blocks():
            if block.kind == KIND_FRAMES:
                yield from block.records
            else:
                assert block.meta is not None
                yield block.first_ts, block.meta

    def frames(self) -> Iterator[tuple[float, bytes]]:
        for block in self.blocks():
            if block.kind == KIND_FRAMES:
                yield from block.records

    def tail_records(self, count: int) -> list[Record]:
        """The last ``count`` stream records (frames and universe changes, not the notes the writer adds by
        itself), oldest first. Scans CRCs to the end, then decodes only the blocks it needs from the end."""
        places = [(b.offset, b.kind) for b in self.blocks(decode=False)]
        out: list[Record] = []
        with self.path.open("rb") as fh:
            data_end = os.fstat(fh.fileno()).st_size
            for offset, _ in reversed(places):
                fh.seek(offset)
                block, _ = self._parse(fh, fh.read(HEADER_BYTES), offset, data_end, True)
                if block is None:
                    continue
                if block.kind == KIND_FRAMES:
                    recs: list[Record] = list(block.records)
                elif _is_stream_meta(block.meta):
                    assert block.meta is not None
                    recs = [(block.first_ts, block.meta)]
                else:
                    continue
                out[:0] = recs[-(count - len(out)):]
                if len(out) >= count:
                    break
        return out

    def valid_end(self) -> int:
        """Offset just past the last intact block (where an append must continue)."""
        end = len(SIGNATURE)
        for block in self.blocks(decode=False):
            end = block.offset + block.size
        return end


# --- writing ---
_STOP = object()


def source_meta(settings: Settings) -> dict[str, Any]:
    """Where the frames come from; for the simulator, what ``dhan replay`` needs to list its contracts."""
    out: dict[str, Any] = {"source": "sim" if settings.use_simulator else "dhan",
                           "feed_url": mask_url(settings.effective_feed_url)}
    if settings.use_simulator:
        out["sim"] = {name: getattr(settings, name) for name in SIM_LISTING_SETTINGS}
    return out


SIM_LISTING_SETTINGS = ("sim_seed", "sim_start_price_nifty", "sim_start_price_banknifty", "sim_nifty_strikes",
                        "sim_banknifty_strikes", "sim_session_clock")


class Journal:
    """The feed's journal writer. ``append`` on the hot path; file work on a thread. See the module docstring.

    ``journal = Journal(settings, instance=...)``; ``await journal.start()``;
    ``journal.append(frame, recv_ts)`` per frame; ``journal.note_universe(added, removed)`` when the universe
    changes; ``await journal.stop()``.
    """

    def __init__(self, settings: Settings, *, instance: str = "feed", meta: Mapping[str, Any] | None = None,
                 clock: Clock = system_clock, on_failure: Callable[[BaseException], None] | None = None) -> None:
        self.settings = settings
        self._on_failure = on_failure  # called on the event loop when the writer thread dies
        self._loop: asyncio.AbstractEventLoop | None = None
        self.failure: BaseException | None = None
        self.quarantined = 0
        self.enabled = settings.journal_enabled
        self.instance = instance
        self.directory = Path(settings.journal_dir)
        self.clock = clock
        self.log = get_logger("feed.journal")
        self._meta = {**source_meta(settings), **(meta or {})}
        self._max = settings.journal_queue_max
        self._codec = BlockCodec(settings.journal_codec, settings.journal_compress_level)
        self._block_bytes = settings.journal_block_kb * 1024
        self._block_s = settings.journal_block_ms / 1000.0
        self._fsync = settings.journal_fsync
        self._fsync_every_s = settings.journal_fsync_interval_s
        self._q: collections.deque[tuple[float, Any]] = collections.deque()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._fh: BinaryIO | None = None
        self.path: Path | None = None
        self._day_end = 0.0
        self._universe: dict[str, Any] = {}
        self._unsynced = False
        self._last_fsync = 0.0
        self._failed_at = 0.0
        # write-ahead file (see the module docstring); _wal: records appended since the last write_ahead()
        self._wal_on = self.enabled and settings.journal_write_ahead
        self.wal_path = wal_path(self.directory, instance)
        self._wal: list[Record] = []
        self._wal_fd: int | None = None
        self._wal_codec = BlockCodec("zlib", 0)  # stored: the hot path pays no compression
        self._wal_seq = 0  # records handed to write_ahead() so far
        self._wal_bytes = 0
        self.written_seq = 0  # records the writer thread has written to the journal (set by the thread)
        self.wal_writes = 0
        self.wal_errors = 0
        self.recovered_frames = 0
        # counters (read by metrics(); written by one thread each)
        self.appended = 0
        self.dropped = 0
        self.written_frames = 0
        self.lost_frames = 0
        self.blocks = 0
        self.bytes_raw = 0
        self.bytes_written = 0
        self.fsyncs = 0
        self.errors = 0
        self.rotations = 0
        self.truncated_tail_bytes = 0
        self.thread_cpu_s = 0.0  # CPU time of the writer thread (packing, compressing, writing)
        if not self.enabled:
            self.append = self._discard  # type: ignore[method-assign]
        elif self._wal_on:
            self.append = self._append_wal  # type: ignore[method-assign]

    # --- hot path ---
    def append(self, frame: bytes, recv_ts: float) -> None:
        """Queue one frame (O(1), never blocks). Beyond ``journal_queue_max`` waiting: dropped, counted."""
        q = self._q
        if len(q) >= self._max:
            self.dropped += 1
            return
        q.append((recv_ts, frame))

    def _append_wal(self, frame: bytes, recv_ts: float) -> None:
        """``append`` with the write-ahead file on: the record is also kept for :meth:`write_ahead`."""
        q = self._q
        if len(q) >= self._max:
            self.dropped += 1
            return
        item = (recv_ts, frame)
        q.append(item)
        self._wal.append(item)

    def _discard(self, frame: bytes, recv_ts: float) -> None:
        return None

    def _append_meta(self, meta: dict[str, Any]) -> None:
        item = (self.clock(), meta)
        self._q.append(item)
        if self._wal_on:
            self._wal.append(item)

    def note(self, kind: str, data: Mapping[str, Any]) -> None:
        """A meta record in stream order (between the frames appended before and after)."""
        if self.enabled:
            self._append_meta({"type": kind, **data})

    def note_universe(self, added: Mapping[str, bytes | Mapping[str, Any]], removed: Sequence[str]) -> None:
        """Instruments entering (``"SEG:ID"`` -> member record, as JSON bytes or a dict) and leaving."""
        if self.enabled and (added or removed):
            self._append_meta({"type": "universe", "added": dict(added), "removed": list(removed)})

    def write_ahead(self) -> None:
        """Every record appended so far to the OS (the write-ahead file), in one write: the publisher calls
        this before each send to Redis and each spool write, so no event is published before its frame is
        safe from a SIGKILL. A no-op when the write-ahead file is off or nothing is new."""
        items = self._wal
        if not items:
            return
        self._wal = []
        self._wal_seq += len(items)
        fd = self._wal_fd
        if fd is None:
            return
        codec = self._wal_codec
        parts: list[bytes] = []
        tss: list[float] = []
        frames: list[bytes] = []
        for ts, body in items:
            if type(body) is bytes:
                tss.append(ts)
                frames.append(body)
                continue
            if tss:
                parts += self._wal_frames(tss, frames)
                tss, frames = [], []
            assert isinstance(body, dict)
            parts.append(codec.block(KIND_META, orjson.dumps(_plain_universe(body)), 0, ts, ts))
        if tss:
            parts += self._wal_frames(tss, frames)
        data = b"".join(parts)
        try:
            if self._wal_bytes > WAL_RESET_BYTES and self.written_seq >= self._wal_seq - len(items):
                os.ftruncate(fd, 0)  # the journal holds all of it: start over (O_APPEND writes at 0)
                self._wal_bytes = 0
                data = SIGNATURE + data
            _write_all(fd, data)
        except OSError as exc:
            self.wal_errors += 1
            self.log.error("journal_wal_failed", path=str(self.wal_path), error=exc.strerror or str(exc))
            self._close_wal(unlink=False)
            return
        self._wal_bytes += len(data)
        self.wal_writes += 1

    def _wal_frames(self, tss: list[float], frames: list[bytes]) -> list[bytes]:
        """Stored frames blocks no larger than the writer thread's (journal_block_kb and one frame): a batch
        after a long publisher stall can be far larger, and readers refuse blocks past MAX_BLOCK_RAW."""
        limit, codec = self._block_bytes, self._wal_codec
        if 12 * len(frames) + sum(map(len, frames)) < limit:  # the usual batch: one block
            return [codec.block(KIND_FRAMES, pack_frames(tss, frames), len(tss), tss[0], tss[-1])]
        out: list[bytes] = []
        start = raw = 0
        for i, frame in enumerate(frames, 1):
            raw += 12 + len(frame)
            if raw >= limit or i == len(frames):
                part_ts, part = tss[start:i], frames[start:i]
                out.append(codec.block(KIND_FRAMES, pack_frames(part_ts, part), len(part), part_ts[0], part_ts[-1]))
                start, raw = i, 0
        return out

    # --- lifecycle ---
    async def start(self) -> None:
        """Open (or continue) today's file and start the writer thread; ConfigError when it cannot."""
        if not self.enabled or self._thread is not None:
            return
        await asyncio.to_thread(self._recover_wal)  # also when write-ahead is off now: never leave one behind
        await asyncio.to_thread(self._open, self.clock(), False)
        if self._wal_on:
            await asyncio.to_thread(self._open_wal)
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._thread_main, name=f"journal-{self.instance}", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Write everything queued, fsync (unless policy none), close. Idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._q.append((0.0, _STOP))
        self._wake.set()
        await asyncio.to_thread(thread.join)
        # everything is in the journal now, unless blocks were lost or the thread died: then the file is kept
        # for the next start
        self._close_wal(unlink=self.lost_frames == 0 and self.failure is None)

    def metrics(self) -> dict[str, Any]:
        return {
            "journal_frames": self.written_frames, "journal_queued": len(self._q),
            "journal_dropped": self.dropped, "journal_lost": self.lost_frames, "journal_blocks": self.blocks,
            "journal_bytes": self.bytes_written, "journal_fsyncs": self.fsyncs, "journal_errors": self.errors,
            "journal_cpu_s": round(self.thread_cpu_s, 3), "journal_wal_writes": self.wal_writes,
            "journal_wal_errors": self.wal_errors, "journal_recovered": self.recovered_frames,
            "journal_quarantined": self.quarantined,
            "journal_file": str(self.path) if self.path else "",
        }

    # --- writer thread ---
    def _open(self, epoch: float, continued: bool, recovered: dict[str, Any] | None = None) -> None:
        day, _, self._day_end = day_bounds(epoch)
        path = journal_path(self.directory, day, self.instance)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            size = path.stat().st_size if path.exists() else 0
            if 0 < size < len(SIGNATURE) and SIGNATURE.startswith(path.read_bytes()):
                size = 0  # a crash right after creating the file
            new = size == 0
            try:
                end = 0 if new else JournalReader(path).valid_end()
            except ConfigError as exc:  # its signature is gone: nothing can be appended behind it
                if not self._quarantine(path, str(exc)):
                    raise
                new, end = True, 0
            if path.exists() and path.stat().st_size > end:
                cut = path.stat().st_size - end
                with path.open("r+b") as tail:
                    tail.truncate(end)
                if not new:
                    self.truncated_tail_bytes += cut
                    self.log.warning("journal_torn_tail_cut", path=str(path), bytes=cut)
            fh = path.open("ab", buffering=0)
        except (OSError, ConfigError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise ConfigError(f"journal {path} cannot be opened for append ({why}); "
                              "check DHAN_JOURNAL_DIR or set DHAN_JOURNAL_ENABLED=false") from None
        self._fh, self.path = fh, path
        now = self.clock()
        if new:
            fh.write(SIGNATURE)
            self._write_meta({"type": "file", "version": FORMAT_VERSION, "instance": self.instance,
                              "day": day.isoformat(), "created_at": now, **self._meta}, now)
        if recovered is not None:  # records of a killed run follow (see _recover_wal): not a new session
            self._write_meta({"type": "recovered", "instance": self.instance, **recovered}, now)
            self.log.info("journal_open", path=str(path), new=new, recovering=True)
            return
        self._write_meta({"type": "session", "continued": continued, "instance": self.instance,
                          "pid": os.getpid(), "host": socket.gethostname(), "software": __version__,
                          "started_at": now, **self._meta}, now)
        if continued and self._universe:  # each day's file is self-contained
            snapshot = {"type": "universe", "added": self._universe, "removed": [], "snapshot": True}
            self._write_meta(snapshot, now)
        self._sync(force=True)
        self.log.info("journal_open", path=str(path), new=new, continued=continued)

    # --- write-ahead file ---
    def _open_wal(self) -> None:
        try:
            fd = os.open(self.wal_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
            _write_all(fd, SIGNATURE)
        except OSError as exc:
            self.wal_errors += 1
            self.log.error("journal_wal_failed", path=str(self.wal_path), error=exc.strerror or str(exc))
            return
        self._wal_fd, self._wal_bytes = fd, len(SIGNATURE)

    def _close_wal(self, *, unlink: bool) -> None:
        fd, self._wal_fd = self._wal_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        if unlink:
            with contextlib.suppress(OSError):
                self.wal_path.unlink(missing_ok=True)

    def _recover_wal(self) -> None:
        """Move what a killed run left in the write-ahead file, and its journal lacks, into the journal."""
        path = self.wal_path
        try:
            if not path.exists() or path.stat().st_size <= len(SIGNATURE):
                return
            reader = JournalReader(path)
            records: list[Record] = list(reader.records())
        except (OSError, ConfigError) as exc:
            self._quarantine(path, f"unreadable: {exc}")  # not left for _open_wal to truncate
            return
        malformed = [r for r in records if type(r[1]) is not bytes and not _note_ok(r[1])]
        if malformed:
            records = [r for r in records if type(r[1]) is bytes or _note_ok(r[1])]
        # by IST day of the frames (a note belongs with the frames around it), as the writer thread files them
        groups: list[tuple[date, list[Record]]] = []
        for rec in records:
            if type(rec[1]) is bytes or not groups:
                day = day_bounds(rec[0])[0]
                if not groups or groups[-1][0] != day:
                    groups.append((day, []))
            groups[-1][1].append(rec)
        frames = notes = 0
        for day, recs in groups:
            main = journal_path(self.directory, day, self.instance)
            try:
                tail = JournalReader(main).tail_records(MATCH_RECORDS) if main.exists() else []
            except ConfigError:  # a file cut right after its creation: nothing in it to match
                tail = []
            missing = recs[missing_from(recs, tail):]
            if not missing:
                continue
            n_frames = sum(1 for _, body in missing if type(body) is bytes)
            self._append_recovered(missing, {"from": path.name, "frames": n_frames,
                                             "notes": len(missing) - n_frames})
            frames += n_frames
            notes += len(missing) - n_frames
        self.recovered_frames += frames
        self._universe = {}  # the killed run's universe: the new run announces its own
        self.log.warning("journal_wal_recovered", path=str(path), frames=frames, notes=notes,
                         already_in_journal=len(records) - frames - notes)
        if reader.stats.corrupt_blocks or malformed:
            self._quarantine(path, f"{reader.stats.corrupt_blocks} damaged blocks, {len(malformed)} malformed "
                                   "notes (skipped; the rest was recovered)")

    def _quarantine(self, path: Path, why: str) -> bool:
        """Move a damaged file to ``<journal_dir>/quarantine/`` (kept for inspection), logged and counted."""
        dest = self.directory / "quarantine" / f"{path.name}.{time.time_ns()}"
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            path.rename(dest)
        except OSError as exc:
            self.log.error("journal_quarantine_failed", path=str(path), why=why[:200], error=exc.strerror or str(exc))
            return False
        self.quarantined += 1
        self.log.error("journal_quarantined", path=str(path), moved_to=str(dest), why=why[:200])
        return True

    def _thread_main(self) -> None:
        try:
            self._run()
        except BaseException as exc:
            self.failure = exc
            self.log.error("journal_thread_failed", error=f"{type(exc).__name__}: {exc}", exc_info=exc)
            with contextlib.suppress(Exception):
                self._close()  # what it wrote stays; the rest is in the write-ahead file, kept for the next start
            loop, callback = self._loop, self._on_failure
            if loop is not None and callback is not None:
                with contextlib.suppress(RuntimeError):  # the loop already closed
                    loop.call_soon_threadsafe(callback, exc)

    def _append_recovered(self, records: list[Record], note: dict[str, Any]) -> None:
        first_frame = next((ts for ts, body in records if type(body) is bytes), records[0][0])
        self._open(first_frame, True, recovered=note)
        tss: list[float] = []
        frames: list[bytes] = []
        raw = 0
        for ts, body in records:
            if type(body) is not bytes:
                if tss:
                    self._flush(tss, frames, raw)
                    tss, frames, raw = [], [], 0
                assert isinstance(body, dict)
                self._meta_record(body, ts)
                continue
            tss.append(ts)
            frames.append(body)
            raw += 12 + len(body)
            if raw >= self._block_bytes:
                self._flush(tss, frames, raw)
                tss, frames, raw = [], [], 0
        if tss:
            self._flush(tss, frames, raw)
        fh = self._fh
        if fh is not None:  # durable before the write-ahead file is started anew
            with contextlib.suppress(OSError):
                os.fsync(fh.fileno())
        self._close()

    def _write_meta(self, meta: dict[str, Any], ts: float) -> None:
        self._write(self._codec.block(KIND_META, orjson.dumps(meta), 0, ts, ts), 0)

    def _write(self, data: bytes, frames: int) -> None:
        fh = self._fh
        if fh is None:
            self.lost_frames += frames
            return
        try:
            fh.write(data)
        except OSError as exc:
            self._fail(exc)
            self.lost_frames += frames
            return
        self.blocks += 1
        self.bytes_written += len(data)
        self.written_frames += frames
        self._unsynced = True
        if self._fsync == "block":
            self._sync(force=True)

    def _sync(self, *, force: bool = False) -> None:
        fh = self._fh
        if fh is None or not self._unsynced or self._fsync == "none":
            return
        now = time.monotonic()
        if not force and now - self._last_fsync < self._fsync_every_s:
            return
        try:
            os.fsync(fh.fileno())
        except OSError as exc:
            self._fail(exc)
            return
        self.fsyncs += 1
        self._unsynced = False
        self._last_fsync = now

    def _fail(self, exc: OSError) -> None:
        self.errors += 1
        self.log.error("journal_write_failed", path=str(self.path), error=exc.strerror or str(exc))
        self._close()
        self._failed_at = time.monotonic()

    def _close(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            with contextlib.suppress(OSError):
                if self._unsynced and self._fsync != "none":
                    os.fsync(fh.fileno())
                    self.fsyncs += 1
                fh.close()
            self._unsynced = False

    def _reopen_if_failed(self, epoch: float) -> None:
        if self._fh is None and time.monotonic() - self._failed_at >= REOPEN_EVERY_S:
            try:
                self._open(epoch, True)
            except ConfigError as exc:
                self._failed_at = time.monotonic()
                self.log.warning("journal_reopen_failed", error=str(exc))

    def _run(self) -> None:
        q = self._q
        tss: list[float] = []
        frames: list[bytes] = []
        raw = 0
        popped = 0  # records taken from the queue (the _STOP marker aside), in write_ahead()'s numbering
        stopping = False
        while not stopping:
            self._wake.wait(self._block_s)
            self._wake.clear()
            errors = self.errors
            while True:
                try:
                    ts, frame = q.popleft()
                except IndexError:
                    break
                popped += 1
                if type(frame) is not bytes:
                    if frame is _STOP:
                        popped -= 1
                        stopping = True
                        continue
                    if isinstance(frame, dict):
                        if tss:
                            self._flush(tss, frames, raw)
                            tss, frames, raw = [], [], 0
                        self._meta_record(frame, ts)
                        continue
                    frame = bytes(frame)
                if ts >= self._day_end:
                    if tss:
                        self._flush(tss, frames, raw)
                        tss, frames, raw = [], [], 0
                    self._rotate(ts)
                tss.append(ts)
                frames.append(frame)
                raw += 12 + len(frame)
                if raw >= self._block_bytes:
                    self._flush(tss, frames, raw)
                    tss, frames, raw = [], [], 0
            if tss:
                self._flush(tss, frames, raw)
                tss, frames, raw = [], [], 0
            if self.errors == errors and self._fh is not None:
                self.written_seq = popped  # all of it reached the OS: the write-ahead file may start over
            self._sync()
            self.thread_cpu_s = time.thread_time()
        self._close()
        self.thread_cpu_s = time.thread_time()
        self.log.info("journal_closed", path=str(self.path), frames=self.written_frames, dropped=self.dropped,
                      lost=self.lost_frames, bytes=self.bytes_written)

    def _flush(self, tss: list[float], frames: list[bytes], raw: int) -> None:
        if self._fh is None:
            self._reopen_if_failed(tss[-1])
        self.bytes_raw += raw
        block = self._codec.block(KIND_FRAMES, pack_frames(tss, frames), len(tss), tss[0], tss[-1])
        self._write(block, len(tss))

    def _meta_record(self, meta: dict[str, Any], ts: float) -> None:
        if meta.get("type") == "universe":
            meta = _plain_universe(meta)
            added = meta["added"]
            self._universe.update(added)
            for key in meta["removed"]:
                self._universe.pop(key, None)
        if self._fh is None:
            self._reopen_if_failed(ts)
        self._write_meta(meta, ts)

    def _rotate(self, ts: float) -> None:
        self._close()
        self.rotations += 1
        try:
            self._open(ts, True)
        except ConfigError as exc:
            self.errors += 1
            self._failed_at = time.monotonic()
            self.log.error("journal_rotate_failed", error=str(exc))
            _, _, self._day_end = day_bounds(ts)
