"""Reading journal files (and write-ahead files, which share the format): :class:`JournalReader`.

Constant memory: one block at a time, whatever a header or a compressed stream claims. A torn tail (a crash
while writing) is ignored and measured; a damaged block inside the file is skipped and counted, and reading
resynchronises on the next block magic. See :mod:`feed.journal.format` for the layout.
"""

from __future__ import annotations

import os
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from feed.journal.format import (
    BLOCK_MAGIC,
    CODEC_STORED,
    CODEC_ZLIB,
    CODEC_ZSTD,
    CRC_STRUCT,
    HEAD_STRUCT,
    HEADER_BYTES,
    KIND_DEPTH,
    KIND_FRAMES,
    KIND_META,
    MAX_BLOCK_COMP,
    MAX_BLOCK_RAW,
    SIGNATURE,
    TS_LIMIT,
    Record,
    ZstdError,
    is_stream_meta,
    unpack_frames,
    zstandard,
)
from shared.errors import ConfigError

__all__ = ["Block", "JournalReader", "ReadStats"]


@dataclass(slots=True)
class ReadStats:
    blocks: int = 0
    frames: int = 0
    depth_frames: int = 0  # frames of the depth feeds (depth blocks)
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
    records: list[tuple[float, bytes]] = field(default_factory=list)  # frames and depth frames blocks
    levels: int = 0  # depth frames blocks: 20 or 200
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
                elif block.kind == KIND_DEPTH:
                    stats.depth_frames += len(block.records)
                else:
                    stats.metas += 1
                yield block

    def _parse(
        self, fh: BinaryIO, head: bytes, pos: int, data_end: int, decode: bool
    ) -> tuple[Block | None, int]:
        """(block, size); (None, -1) when it runs past EOF, (None, 0) when damaged."""
        magic, kind, codec, levels, count, raw_len, comp_len, first_ts, last_ts = HEAD_STRUCT.unpack_from(head)
        if magic != BLOCK_MAGIC or kind not in (KIND_FRAMES, KIND_META, KIND_DEPTH) or raw_len > MAX_BLOCK_RAW \
                or comp_len > MAX_BLOCK_COMP or codec not in (CODEC_STORED, CODEC_ZLIB, CODEC_ZSTD):
            return None, 0
        if pos + HEADER_BYTES + comp_len > data_end:
            # A header that is intact (its CRC cannot be checked without the payload) but whose payload is
            # cut: torn only if nothing valid follows; a damaged length inside the file is resynced.
            return None, (-1 if self._resync(fh, pos + 1, data_end) >= data_end else 0)
        body = fh.read(comp_len)
        (crc,) = CRC_STRUCT.unpack_from(head, HEAD_STRUCT.size)
        if zlib.crc32(body, zlib.crc32(head[: HEAD_STRUCT.size])) != crc:
            return None, (-1 if self._resync(fh, pos + 1, data_end) >= data_end else 0)
        if not decode:
            return Block(kind, first_ts, last_ts, pos, HEADER_BYTES + comp_len, levels=levels), HEADER_BYTES + comp_len
        if not (0.0 <= first_ts < TS_LIMIT and 0.0 <= last_ts < TS_LIMIT):  # also NaN
            return None, 0
        raw = self._inflate(codec, body, raw_len)
        if raw is None:
            return None, 0
        block = Block(kind, first_ts, last_ts, pos, HEADER_BYTES + comp_len, levels=levels)
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
        """Every record of the live feed in order: ``(recv_ts, frame)`` or ``(ts, meta dict)`` (depth frames:
        :meth:`depth_frames`)."""
        for block in self.blocks():
            if block.kind == KIND_FRAMES:
                yield from block.records
            elif block.kind == KIND_META:
                assert block.meta is not None
                yield block.first_ts, block.meta

    def frames(self) -> Iterator[tuple[float, bytes]]:
        for block in self.blocks():
            if block.kind == KIND_FRAMES:
                yield from block.records

    def depth_frames(self) -> Iterator[tuple[float, int, bytes]]:
        """The depth feeds' frames, ``(recv_ts, levels, frame)``, in order within each feed."""
        for block in self.blocks():
            if block.kind == KIND_DEPTH:
                for ts, frame in block.records:
                    yield ts, block.levels, frame

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
                elif is_stream_meta(block.meta):
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

