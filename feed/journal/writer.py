"""The journal's writer thread: :class:`BlockWriter` drains the queue that ``Journal.append`` fills into
blocks of the day's :class:`~feed.journal.dayfile.JournalFile`, compressed.

Frames wait in the queue until ``journal_block_ms`` passes or a block holds ``journal_block_kb``; a note
closes the frames block before it (stream order). Depth-feed frames (:class:`~feed.journal.format.DepthFrame`)
go to depth blocks of their own per feed, written after the frames blocks of the same drain. A frame past
IST midnight rotates to the next day's file, which starts with a ``continued`` session note and a snapshot of
the universe (each day's file is self-contained). A write error closes the file (its frames counted lost)
and reopening is retried every ``REOPEN_EVERY_S`` (:mod:`feed.journal.dayfile`). The thread dying is
reported through ``on_failure`` on the event loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from feed.journal.counters import JournalCounters
from feed.journal.dayfile import JournalFile
from feed.journal.format import FORMAT_VERSION, BlockCodec, DepthFrame, Record, journal_path, plain_universe
from shared import __version__
from shared.clock import Clock, day_bounds, ist_trading_day
from shared.errors import ConfigError
from shared.logs import get_logger
from shared.settings import Settings

__all__ = ["STOP", "BlockWriter"]

STOP = object()  # queued by BlockWriter.stop: everything before it is written, then the thread ends
_log = get_logger("feed.journal")


class BlockWriter:
    """The writer thread and the day's file it writes. ``queue`` takes ``(recv_ts, frame)`` and
    ``(ts, note dict)`` records from the event loop; ``written_seq`` counts those that reached the OS."""

    def __init__(self, settings: Settings, *, instance: str, meta: dict[str, Any], clock: Clock,
                 counters: JournalCounters, on_failure: Callable[[BaseException], None] | None) -> None:
        self.directory = Path(settings.journal.dir)
        self.instance = instance
        self.counters = counters
        self.file = JournalFile(settings, counters)
        self.queue: collections.deque[tuple[float, Any]] = collections.deque()
        self.wake = threading.Event()
        self.written_seq = 0  # records taken from the queue and written (set by the thread)
        self.failure: BaseException | None = None
        self._meta = meta  # in each file and session note: where the frames come from
        self._clock = clock
        self._codec = BlockCodec(settings.journal.codec, settings.journal.compress_level)
        self._block_bytes = settings.journal.block_kb * 1024
        self._block_s = settings.journal.block_ms / 1000.0
        self._day_end = 0.0
        self._universe: dict[str, Any] = {}  # the instruments announced so far: the snapshot of the next day
        self._thread: threading.Thread | None = None
        self._on_failure = on_failure  # called on the event loop when the thread dies
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    # --- lifecycle (event loop) ---
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._thread_main, name=f"journal-{self.instance}", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Write everything queued, then close (fsync unless policy none). Idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self.queue.append((0.0, STOP))
        self.wake.set()
        await asyncio.to_thread(thread.join)

    # --- the day's file (the thread, or before it starts) ---
    def open(self, epoch: float, continued: bool, recovered: dict[str, Any] | None = None) -> None:
        """Open (or continue) the file of ``epoch``'s IST day and write its notes; ConfigError when it cannot."""
        day = ist_trading_day(epoch)
        self._day_end = day_bounds(day)[1]
        path = journal_path(self.directory, day, self.instance)
        new = self.file.open(path)
        now = self._clock()
        if new:
            self._write_meta({"type": "file", "version": FORMAT_VERSION, "instance": self.instance,
                              "day": day.isoformat(), "created_at": now, **self._meta}, now)
        if recovered is not None:  # records of a killed run follow (see feed.journal.recovery): not a new session
            self._write_meta({"type": "recovered", "instance": self.instance, **recovered}, now)
            _log.info("journal_open", path=str(path), new=new, recovering=True)
            return
        self._write_meta({"type": "session", "continued": continued, "instance": self.instance,
                          "pid": os.getpid(), "host": socket.gethostname(), "software": __version__,
                          "started_at": now, **self._meta}, now)
        if continued and self._universe:  # each day's file is self-contained
            snapshot = {"type": "universe", "added": self._universe, "removed": [], "snapshot": True}
            self._write_meta(snapshot, now)
        self.file.sync(force=True)
        _log.info("journal_open", path=str(path), new=new, continued=continued)

    def append_recovered(self, records: list[Record], note: dict[str, Any]) -> None:
        """Records of a killed run (from its write-ahead file) into their day's file, behind a ``recovered``
        note, made durable; the file is closed again (the session's own open follows)."""
        first_frame = next((ts for ts, body in records if type(body) is bytes), records[0][0])
        self.open(first_frame, True, recovered=note)
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
        self.file.make_durable()
        self.file.close()

    def forget_universe(self) -> None:
        """A killed run's universe is not the new run's: that one announces its own."""
        self._universe = {}

    # --- the thread ---
    def _thread_main(self) -> None:
        try:
            self._run()
        except BaseException as exc:
            self.failure = exc
            _log.error("journal_thread_failed", error=f"{type(exc).__name__}: {exc}", exc_info=exc)
            with contextlib.suppress(Exception):
                self.file.close()  # what it wrote stays; the rest is in the write-ahead file, kept for the next start
            loop, callback = self._loop, self._on_failure
            if loop is not None and callback is not None:
                with contextlib.suppress(RuntimeError):  # the loop already closed
                    loop.call_soon_threadsafe(callback, exc)

    def _run(self) -> None:
        popped = 0  # records taken from the queue (the STOP marker aside), in write_ahead()'s numbering
        stopping = False
        while not stopping:
            self.wake.wait(self._block_s)
            self.wake.clear()
            errors = self.counters.errors
            taken, stopping = self._drain()
            popped += taken
            if self.counters.errors == errors and self.file.is_open:
                self.written_seq = popped  # all of it reached the OS: the write-ahead file may start over
            self.file.sync()
            self.counters.thread_cpu_s = time.thread_time()
        self.file.close()
        self.counters.thread_cpu_s = time.thread_time()
        c = self.counters
        _log.info("journal_closed", path=str(self.file.path), frames=c.written_frames, dropped=c.dropped,
                  lost=c.lost_frames, bytes=c.bytes_written)

    def _drain(self) -> tuple[int, bool]:
        """Write what the queue holds, in blocks; (records taken, STOP seen)."""
        q = self.queue
        tss: list[float] = []
        frames: list[bytes] = []
        raw = taken = 0
        stopping = False
        depth = _DepthBlocks(self, self._block_bytes)
        while True:
            try:
                ts, frame = q.popleft()
            except IndexError:
                break
            taken += 1
            if type(frame) is not bytes:
                if type(frame) is DepthFrame:
                    if ts >= self._day_end:  # the day's depth frames stay in the day's file
                        if tss:
                            self._flush(tss, frames, raw)
                            tss, frames, raw = [], [], 0
                        depth.flush_all()
                        self._rotate(ts)
                    depth.add(ts, frame)
                    continue
                if frame is STOP:
                    taken -= 1
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
                depth.flush_all()
                self._rotate(ts)
            tss.append(ts)
            frames.append(frame)
            raw += 12 + len(frame)
            if raw >= self._block_bytes:
                self._flush(tss, frames, raw)
                tss, frames, raw = [], [], 0
        if tss:
            self._flush(tss, frames, raw)
        depth.flush_all()
        return taken, stopping

    def _flush(self, tss: list[float], frames: list[bytes], raw: int) -> None:
        self._reopen_if_failed(tss[-1])
        self.counters.bytes_raw += raw
        self.file.write(self._codec.frames_block(tss, frames), len(tss))

    def flush_depth(self, levels: int, tss: list[float], frames: list[bytes], raw: int) -> None:
        self._reopen_if_failed(tss[-1])
        self.counters.bytes_raw += raw
        self.file.write(self._codec.depth_block(tss, frames, levels), len(tss))

    def _meta_record(self, meta: dict[str, Any], ts: float) -> None:
        if meta.get("type") == "universe":
            meta = plain_universe(meta)
            self._universe.update(meta["added"])
            for key in meta["removed"]:
                self._universe.pop(key, None)
        self._reopen_if_failed(ts)
        self._write_meta(meta, ts)

    def _write_meta(self, meta: dict[str, Any], ts: float) -> None:
        self.file.write(self._codec.meta_block(meta, ts), 0)

    def _reopen_if_failed(self, epoch: float) -> None:
        if self.file.retry_due():
            try:
                self.open(epoch, True)
            except ConfigError as exc:
                self.file.mark_failed()
                _log.warning("journal_reopen_failed", error=str(exc))

    def _rotate(self, ts: float) -> None:
        self.file.close()
        self.counters.rotations += 1
        try:
            self.open(ts, True)
        except ConfigError as exc:
            self.counters.errors += 1
            self.file.mark_failed()
            _log.error("journal_rotate_failed", error=str(exc))
            self._day_end = day_bounds(ist_trading_day(ts))[1]


class _DepthBlocks:
    """The depth frames of one drain, per feed (levels), cut into blocks like the frames blocks."""

    __slots__ = ("_block_bytes", "_pending", "_writer")

    def __init__(self, writer: BlockWriter, block_bytes: int) -> None:
        self._writer = writer
        self._block_bytes = block_bytes
        self._pending: dict[int, tuple[list[float], list[bytes], list[int]]] = {}

    def add(self, ts: float, item: DepthFrame) -> None:
        tss, frames, raw = self._pending.setdefault(item.levels, ([], [], [0]))
        tss.append(ts)
        frames.append(item.frame)
        raw[0] += 12 + len(item.frame)
        if raw[0] >= self._block_bytes:
            self._flush(item.levels)

    def _flush(self, levels: int) -> None:
        tss, frames, raw = self._pending.pop(levels)
        self._writer.flush_depth(levels, tss, frames, raw[0])

    def flush_all(self) -> None:
        for levels in list(self._pending):
            self._flush(levels)
