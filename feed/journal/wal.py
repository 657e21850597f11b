"""The journal's write-ahead file ``<journal_dir>/<instance>.wal`` (``journal_write_ahead``, on by default).

The writer thread lags the socket by up to ``journal_block_ms``, so a SIGKILLed feed would lose that much of
its journal although the events were already in Redis (and MySQL). So every record appended is also kept for
``Journal.write_ahead``, which the publisher calls before each send to Redis and each spool write: it packs
what came since the last call into stored (uncompressed) blocks of the journal's format and ``os.write``s them
to this file, one syscall per publish batch, no fsync (a killed process loses nothing the kernel has). Every
event in Redis thus has its frame in the journal or in the write-ahead file.

The file starts over (truncated) past ``WAL_RESET_BYTES`` once the journal holds all of it; a clean stop
deletes it, a stop that lost frames keeps it. What a killed feed left in it is moved into the journal at the
next start (:mod:`feed.journal.recovery`).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from feed.journal.counters import JournalCounters
from feed.journal.format import SIGNATURE, BlockCodec, Record, plain_universe
from shared.logs import get_logger

__all__ = ["WAL_RESET_BYTES", "WriteAheadFile"]

WAL_RESET_BYTES = 8 * 1024 * 1024  # the file starts over past this (once the journal holds it all)
_log = get_logger("feed.journal")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class WriteAheadFile:
    """The write-ahead file of one feed instance; ``enabled`` false: never opened, every write a no-op."""

    def __init__(self, path: Path, *, enabled: bool, block_bytes: int, counters: JournalCounters) -> None:
        self.path = path
        self.enabled = enabled
        self.handed_seq = 0  # records handed to write() so far (the writer thread's written_seq counts alike)
        self.counters = counters
        self._block_bytes = block_bytes
        self._codec = BlockCodec("zlib", 0)  # stored: the hot path pays no compression
        self._fd: int | None = None
        self._bytes = 0

    def open(self) -> None:
        """Start the file anew (a file left by a killed run was recovered before)."""
        if not self.enabled:
            return
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
            _write_all(fd, SIGNATURE)
        except OSError as exc:
            self.counters.wal_errors += 1
            _log.error("journal_wal_failed", path=str(self.path), error=exc.strerror or str(exc))
            return
        self._fd, self._bytes = fd, len(SIGNATURE)

    def close(self, *, unlink: bool) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        if unlink:
            with contextlib.suppress(OSError):
                self.path.unlink(missing_ok=True)

    def write(self, items: list[Record], journal_seq: int) -> None:
        """``items`` (the records appended since the last call) to the OS in one write. ``journal_seq``: the
        records the journal holds (the writer thread's ``written_seq``); the file starts over when it holds
        them all and has grown past WAL_RESET_BYTES."""
        self.handed_seq += len(items)
        fd = self._fd
        if fd is None:
            return
        data = self._pack(items)
        try:
            if self._bytes > WAL_RESET_BYTES and journal_seq >= self.handed_seq - len(items):
                os.ftruncate(fd, 0)  # the journal holds all of it: start over (O_APPEND writes at 0)
                self._bytes = 0
                data = SIGNATURE + data
            _write_all(fd, data)
        except OSError as exc:
            self.counters.wal_errors += 1
            _log.error("journal_wal_failed", path=str(self.path), error=exc.strerror or str(exc))
            self.close(unlink=False)
            return
        self._bytes += len(data)
        self.counters.wal_writes += 1

    def _pack(self, items: list[Record]) -> bytes:
        codec = self._codec
        parts: list[bytes] = []
        tss: list[float] = []
        frames: list[bytes] = []
        for ts, body in items:
            if type(body) is bytes:
                tss.append(ts)
                frames.append(body)
                continue
            if tss:
                parts += self._frames_blocks(tss, frames)
                tss, frames = [], []
            assert isinstance(body, dict)
            parts.append(codec.meta_block(plain_universe(body), ts))
        if tss:
            parts += self._frames_blocks(tss, frames)
        return b"".join(parts)

    def _frames_blocks(self, tss: list[float], frames: list[bytes]) -> list[bytes]:
        """Stored frames blocks no larger than the writer thread's (journal_block_kb and one frame): a batch
        after a long publisher stall can be far larger, and readers refuse blocks past MAX_BLOCK_RAW."""
        limit, codec = self._block_bytes, self._codec
        if 12 * len(frames) + sum(map(len, frames)) < limit:  # the usual batch: one block
            return [codec.frames_block(tss, frames)]
        out: list[bytes] = []
        start = raw = 0
        for i, frame in enumerate(frames, 1):
            raw += 12 + len(frame)
            if raw >= limit or i == len(frames):
                out.append(codec.frames_block(tss[start:i], frames[start:i]))
                start, raw = i, 0
        return out
