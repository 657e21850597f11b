"""``dhan writer``: the four streams -> MySQL, batched, acknowledged only after the commit.

Composition only: :class:`StreamReader` (Redis), :class:`BatchBuilder` (pure rows), :class:`MySQLSink`.

* Start: schema check (one-line error on mismatch), groups created at id 0 (MKSTREAM), then this
  consumer's own pending entries, then idle entries of dead consumers (XAUTOCLAIM), then new ones.
* Batches close at ``writer_batch_max`` entries or ``writer_batch_ms`` after their first entry, whichever
  comes first. The deadline is kept here, not by Redis: with a batch open the reads do not block (what is
  there now), and between empty reads the loop sleeps ``BATCH_POLL_S``. Redis times out a blocked read only
  on its event-loop ticks (``hz`` 10: up to 100 ms), so ``BLOCK 20`` took 34 ms median, 68 ms max here, and
  each batch closed late by that much (bench/pipeline_e2e.py at 1k/s: send -> commit p50 65 ms before, 34 after).
  With nothing in hand the read blocks (an XADD wakes it at once; only its timeout is coarse).
* ``writer_inflight`` commit routines write batches concurrently; each XACKs its entries after COMMIT.
  A crash between the two redelivers entries whose rows are already there: natural keys, forward-only
  upserts and the insert-count summary rule (see sink.py) make that a no-op.
* MySQL down or a statement failing for the database's reasons: the batch is retried with exponential
  backoff (logged once per incident, counted per minute); its entries stay pending, and their idle time
  is renewed (XCLAIM JUSTID) so other writers do not steal them. A row that can never be stored is found
  by bisecting its batch and dead-lettered alone; undecodable entries are dead-lettered at once.
* Entries delivered ``writer_max_attempts`` times or more are written one per transaction.
* ``drain=True``: stop once every stream's group lag is 0 and nothing is pending (tests, benchmarks).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared.alerts import publish_alerts, resolved_alert
from shared.backoff import backoff_s
from shared.bus import connect_redis
from shared.clock import Clock, ist_now, system_clock
from shared.keys import STREAM_KINDS
from shared.service import Service
from shared.settings import Settings
from writer.alerts import RULE_TRIMMED, partition_alert, trimmed_alert
from writer.batch import BatchBuilder, Entry, Poison
from writer.gaps import GapRecorder, run_gap_recorder
from writer.metrics import WriterMetrics
from writer.reader import StreamReader
from writer.sink import MySQLSink, PartitionError, RowError, TransientError, WriteResult

__all__ = ["WriterService"]

IDLE_BLOCK_MS = 250  # longest blocking read with nothing in hand: bounds stop latency
BATCH_POLL_S = 0.002  # with a batch open: pause between non-blocking reads that found nothing
PARTITION_CHECK_S = 6 * 3600.0
PARTITION_RETRY_BASE_S = 1.0  # a failed maintenance is retried after 1, 2, 4 ... s, at most every 5 min
PARTITION_RETRY_CAP_S = 300.0
_Item = tuple[int, list[Entry], bool]  # token, entries, write one per transaction


class WriterService(Service):
    """Consumer of group ``writer``; see the module docstring."""

    name = "writer"

    def __init__(
        self,
        settings: Settings,
        *,
        duration_s: float | None = None,
        drain: bool = False,
        consumer: str | None = None,
        instance: str | None = None,
        clock: Clock = system_clock,
    ) -> None:
        super().__init__(settings, duration_s=duration_s, instance=instance)
        self.clock = clock  # "today" for partition maintenance (tests pin it)
        self.drain = drain
        self.consumer = consumer or settings.writer_consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.sink = MySQLSink(settings)
        self.builder = BatchBuilder(entry_max_bytes=settings.writer_entry_max_bytes)
        self.stats = WriterMetrics()
        self.reader: StreamReader | None = None
        self._client: aioredis.Redis | None = None
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=settings.writer_inflight)
        self._outstanding = 0  # batches queued or being written
        self._carry: list[Entry] = []
        self._batch: list[Entry] = []  # the batch being filled
        self._inflight: dict[int, list[Entry]] = {}  # batches queued or being written, by token
        self._next_token = 0
        self._lag: dict[str, int] = dict.fromkeys(STREAM_KINDS, 0)
        self._pending: dict[str, int] = dict.fromkeys(STREAM_KINDS, 0)
        self._incident_since: float | None = None
        self._incident_failures = 0
        self._next_reclaim = 0.0
        self._partition_firing: dict[str, Any] | None = None  # the partition alert while it fires
        self.lease_renewals = 0
        self.gap_recorder: GapRecorder | None = None

    # --- lifecycle ---
    async def setup(self) -> None:
        self.step = "connecting to MySQL, checking the schema version"
        await self.sink.start()  # MySQLUnavailable / SchemaMismatch: one line, before any stream work
        self.step = "creating consumer groups"
        self._client = await connect_redis(self.settings)
        self.reader = StreamReader(self._client, self.keys, self.consumer)
        await self.reader.ensure_groups()

    def _gaps_started(self, recorder: GapRecorder) -> None:
        self.gap_recorder = recorder

    def health_problem(self) -> str | None:
        if self._incident_since is not None:
            outage_s = time.monotonic() - self._incident_since
            return f"MySQL writes failing for {outage_s:.0f}s (entries kept pending)"
        return None

    async def teardown(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        await self.sink.stop()

    def metrics(self) -> dict[str, Any]:
        out = self.stats.snapshot()
        out.update(self.sink.pool_stats())
        out["consumer"] = self.consumer
        out["mysql_ok"] = self._incident_since is None
        out["inflight_batches"] = self._outstanding
        out["held_entries"] = self._held_count()
        out["lease_renewals_total"] = self.lease_renewals
        if self.gap_recorder is not None:
            out["gaps_dead_letters"] = self.gap_recorder.dead_letters
            out["gaps_failures_total"] = self.gap_recorder.failures
        for kind in STREAM_KINDS:
            out[f"lag_{kind}"] = self._lag[kind]
            out[f"pending_{kind}"] = self._pending[kind]
        out["lag"] = sum(max(v, 0) for v in self._lag.values())
        out["pending"] = sum(self._pending.values())
        return out

    async def run(self) -> None:
        for i in range(self.settings.writer_inflight):
            self.spawn(self._commit_routine(), f"commit{i}")
        self.spawn(self._lease_routine(), "lease")
        self.spawn(self._partition_routine(), "partitions")
        # gap ledger (writer/gaps.py): its own consumer group "gaps" on the feed's events stream
        self.spawn(run_gap_recorder(self.settings, self.keys, self.consumer, self.stopping,
                                    started=self._gaps_started), "gaps")  # fmt: skip
        # Before the first read: a read skips any gap the trim left and, on a group that never read, also
        # hides it from the group's counter, so losses from while no writer ran are counted first.
        await self._redis_retry(self._check_streams)
        self.spawn(self._state_routine(), "state")
        await self._redis_retry(self._recover_own_pending)
        await self._read_loop()
        await self._queue.join()  # the base cancels this after shutdown_deadline_s if MySQL is down

    # --- reading and batching ---
    async def _read_loop(self) -> None:
        assert self.reader is not None
        batch_max = self.settings.writer_batch_max
        batch_s = self.settings.writer_batch_ms / 1000.0
        batch = self._batch
        deadline = 0.0
        attempt = 0
        while not self.stopping.is_set():
            now = time.monotonic()
            if batch and (len(batch) >= batch_max or now >= deadline):
                await self._submit(batch, isolate=False)
                batch = self._batch = []
                continue
            if self._carry:
                if not batch:
                    deadline = now + batch_s
                room = batch_max - len(batch)
                batch.extend(self._carry[:room])
                del self._carry[:room]
                continue
            try:
                if now >= self._next_reclaim and self._incident_since is None:
                    await self._reclaim()
                    self._next_reclaim = time.monotonic() + self.settings.writer_claim_idle_ms / 2000.0
                    continue
                # a batch open: no BLOCK (Redis would time it out late, see the module docstring)
                entries = await self.reader.read(batch_max - len(batch), None if batch else IDLE_BLOCK_MS)
                attempt = 0
                if batch and not entries:
                    await asyncio.sleep(min(BATCH_POLL_S, max(0.0, deadline - time.monotonic())))
                    continue
            except (RedisError, OSError) as exc:
                attempt += 1
                delay = backoff_s(attempt, base_s=0.2, cap_s=5.0)
                self.log.warning("redis_read_failed", error=str(exc), attempt=attempt, delay_s=round(delay, 2))
                await self._sleep(delay)
                continue
            if entries:
                if not batch:
                    deadline = time.monotonic() + batch_s
                room = batch_max - len(batch)
                batch.extend(entries[:room])
                self._carry.extend(entries[room:])
            elif not batch and self.drain and await self._drained():
                self.log.info("drained", entries=self.stats.entries)
                self.stop("drained")
        if batch:
            self._batch = []
            await self._submit(batch, isolate=False)  # finish what is in hand; the base bounds the wait

    def _held(self) -> list[Entry]:
        """Every entry read and not yet acknowledged (no per-entry bookkeeping on the hot path)."""
        held = [*self._carry, *self._batch]
        for entries in list(self._inflight.values()):
            held.extend(entries)
        return held

    def _held_count(self) -> int:
        return len(self._carry) + len(self._batch) + sum(len(v) for v in self._inflight.values())

    async def _drained(self) -> bool:
        if self._carry or self._batch or self._outstanding:
            return False
        assert self.reader is not None
        for kind in STREAM_KINDS:
            state = await self.reader.group_state(kind)
            if state is not None:
                await self._report_lost(kind, state.lost)
                if not state.caught_up or state.pending:
                    return False
        return True

    async def _recover_own_pending(self) -> None:
        """Entries delivered to this consumer name before a restart: finish them first."""
        assert self.reader is not None
        cursors = {kind: b"0" for kind in STREAM_KINDS}
        while cursors and not self.stopping.is_set():
            gone: list[tuple[str, bytes]] = []
            entries = await self.reader.read(self.settings.writer_batch_max, None, pending=cursors, gone=gone)
            returned = {kind for kind, _ in gone} | {e.kind for e in entries}
            for kind, entry_id in gone:
                cursors[kind] = max(cursors[kind], entry_id, key=_id_order)
            for e in entries:
                cursors[e.kind] = max(cursors[e.kind], e.entry_id, key=_id_order)
            cursors = {k: v for k, v in cursors.items() if k in returned}
            if gone:
                await self._trimmed_pending(gone)
                await self.reader.ack(gone)
            await self._submit_claimed(entries)
        self.log.info("own_pending_recovered", consumer=self.consumer)

    async def _reclaim(self) -> None:
        """XAUTOCLAIM entries idle longer than ``writer_claim_idle_ms`` (their consumer is gone)."""
        assert self.reader is not None
        for kind in STREAM_KINDS:
            cursor = b"0-0"
            while True:
                cursor, entries, gone = await self.reader.autoclaim(
                    kind, self.settings.writer_claim_idle_ms, cursor, self.settings.writer_batch_max
                )
                if gone:
                    await self._trimmed_pending(gone)
                held = {(e.kind, e.entry_id) for e in self._held()} if entries else set()
                fresh = [e for e in entries if (e.kind, e.entry_id) not in held]
                if fresh:
                    self.log.info("entries_reclaimed", stream=kind, count=len(fresh))
                    await self._submit_claimed(fresh)
                if cursor in (b"0-0", "0-0") or self.stopping.is_set():
                    break

    async def _submit_claimed(self, entries: list[Entry]) -> None:
        """Queue redelivered entries; those delivered too often are written one per transaction."""
        if not entries:
            return
        assert self.reader is not None
        suspects: set[bytes] = set()
        for kind in {e.kind for e in entries}:
            counts = await self.reader.delivery_counts(kind, [e for e in entries if e.kind == kind])
            suspects |= {i for i, n in counts.items() if n >= self.settings.writer_max_attempts}
        normal = [e for e in entries if e.entry_id not in suspects]
        for start in range(0, len(normal), self.settings.writer_batch_max):
            await self._submit(normal[start : start + self.settings.writer_batch_max], isolate=False)
        isolated = [e for e in entries if e.entry_id in suspects]
        if isolated:
            self.log.warning("entries_isolated", count=len(isolated), min_deliveries=self.settings.writer_max_attempts)
            await self._submit(isolated, isolate=True)

    # --- committing ---
    async def _submit(self, entries: list[Entry], *, isolate: bool) -> None:
        token = self._next_token = self._next_token + 1
        self._inflight[token] = entries
        self._outstanding += 1
        try:
            await self._queue.put((token, entries, isolate))
        except BaseException:
            self._outstanding -= 1
            del self._inflight[token]
            raise

    async def _commit_routine(self) -> None:
        while True:
            token, entries, isolate = await self._queue.get()
            try:
                if isolate:
                    for e in entries:
                        await self._write_entries([e])
                else:
                    await self._write_entries(entries)
            finally:
                self._outstanding -= 1
                self._inflight.pop(token, None)
                self._queue.task_done()

    async def _write_entries(self, entries: list[Entry]) -> None:
        """Commit ``entries`` then ack them; poison goes to the dead letters; a bad row is bisected out."""
        batch = self.builder.build(entries)
        if batch.poison:
            await self._dead_letter(batch.poison)
            bad = {id(p.entry) for p in batch.poison}
            entries = [e for e in entries if id(e) not in bad]
            if not entries:
                return
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                result = await self.sink.write(batch)
                break
            except TransientError as exc:
                attempt += 1
                self._failed(exc, attempt)
                if self.stopping.is_set():
                    return  # entries stay pending: redelivered to whoever runs next
                await self._sleep(
                    backoff_s(
                        attempt,
                        base_s=self.settings.writer_retry_base_s,
                        cap_s=self.settings.writer_retry_cap_s,
                    )
                )
                if self.stopping.is_set():
                    return
            except RowError as exc:
                if len(entries) == 1:
                    self._failed(exc, 0)
                    await self._dead_letter([Poison(entries[0], f"rejected by MySQL: {exc}")])
                    return
                self.log.debug("batch_bisected", entries=len(entries), cause=str(exc))
                mid = len(entries) // 2
                await self._write_entries(entries[:mid])
                await self._write_entries(entries[mid:])
                return
        self._succeeded(len(entries), result, time.monotonic() - started)
        assert self.reader is not None
        await self._redis_retry(self.reader.ack, entries)

    def _failed(self, exc: Exception, attempt: int) -> None:
        self.stats.failed()
        if isinstance(exc, RowError):
            return  # logged with the dead letter
        self._incident_failures += 1
        if self._incident_since is None:
            self._incident_since = time.monotonic()
            self.log.warning("mysql_write_failed", cause=str(exc), entries_stay_pending=True)
        else:
            self.log.debug("mysql_write_retry", cause=str(exc), attempt=attempt)

    def _succeeded(self, entries: int, result: WriteResult, commit_s: float) -> None:
        self.stats.committed(entries, result, commit_s)
        if self._incident_since is not None:
            self.log.info(
                "mysql_write_recovered",
                outage_s=round(time.monotonic() - self._incident_since, 1),
                failures=self._incident_failures,
            )
            self._incident_since = None
            self._incident_failures = 0

    async def _dead_letter(self, poison: list[Poison]) -> None:
        assert self.reader is not None
        await self._redis_retry(
            self.reader.dead_letter,
            poison,
            maxlen=self.settings.writer_deadletter_maxlen,
            payload_max=self.settings.writer_entry_max_bytes,
        )
        self.stats.dead_lettered(len(poison))
        for p in poison:
            if p.error is not None:  # not a bad value: a failure of the writer's own code, with its traceback
                self.stats.internal_errors += 1
                self.log.error("entry_failed_unexpectedly", stream=p.entry.kind, id=p.entry.entry_id.decode(),
                               reason=p.reason, exc_info=p.error)  # fmt: skip
        for p in poison[:5]:
            self.log.warning("entry_dead_lettered", stream=p.entry.kind, id=p.entry.entry_id.decode(), reason=p.reason)

    # --- background routines ---
    async def _lease_routine(self) -> None:
        """Every third of the claim timeout, reset the idle time of every entry held (XCLAIM JUSTID).

        A live writer's entries so never look abandoned, however long MySQL is down; a few thousand ids per
        period cost Redis a few milliseconds. An entry delivered to us but lost on the way (a read reply
        broken by a connection error) is not in memory, so it goes idle and is reclaimed normally.
        """
        assert self.reader is not None
        period_s = self.settings.writer_claim_idle_ms / 3000.0
        while not self.stopping.is_set():
            await self._sleep(period_s)
            held = self._held()
            if not held:
                continue
            try:
                await self.reader.renew(held)
                self.lease_renewals += 1
            except (RedisError, OSError) as exc:
                self.log.warning("lease_renew_failed", error=str(exc))

    async def _state_routine(self) -> None:
        """Lag and pending per stream for the heartbeat; entries trimmed before delivery -> alert."""
        while not self.stopping.is_set():
            await self._sleep(max(self.settings.heartbeat_interval_s, 0.2))
            try:
                await self._check_streams()
            except (RedisError, OSError) as exc:
                self.log.debug("group_state_failed", error=str(exc))

    async def _check_streams(self) -> None:
        assert self.reader is not None
        for kind in STREAM_KINDS:
            state = await self.reader.group_state(kind)
            if state is not None:
                self._lag[kind], self._pending[kind] = state.lag, state.pending
                await self._report_lost(kind, state.lost)

    async def _partition_routine(self) -> None:
        """Monthly ``dhan_ticks`` partitions ahead, every ``PARTITION_CHECK_S``; a failure is retried with
        backoff under one alert, resolved by the next success (pmax takes the rows meanwhile, if it exists)."""
        attempt = 0
        while not self.stopping.is_set():
            try:
                added = await self.sink.ensure_partitions(
                    ist_now(self.clock).date(),
                    self.settings.writer_partition_months_ahead,
                    self.settings.writer_partition_lock_timeout_s,
                )
            except PermissionError as exc:
                self.log.warning(
                    "partition_maintenance_denied",
                    cause=str(exc),
                    fix="run dhan db init as an admin user (pmax still takes every row)",
                )
                return
            except (PartitionError, TransientError) as exc:
                attempt += 1
                self.stats.partition_failures += 1
                delay = backoff_s(attempt, base_s=PARTITION_RETRY_BASE_S, cap_s=PARTITION_RETRY_CAP_S)
                self.log.warning("partition_maintenance_failed", cause=str(exc), attempt=attempt,
                                 retry_in_s=round(delay, 1))  # fmt: skip
                await self._partition_alert(exc)
                await self._sleep(delay)
                continue
            if added:
                self.log.info("partitions_added", table="dhan_ticks", partitions=added)
            if attempt:
                self.log.info("partition_maintenance_recovered", attempts=attempt)
                attempt = 0
                await self._partition_alert(None)
            await self._sleep(PARTITION_CHECK_S)

    # --- alerts ---
    async def _report_lost(self, kind: str, lost: int) -> None:
        if lost:
            await self._alert(kind, None if lost < 0 else lost, "trimmed before it was delivered to the writer")

    async def _trimmed_pending(self, gone: list[tuple[str, bytes]]) -> None:
        for kind in {k for k, _ in gone}:
            ids = [i.decode() for k, i in gone if k == kind]
            await self._alert(kind, len(ids), "trimmed while pending (delivered, not yet written)", ids[:20])

    async def _alert(self, kind: str, count: int | None, how: str, ids: list[str] | None = None) -> None:
        stream = self.keys.stream(kind)
        self.stats.trimmed_lost += count or 0
        self.log.error(RULE_TRIMMED, stream=stream, entries=count, how=how)
        await self._publish_alert(trimmed_alert(stream, count, how, ids or [], self.instance, time.time()))

    async def _partition_alert(self, exc: PartitionError | TransientError | None) -> None:
        """Fire the partition alert on a failure (once per incident); resolve it when ``exc`` is None."""
        firing = self._partition_firing
        if exc is None and firing is not None:
            self._partition_firing = None
            await self._publish_alert(resolved_alert(firing, time.time()))
        elif exc is not None and firing is None:
            missing_pmax = isinstance(exc, PartitionError) and exc.missing_pmax
            self._partition_firing = partition_alert(str(exc), missing_pmax, self.instance, time.time())
            await self._publish_alert(self._partition_firing)

    async def _publish_alert(self, alert: dict[str, Any]) -> None:
        assert self._client is not None
        await self._redis_retry(
            publish_alerts, self._client, self.keys, [alert], maxlen=self.settings.monitor_alerts_maxlen
        )

    # --- helpers ---
    async def _sleep(self, delay_s: float) -> None:
        """Wait ``delay_s`` or until the service stops, whichever first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), delay_s)

    async def _redis_retry(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a Redis operation until it succeeds (or the service stops): acks must not be dropped."""
        attempt = 0
        while True:
            try:
                return await fn(*args, **kwargs)
            except (RedisError, OSError) as exc:
                attempt += 1
                if self.stopping.is_set() and attempt > 3:
                    self.log.warning("redis_gave_up_at_stop", op=getattr(fn, "__name__", "op"), error=str(exc))
                    return None
                delay = backoff_s(attempt, base_s=0.2, cap_s=5.0)
                self.log.warning(
                    "redis_op_failed",
                    op=getattr(fn, "__name__", "op"),
                    error=str(exc),
                    attempt=attempt,
                    delay_s=round(delay, 2),
                )
                await asyncio.sleep(delay)


def _id_order(entry_id: bytes) -> tuple[int, int]:
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq or 0)
