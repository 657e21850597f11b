"""The feed's side of the journal: :class:`Journal` (and :class:`NullJournal` when it is off).

``Journal.append`` is on the socket reader's hot path: it only puts ``(recv_ts, frame)`` on a bounded deque
(O(1), never blocks; past ``journal_queue_max`` waiting frames it drops and counts) and, with the write-ahead
file on, keeps the record for :meth:`Journal.write_ahead`. Everything else happens in the collaborators:
the writer thread (:class:`~feed.journal.writer.BlockWriter`), the write-ahead file
(:class:`~feed.journal.wal.WriteAheadFile`) and, at start, the recovery of a killed run's write-ahead file
(:mod:`feed.journal.recovery`). Counters live in one :class:`~feed.journal.counters.JournalCounters`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from feed.journal.counters import JournalCounters
from feed.journal.format import DepthFrame, Record, wal_path
from feed.journal.recovery import recover_write_ahead
from feed.journal.wal import WriteAheadFile
from feed.journal.writer import BlockWriter
from shared.clock import Clock, system_clock
from shared.settings import Settings, mask_url

__all__ = ["SIM_LISTING_SETTINGS", "Journal", "NullJournal", "make_journal", "source_meta"]

SIM_LISTING_SETTINGS = ("sim_seed", "sim_start_price_nifty", "sim_start_price_banknifty", "sim_nifty_strikes",
                        "sim_banknifty_strikes", "sim_session_clock")


def source_meta(settings: Settings) -> dict[str, Any]:
    """Where the frames come from; for the simulator, what ``dhan replay`` needs to list its contracts."""
    out: dict[str, Any] = {"source": "sim" if settings.use_simulator else "dhan",
                           "feed_url": mask_url(settings.effective_feed_url)}
    if settings.use_simulator:
        flat = settings.flat()
        out["sim"] = {name: flat[name] for name in SIM_LISTING_SETTINGS}
    return out


class Journal:
    """The feed's journal writer. ``append`` on the hot path; file work on a thread. See the package docstring.

    ``journal = make_journal(settings, instance=...)``; ``await journal.start()``;
    ``journal.append(frame, recv_ts)`` per frame; ``journal.note_universe(added, removed)`` when the universe
    changes; ``journal.write_ahead()`` before events leave the process; ``await journal.stop()``.
    """

    def __init__(self, settings: Settings, *, instance: str = "feed", meta: Mapping[str, Any] | None = None,
                 clock: Clock = system_clock, on_failure: Callable[[BaseException], None] | None = None) -> None:
        self.counters = JournalCounters()
        self.writer = BlockWriter(settings, instance=instance, meta={**source_meta(settings), **(meta or {})},
                                  clock=clock, counters=self.counters, on_failure=on_failure)
        self.wal = WriteAheadFile(wal_path(self.writer.directory, instance), enabled=settings.journal.write_ahead,
                                  block_bytes=settings.journal.block_kb * 1024, counters=self.counters)
        self._clock = clock
        # the hot path's own references: the writer thread's queue, its bound, the records kept for the
        # write-ahead file since the last write_ahead() (its flag test: ~2 ns of append's ~160 ns, measured)
        self._q = self.writer.queue
        self._max = settings.journal.queue_max
        self._ahead = settings.journal.write_ahead
        self._pending: list[Record] = []

    @property
    def path(self) -> Path | None:
        """The file being written (the last one once stopped); None before the first open."""
        return self.writer.file.path

    @property
    def failure(self) -> BaseException | None:
        """What the writer thread died of, if it did."""
        return self.writer.failure

    # --- hot path ---
    def append(self, frame: bytes, recv_ts: float) -> None:
        """Queue one frame (O(1), never blocks). Beyond ``journal_queue_max`` waiting: dropped, counted."""
        q = self._q
        if len(q) >= self._max:
            self.counters.dropped += 1
            return
        item = (recv_ts, frame)
        q.append(item)
        if self._ahead:
            self._pending.append(item)

    def append_depth(self, frame: bytes, recv_ts: float, levels: int) -> None:
        """Queue one frame of the ``levels``-level depth feed (a depth block of the journal), like ``append``.
        Not in the write-ahead file: a killed feed may lose up to ``journal_block_ms`` of depth frames from
        the journal (their books are in Redis), never a live-feed frame."""
        q = self._q
        if len(q) >= self._max:
            self.counters.dropped += 1
            return
        q.append((recv_ts, DepthFrame(levels, frame)))

    def note(self, kind: str, data: Mapping[str, Any]) -> None:
        """A meta record in stream order (between the frames appended before and after)."""
        self._append_meta({"type": kind, **data})

    def note_universe(self, added: Mapping[str, bytes | Mapping[str, Any]], removed: Sequence[str]) -> None:
        """Instruments entering (``"SEG:ID"`` -> member record, as JSON bytes or a dict) and leaving."""
        if added or removed:
            self._append_meta({"type": "universe", "added": dict(added), "removed": list(removed)})

    def _append_meta(self, meta: dict[str, Any]) -> None:
        item = (self._clock(), meta)
        self._q.append(item)
        if self._ahead:
            self._pending.append(item)

    def write_ahead(self) -> None:
        """Every record appended so far to the OS (the write-ahead file), in one write: the publisher calls
        this before each send to Redis and each spool write, so no event is published before its frame is
        safe from a SIGKILL. A no-op when the write-ahead file is off or nothing is new."""
        items = self._pending
        if items:
            self._pending = []
            self.wal.write(items, self.writer.written_seq)

    # --- lifecycle ---
    async def start(self) -> None:
        """Open (or continue) today's file and start the writer thread; ConfigError when it cannot."""
        writer = self.writer
        if writer.running:
            return
        # also when write-ahead is off now: never leave one behind
        await asyncio.to_thread(recover_write_ahead, self.wal.path, writer)
        await asyncio.to_thread(writer.open, self._clock(), False)
        await asyncio.to_thread(self.wal.open)
        writer.start(asyncio.get_running_loop())

    async def stop(self) -> None:
        """Write everything queued, fsync (unless policy none), close. Idempotent."""
        if not self.writer.running:
            return
        await self.writer.stop()
        # everything is in the journal now, unless blocks were lost or the thread died: then the write-ahead
        # file is kept for the next start
        self.wal.close(unlink=self.counters.lost_frames == 0 and self.writer.failure is None)

    def metrics(self) -> dict[str, Any]:
        return self.counters.metrics(queued=len(self._q), path=self.path)


class NullJournal:
    """The journal when ``journal_enabled`` is false: it takes every call and writes nothing."""

    path: Path | None = None
    failure: BaseException | None = None

    def __init__(self) -> None:
        self.counters = JournalCounters()

    def append(self, frame: bytes, recv_ts: float) -> None:
        return None

    def append_depth(self, frame: bytes, recv_ts: float, levels: int) -> None:
        return None

    def note(self, kind: str, data: Mapping[str, Any]) -> None:
        return None

    def note_universe(self, added: Mapping[str, bytes | Mapping[str, Any]], removed: Sequence[str]) -> None:
        return None

    def write_ahead(self) -> None:
        return None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def metrics(self) -> dict[str, Any]:
        return self.counters.metrics(queued=0, path=None)


def make_journal(settings: Settings, *, instance: str = "feed", meta: Mapping[str, Any] | None = None,
                 clock: Clock = system_clock,
                 on_failure: Callable[[BaseException], None] | None = None) -> Journal | NullJournal:
    """The feed's journal: a :class:`Journal`, or a :class:`NullJournal` when ``journal_enabled`` is false."""
    if not settings.journal.enabled:
        return NullJournal()
    return Journal(settings, instance=instance, meta=meta, clock=clock, on_failure=on_failure)
