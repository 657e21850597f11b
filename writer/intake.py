"""The writer's reading side: entries of group ``writer`` cut into batches for the :class:`Committer`.

* Start: this consumer's own pending entries first, then idle entries of dead consumers (XAUTOCLAIM, again
  every half claim timeout while MySQL writes succeed), then new ones.
* Batches close at ``writer_batch_max`` entries or ``writer_batch_ms`` after their first entry, whichever
  comes first, but a batch that is not full closes no sooner than ``writer_batch_spacing_ms`` after the
  previous one closed. A lone entry after a pause is written ``batch_ms`` after it came; a steady trickle is
  written in one batch per spacing rather than one per ``batch_ms``: per batch the writer pays two reads, up
  to eight MySQL round trips with the COMMIT and the XACK, and the latest quotes, depth and greeks of an
  instrument collapse to one row per batch. A backlog is unaffected (its batches are full). Measured in
  ``WriterSettings``. With no batch open the read blocks (``BLOCK`` ``READ_BLOCK_MS``: an XADD wakes it at once).
  A read that leaves the batch short of full opens it, and the loop sleeps until its deadline, then reads
  once more without blocking (what came meanwhile, up to the room left) and submits it: two reads per batch
  however the entries trickle in, and none while nothing comes. The deadline is kept here, not by Redis:
  Redis times out a blocked read only on its event-loop ticks (``hz`` 10: up to 100 ms), so ``BLOCK 20``
  took 34 ms median, 68 ms max, and batches closed late by that much. Polling without a block instead (a
  2 ms pause between empty reads while a batch was open) cost the writer twice the original system's CPU
  at 500 events/s. A backlog is read in full batches back to back (a full batch does not wait).
* Entries delivered ``writer_max_attempts`` times or more are written one per transaction.
* Every entry held (read, not yet acknowledged) has its lease renewed, so no other writer reclaims it.
* Lag and pending per stream for the heartbeat; entries trimmed before they were written -> alert.
* ``drain``: stop once every stream's group lag is 0 and nothing is pending (tests, benchmarks).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from shared.backoff import backoff_s
from shared.keys import STREAM_KINDS
from shared.settings import Settings
from writer.alerts import WriterAlerts
from writer.batch import Entry
from writer.committer import Committer
from writer.metrics import WriterMetrics
from writer.reader import StreamReader, id_order
from writer.retry import wait_or_stop

__all__ = ["READ_BLOCK_MS", "Intake"]

READ_BLOCK_MS = 250  # longest blocking read with no batch open: bounds stop latency


class Intake:
    """Reads for the writer and hands its batches to ``committer``; see the module docstring."""

    def __init__(
        self, settings: Settings, reader: StreamReader, committer: Committer, alerts: WriterAlerts,
        stats: WriterMetrics, *, stopping: asyncio.Event, log: Any, drain: bool, stop: Callable[[str], None],
    ) -> None:  # fmt: skip
        self._settings = settings
        self._batch_max = settings.writer.batch_max
        self._batch_s = settings.writer.batch_ms / 1000.0
        self._spacing_s = settings.writer.batch_spacing_ms / 1000.0
        self._reader = reader
        self._committer = committer
        self._alerts = alerts
        self._stats = stats
        self._stopping = stopping
        self._log = log
        self._drain = drain
        self._stop = stop  # the service's: ``drain`` reached its end
        self._carry: list[Entry] = []  # read beyond the open batch's room
        self._batch: list[Entry] = []  # the batch being filled
        self._deadline = 0.0  # monotonic time the open batch closes
        self._closed_at = float("-inf")  # monotonic time the previous batch closed
        self._next_reclaim = 0.0

    def held(self) -> list[Entry]:
        """Every entry read and not yet acknowledged."""
        return [*self._carry, *self._batch, *self._committer.held()]

    def held_count(self) -> int:
        return len(self._carry) + len(self._batch) + self._committer.held_count()

    # --- reading and batching ---
    async def read_loop(self) -> None:
        """Fill batches and hand them over until the writer stops, then the one in hand (the base bounds the
        wait for it)."""
        attempt = 0  # Redis read failures in a row
        while not self._stopping.is_set():
            now = time.monotonic()
            if self._batch and (len(self._batch) >= self._batch_max or now >= self._deadline):
                await self._submit_batch()
            elif self._carry:
                carry, self._carry = self._carry, []
                self._add(carry, now)
            else:
                attempt = await self._read(now, attempt)
        if self._batch:
            await self._submit_batch()

    async def _read(self, now: float, attempt: int) -> int:
        """Reclaim when due, else one read: blocking with no batch open, else at the open batch's deadline
        (slept until then) what came meanwhile. Returns the Redis failures in a row."""
        try:
            if self._batch:
                await wait_or_stop(self._stopping, self._deadline - now)
                entries = await self._reader.read(self._batch_max - len(self._batch), None)
            elif now >= self._next_reclaim and self._committer.mysql_ok:
                await self.reclaim()
                self._next_reclaim = time.monotonic() + self._settings.writer.claim_idle_ms / 2000.0
                return attempt
            else:
                entries = await self._reader.read(self._batch_max, READ_BLOCK_MS)
        except (RedisError, OSError) as exc:
            attempt += 1
            delay = backoff_s(attempt, base_s=0.2, cap_s=5.0)
            self._log.warning("redis_read_failed", error=str(exc), attempt=attempt, delay_s=round(delay, 2))
            await wait_or_stop(self._stopping, delay)
            return attempt
        if entries:
            self._add(entries, time.monotonic())
        elif not self._batch and self._drain and await self.drained():
            self._log.info("drained", entries=self._stats.entries)
            self._stop("drained")
        return 0

    def _add(self, entries: list[Entry], now: float) -> None:
        """Into the open batch as far as it has room (its deadline starts with its first entry, and is no
        sooner than the spacing after the previous batch); the rest is carried to the next batch."""
        if not self._batch:
            self._deadline = max(now + self._batch_s, self._closed_at + self._spacing_s)
        room = self._batch_max - len(self._batch)
        self._batch.extend(entries[:room])
        self._carry.extend(entries[room:])

    async def _submit_batch(self) -> None:
        batch, self._batch = self._batch, []
        self._closed_at = time.monotonic()
        await self._committer.submit(batch, isolate=False)

    async def drained(self) -> bool:
        if self._carry or self._batch or self._committer.outstanding:
            return False
        for kind in STREAM_KINDS:
            state = await self._reader.group_state(kind)
            if state is not None:
                await self._alerts.lost(kind, state.lost)
                if not state.caught_up or state.pending:
                    return False
        return True

    async def recover_own_pending(self) -> None:
        """Entries delivered to this consumer name before a restart: finish them first."""
        cursors = {kind: b"0" for kind in STREAM_KINDS}
        while cursors and not self._stopping.is_set():
            gone: list[tuple[str, bytes]] = []
            entries = await self._reader.read(self._batch_max, None, pending=cursors, gone=gone)
            returned = {kind for kind, _ in gone} | {e.kind for e in entries}
            for kind, entry_id in [*gone, *((e.kind, e.entry_id) for e in entries)]:
                cursors[kind] = max(cursors[kind], entry_id, key=id_order)
            cursors = {k: v for k, v in cursors.items() if k in returned}
            if gone:
                await self._alerts.trimmed_pending(gone)
                await self._reader.ack(gone)
            await self._submit_claimed(entries)
        self._log.info("own_pending_recovered", consumer=self._reader.consumer)

    async def reclaim(self) -> None:
        """XAUTOCLAIM entries idle longer than ``writer_claim_idle_ms`` (their consumer is gone)."""
        for kind in STREAM_KINDS:
            cursor = b"0-0"
            while True:
                cursor, entries, gone = await self._reader.autoclaim(
                    kind, self._settings.writer.claim_idle_ms, cursor, self._batch_max
                )
                if gone:
                    await self._alerts.trimmed_pending(gone)
                await self._submit_fresh(kind, entries)
                if cursor in (b"0-0", "0-0") or self._stopping.is_set():
                    break

    async def _submit_fresh(self, kind: str, entries: list[Entry]) -> None:
        """Reclaimed entries this writer does not hold already (an entry it is writing can look idle)."""
        held = {(e.kind, e.entry_id) for e in self.held()} if entries else set()
        fresh = [e for e in entries if (e.kind, e.entry_id) not in held]
        if fresh:
            self._log.info("entries_reclaimed", stream=kind, count=len(fresh))
            await self._submit_claimed(fresh)

    async def _submit_claimed(self, entries: list[Entry]) -> None:
        """Queue redelivered entries; those delivered too often are written one per transaction."""
        if not entries:
            return
        max_attempts = self._settings.writer.max_attempts
        suspects: set[bytes] = set()
        for kind in {e.kind for e in entries}:
            counts = await self._reader.delivery_counts(kind, [e for e in entries if e.kind == kind])
            suspects |= {i for i, n in counts.items() if n >= max_attempts}
        normal = [e for e in entries if e.entry_id not in suspects]
        for start in range(0, len(normal), self._batch_max):
            await self._committer.submit(normal[start : start + self._batch_max], isolate=False)
        isolated = [e for e in entries if e.entry_id in suspects]
        if isolated:
            self._log.warning("entries_isolated", count=len(isolated), min_deliveries=max_attempts)
            await self._committer.submit(isolated, isolate=True)

    # --- background routines (owned by the service) ---
    async def lease_routine(self) -> None:
        """Every third of the claim timeout, reset the idle time of every entry held (XCLAIM JUSTID).

        A live writer's entries so never look abandoned, however long MySQL is down; a few thousand ids per
        period cost Redis a few milliseconds. An entry delivered to us but lost on the way (a read reply
        broken by a connection error) is not in memory, so it goes idle and is reclaimed normally.
        """
        period_s = self._settings.writer.claim_idle_ms / 3000.0
        while not self._stopping.is_set():
            await wait_or_stop(self._stopping, period_s)
            held = self.held()
            if not held:
                continue
            try:
                await self._reader.renew(held)
                self._stats.lease_renewals += 1
            except (RedisError, OSError) as exc:
                self._log.warning("lease_renew_failed", error=str(exc))

    async def state_routine(self) -> None:
        """Lag and pending per stream for the heartbeat; entries trimmed before delivery -> alert."""
        while not self._stopping.is_set():
            await wait_or_stop(self._stopping, max(self._settings.service.heartbeat_interval_s, 0.2))
            try:
                await self.check_streams()
            except (RedisError, OSError) as exc:
                self._log.debug("group_state_failed", error=str(exc))

    async def check_streams(self) -> None:
        for kind in STREAM_KINDS:
            state = await self._reader.group_state(kind)
            if state is not None:
                self._stats.lag[kind], self._stats.pending[kind] = state.lag, state.pending
                await self._alerts.lost(kind, state.lost)
