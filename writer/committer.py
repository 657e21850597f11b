"""The writer's commit routines: a batch of entries -> one MySQL transaction -> XACK.

* ``writer_inflight`` routines write batches concurrently; each XACKs its entries after COMMIT. A crash
  between the two redelivers entries whose rows are already there: natural keys, forward-only upserts and
  the insert-count summary rule (see sink.py) make that a no-op.
* MySQL down or a statement failing for the database's reasons: the batch is retried with exponential
  backoff (logged once per incident, counted per minute); its entries stay pending (the intake renews their
  lease). A row that can never be stored is found by bisecting its batch and dead-lettered alone;
  undecodable entries are dead-lettered at once.
* A batch submitted with ``isolate`` (entries delivered too often) is written one entry per transaction.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from shared.backoff import backoff_s
from shared.settings import Settings
from writer.batch import Batch, BatchBuilder, Entry, Poison
from writer.metrics import WriterMetrics
from writer.reader import StreamReader
from writer.retry import RedisRetry, wait_or_stop
from writer.sink import MySQLSink, RowError, TransientError, WriteResult

__all__ = ["Committer"]

_Item = tuple[int, list[Entry], bool]  # token, entries, write one per transaction


class Committer:
    """A queue of batches (``writer_inflight`` deep) and the routines that write them; see the module docstring."""

    def __init__(
        self, settings: Settings, sink: MySQLSink, builder: BatchBuilder, reader: StreamReader, stats: WriterMetrics,
        *, retry: RedisRetry, stopping: asyncio.Event, log: Any,
    ) -> None:  # fmt: skip
        self._settings = settings
        self._sink = sink
        self._builder = builder
        self._reader = reader
        self._stats = stats
        self._retry = retry
        self._stopping = stopping
        self._log = log
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=settings.writer.inflight)
        self.outstanding = 0  # batches queued or being written
        self._inflight: dict[int, list[Entry]] = {}  # their entries, by token
        self._next_token = 0
        self._incident_since: float | None = None  # monotonic time of the first failure of an outage
        self._incident_failures = 0

    @property
    def mysql_ok(self) -> bool:
        return self._incident_since is None

    def outage_s(self) -> float | None:
        """How long MySQL writes have been failing; None while they succeed."""
        return None if self._incident_since is None else time.monotonic() - self._incident_since

    def held(self) -> list[Entry]:
        """Entries of the batches queued or being written (no per-entry bookkeeping on the hot path)."""
        held: list[Entry] = []
        for entries in list(self._inflight.values()):
            held.extend(entries)
        return held

    def held_count(self) -> int:
        return sum(len(v) for v in self._inflight.values())

    async def submit(self, entries: list[Entry], *, isolate: bool) -> None:
        """Queue a batch (waits while ``writer_inflight`` batches are queued)."""
        token = self._next_token = self._next_token + 1
        self._inflight[token] = entries
        self.outstanding += 1
        try:
            await self._queue.put((token, entries, isolate))
        except BaseException:
            self.outstanding -= 1
            del self._inflight[token]
            raise

    async def join(self) -> None:
        """Until every submitted batch is written (or given up at a stop)."""
        await self._queue.join()

    async def commit_routine(self) -> None:
        while True:
            token, entries, isolate = await self._queue.get()
            try:
                if isolate:
                    for e in entries:
                        await self._write([e])
                else:
                    await self._write(entries)
            finally:
                self.outstanding -= 1
                self._inflight.pop(token, None)
                self._queue.task_done()

    async def _write(self, entries: list[Entry]) -> None:
        """Commit ``entries`` then ack them; poison goes to the dead letters; a bad row is bisected out."""
        batch = self._builder.build(entries)
        if batch.poison:
            await self._dead_letter(batch.poison)
            bad = {id(p.entry) for p in batch.poison}
            entries = [e for e in entries if id(e) not in bad]
            if not entries:
                return
        try:
            committed = await self._commit(batch, len(entries))
        except RowError as exc:
            await self._bisect(entries, exc)
            return
        if committed:
            await self._retry(self._reader.ack, entries)

    async def _commit(self, batch: Batch, entries: int) -> bool:
        """Write ``batch``, retried with backoff while MySQL fails for its own reasons; False when the writer
        stops first (the entries stay pending: redelivered to whoever runs next). ``RowError``: a bad row."""
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                result = await self._sink.write(batch)
            except TransientError as exc:
                attempt += 1
                self._failed(exc, attempt)
                base_s, cap_s = self._settings.writer.retry_base_s, self._settings.writer.retry_cap_s
                await wait_or_stop(self._stopping, backoff_s(attempt, base_s=base_s, cap_s=cap_s))
                if self._stopping.is_set():
                    return False
                continue
            self._succeeded(entries, result, time.monotonic() - started)
            return True

    async def _bisect(self, entries: list[Entry], exc: RowError) -> None:
        """A row MySQL refuses: dead-lettered when alone, else each half is written on its own."""
        if len(entries) == 1:
            self._failed(exc, 0)
            await self._dead_letter([Poison(entries[0], f"rejected by MySQL: {exc}")])
            return
        self._log.debug("batch_bisected", entries=len(entries), cause=str(exc))
        mid = len(entries) // 2
        await self._write(entries[:mid])
        await self._write(entries[mid:])

    def _failed(self, exc: Exception, attempt: int) -> None:
        self._stats.failed()
        if isinstance(exc, RowError):
            return  # logged with the dead letter
        self._incident_failures += 1
        if self._incident_since is None:
            self._incident_since = time.monotonic()
            self._log.warning("mysql_write_failed", cause=str(exc), entries_stay_pending=True)
        else:
            self._log.debug("mysql_write_retry", cause=str(exc), attempt=attempt)

    def _succeeded(self, entries: int, result: WriteResult, commit_s: float) -> None:
        self._stats.committed(entries, result, commit_s)
        if self._incident_since is not None:
            self._log.info(
                "mysql_write_recovered",
                outage_s=round(time.monotonic() - self._incident_since, 1),
                failures=self._incident_failures,
            )
            self._incident_since = None
            self._incident_failures = 0

    async def _dead_letter(self, poison: list[Poison]) -> None:
        await self._retry(
            self._reader.dead_letter,
            poison,
            maxlen=self._settings.writer.deadletter_maxlen,
            payload_max=self._settings.writer.entry_max_bytes,
        )
        self._stats.dead_lettered(len(poison))
        for p in poison:
            if p.error is not None:  # not a bad value: a failure of the writer's own code, with its traceback
                self._stats.internal_errors += 1
                self._log.error("entry_failed_unexpectedly", stream=p.entry.kind, id=p.entry.entry_id.decode(),
                                reason=p.reason, exc_info=p.error)  # fmt: skip
        for p in poison[:5]:
            self._log.warning("entry_dead_lettered", stream=p.entry.kind, id=p.entry.entry_id.decode(), reason=p.reason)
