"""Monthly partitions of ``dhan_ticks`` and ``dhan_depth20_history`` kept ahead while the writer runs (DDL:
:func:`shared.schema.ensure_partitions`).

Checked every :data:`PARTITION_CHECK_S`. A failure (the lock held by another session, no ``pmax``, MySQL) is
retried after 1, 2, 4 ... s, at most every 5 min, under one alert, resolved by the next success; ``pmax``
takes the rows meanwhile, if it exists. A user without ALTER is told once how to fix it, and the check ends.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from shared.alerts import resolved_alert
from shared.backoff import backoff_s
from shared.clock import Clock, ist_now
from shared.schema import PARTITIONED_TABLES
from shared.settings import Settings
from writer.alerts import WriterAlerts, partition_alert
from writer.metrics import WriterMetrics
from writer.retry import wait_or_stop
from writer.sink import MySQLSink, PartitionError, TransientError

__all__ = ["PARTITION_CHECK_S", "PartitionKeeper"]

PARTITION_CHECK_S = 6 * 3600.0
PARTITION_RETRY_BASE_S = 1.0
PARTITION_RETRY_CAP_S = 300.0
DENIED_FIX = "run dhan db init as an admin user (pmax still takes every row)"


class PartitionKeeper:
    """Runs :meth:`partition_routine` for the writer; "today" comes from ``clock`` (tests pin it)."""

    def __init__(
        self, settings: Settings, sink: MySQLSink, alerts: WriterAlerts, stats: WriterMetrics, *, clock: Clock,
        stopping: asyncio.Event, log: Any,
    ) -> None:  # fmt: skip
        self._months_ahead = settings.writer.partition_months_ahead
        self._lock_timeout_s = settings.writer.partition_lock_timeout_s
        self._sink = sink
        self._alerts = alerts
        self._stats = stats
        self._clock = clock
        self._stopping = stopping
        self._log = log
        self._firing: dict[str, Any] | None = None  # the partition alert while it fires

    async def partition_routine(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            try:
                added = await self._sink.ensure_partitions(
                    ist_now(self._clock).date(), self._months_ahead, self._lock_timeout_s
                )
            except PermissionError as exc:
                self._log.warning("partition_maintenance_denied", cause=str(exc), fix=DENIED_FIX)
                return
            except (PartitionError, TransientError) as exc:
                attempt += 1
                await self._failed(exc, attempt)
                continue
            if added:
                self._log.info("partitions_added", tables=list(PARTITIONED_TABLES), partitions=added)
            if attempt:
                self._log.info("partition_maintenance_recovered", attempts=attempt)
                attempt = 0
                await self._alert(None)
            await wait_or_stop(self._stopping, PARTITION_CHECK_S)

    async def _failed(self, exc: PartitionError | TransientError, attempt: int) -> None:
        """Count, log and alert a failed maintenance, then wait out its backoff."""
        self._stats.partition_failures += 1
        delay = backoff_s(attempt, base_s=PARTITION_RETRY_BASE_S, cap_s=PARTITION_RETRY_CAP_S)
        self._log.warning("partition_maintenance_failed", cause=str(exc), attempt=attempt, retry_in_s=round(delay, 1))
        await self._alert(exc)
        await wait_or_stop(self._stopping, delay)

    async def _alert(self, exc: PartitionError | TransientError | None) -> None:
        """Fire the partition alert on a failure (once per incident); resolve it when ``exc`` is None."""
        firing = self._firing
        if exc is None and firing is not None:
            self._firing = None
            await self._alerts.publish(resolved_alert(firing, time.time()))
        elif exc is not None and firing is None:
            missing_pmax = isinstance(exc, PartitionError) and exc.missing_pmax
            self._firing = partition_alert(str(exc), missing_pmax, self._alerts.service, time.time())
            await self._alerts.publish(self._firing)
