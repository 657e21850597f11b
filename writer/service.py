"""``dhan writer``: the four streams -> MySQL, batched, acknowledged only after the commit.

Composition only. The parts, each with the details in its own docstring:

* :class:`StreamReader` (reader.py): group ``writer`` on the quotes, ticks, depth and greeks streams, thin I/O.
* :class:`Intake` (intake.py): own pending entries first, then reclaimed and new ones, cut into batches;
  leases on every entry held; lag, pending and trimmed entries per stream.
* :class:`Committer` (committer.py): ``writer_inflight`` routines, each batch one MySQL transaction
  (:class:`MySQLSink`, rows from the pure :class:`BatchBuilder`) then XACK; outages retried, bad rows
  bisected out and dead-lettered.
* :class:`PartitionKeeper` (partitions.py): monthly ``dhan_ticks`` partitions ahead.
* The gap ledger (gaps.py): group ``gaps`` on the feed's events stream -> ``dhan_gaps``.
* :class:`WriterAlerts` (alerts.py) and :class:`WriterMetrics` (metrics.py): alerts, counters, heartbeat.

Start: schema check (one-line error on mismatch), groups created at id 0 (MKSTREAM), streams checked for
entries trimmed while no writer ran, then the intake. ``drain=True``: stop once every stream's group lag is 0
and nothing is pending (tests, benchmarks). Every routine is a task owned by the service: one that dies
fails it.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from shared.bus import connect_redis
from shared.clock import Clock, system_clock
from shared.service import Service
from shared.settings import Settings
from writer.alerts import WriterAlerts
from writer.batch import BatchBuilder
from writer.committer import Committer
from writer.gaps import GapRecorder, run_gap_recorder
from writer.intake import Intake
from writer.metrics import WriterMetrics
from writer.partitions import PartitionKeeper
from writer.reader import StreamReader
from writer.retry import RedisRetry
from writer.sink import MySQLSink

__all__ = ["WriterService"]


@dataclass(frozen=True, slots=True)
class _Parts:
    """What ``setup`` builds on the Redis connection."""

    intake: Intake
    committer: Committer
    partitions: PartitionKeeper


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
        self.consumer = consumer or settings.writer.consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.sink = MySQLSink(settings)
        self.builder = BatchBuilder(
            entry_max_bytes=settings.writer.entry_max_bytes, depth20_sample_s=settings.writer.depth20_sample_s
        )
        self.stats = WriterMetrics()
        self._retry = RedisRetry(self.stopping, self.log)
        self.gap_recorder: GapRecorder | None = None
        self._client: aioredis.Redis | None = None
        self._parts: _Parts | None = None

    async def setup(self) -> None:
        self.step = "connecting to MySQL, checking the schema version"
        await self.sink.open()  # MySQLUnavailable / SchemaMismatch: one line, before any stream work
        self.step = "creating consumer groups"
        self._client = await connect_redis(self.settings)
        reader = StreamReader(self._client, self.keys, self.consumer)
        await reader.ensure_groups()
        self._parts = self._compose(self._client, reader)

    def _compose(self, client: aioredis.Redis, reader: StreamReader) -> _Parts:
        settings, stats, log = self.settings, self.stats, self.log
        alerts = WriterAlerts(client, self.keys, self._retry, service=self.instance,
                              maxlen=settings.monitor.alerts_maxlen, stats=stats, log=log)  # fmt: skip
        committer = Committer(settings, self.sink, self.builder, reader, stats, retry=self._retry,
                              stopping=self.stopping, log=log)  # fmt: skip
        intake = Intake(settings, reader, committer, alerts, stats, stopping=self.stopping, log=log,
                        drain=self.drain, stop=self.stop)  # fmt: skip
        partitions = PartitionKeeper(settings, self.sink, alerts, stats, clock=self.clock, stopping=self.stopping,
                                     log=log)  # fmt: skip
        return _Parts(intake, committer, partitions)

    def _gaps_started(self, recorder: GapRecorder) -> None:
        self.gap_recorder = recorder

    def health_problem(self) -> str | None:
        outage_s = self._parts.committer.outage_s() if self._parts is not None else None
        return None if outage_s is None else f"MySQL writes failing for {outage_s:.0f}s (entries kept pending)"

    async def teardown(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        await self.sink.close()

    def metrics(self) -> dict[str, Any]:
        assert self._parts is not None  # the base asks only once setup has run
        committer = self._parts.committer
        return self.stats.heartbeat(
            pool=self.sink.pool_stats(), consumer=self.consumer, mysql_ok=committer.mysql_ok,
            inflight_batches=committer.outstanding, held_entries=self._parts.intake.held_count(),
            gaps=self.gap_recorder,
        )  # fmt: skip

    async def run(self) -> None:
        assert self._parts is not None
        intake, committer = self._parts.intake, self._parts.committer
        for i in range(self.settings.writer.inflight):
            self.spawn(committer.commit_routine(), f"commit{i}")
        self.spawn(intake.lease_routine(), "lease")
        self.spawn(self._parts.partitions.partition_routine(), "partitions")
        # gap ledger (writer/gaps.py): its own consumer group "gaps" on the feed's events stream
        self.spawn(run_gap_recorder(self.settings, self.keys, self.consumer, self.stopping,
                                    started=self._gaps_started), "gaps")  # fmt: skip
        # Before the first read: a read skips any gap the trim left and, on a group that never read, also
        # hides it from the group's counter, so losses from while no writer ran are counted first.
        await self._retry(intake.check_streams)
        self.spawn(intake.state_routine(), "state")
        await self._retry(intake.recover_own_pending)
        await intake.read_loop()
        await committer.join()  # the base cancels this after shutdown_deadline_s if MySQL is down
