"""The writer's alert events (pure builders in the format of :mod:`shared.alerts`) and their publisher."""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis

from shared.alerts import firing_alert, publish_alerts
from shared.keys import Keys
from writer.metrics import WriterMetrics
from writer.retry import RedisRetry

__all__ = ["RULE_PARTITIONS", "RULE_TRIMMED", "WriterAlerts", "partition_alert", "trimmed_alert"]

RULE_TRIMMED = "stream_trimmed_unwritten"
RULE_PARTITIONS = "partition_maintenance_failed"


def trimmed_alert(stream: str, count: int | None, how: str, ids: list[str], service: str, now: float) -> dict[str, Any]:
    """Entries of ``stream`` trimmed before they were written: one event per loss, never resolved (the
    entries are gone; an operator acknowledges it). ``count`` None: some, how many is unknown."""
    detail = (
        f"{count if count is not None else 'some'} entries of {stream} {how}: they are not in MySQL; raise "
        "the stream cap (DHAN_STREAM_MAXLEN_*) or restore the writer sooner"
    )
    return firing_alert(f"{RULE_TRIMMED}:{stream}", RULE_TRIMMED, "critical", detail, service, now,
                        stream=stream, entries=count, ids=ids)  # fmt: skip


def partition_alert(cause: str, missing_pmax: bool, service: str, now: float) -> dict[str, Any]:
    """``dhan_ticks`` partition maintenance failed (fires once per incident; resolved by the next success).

    Critical without ``pmax``: ticks past the last partition cannot be stored (the writer dead-letters them);
    otherwise a warning, as ``pmax`` takes every row meanwhile.
    """
    effect = (
        "ticks past the last partition are dead-lettered until dhan_ticks is recreated with its pmax partition"
        if missing_pmax
        else "pmax still takes every row; retrying"
    )
    return firing_alert(f"{RULE_PARTITIONS}:{service}", RULE_PARTITIONS, "critical" if missing_pmax else "warning",
                        f"dhan_ticks partition maintenance failed: {cause}; {effect}", service, now)  # fmt: skip


class WriterAlerts:
    """Publishes the writer's alerts on ``<prefix>alerts`` (:func:`shared.alerts.publish_alerts`), retried until
    Redis takes them; entries lost to a trim are also logged and counted here."""

    def __init__(
        self, client: aioredis.Redis, keys: Keys, retry: RedisRetry, *, service: str, maxlen: int,
        stats: WriterMetrics, log: Any,
    ) -> None:  # fmt: skip
        self.service = service  # the instance name alerts carry
        self._client = client
        self._keys = keys
        self._retry = retry
        self._maxlen = maxlen
        self._stats = stats
        self._log = log

    async def publish(self, alert: dict[str, Any]) -> None:
        await self._retry(publish_alerts, self._client, self._keys, [alert], maxlen=self._maxlen)

    async def lost(self, kind: str, lost: int) -> None:
        """``lost`` entries of stream ``kind`` trimmed before delivery (-1: some, how many is unknown)."""
        if lost:
            await self._trimmed(kind, None if lost < 0 else lost, "trimmed before it was delivered to the writer")

    async def trimmed_pending(self, gone: list[tuple[str, bytes]]) -> None:
        """Entries delivered to a writer and trimmed before they were written: (kind, id) each."""
        for kind in {k for k, _ in gone}:
            ids = [i.decode() for k, i in gone if k == kind]
            await self._trimmed(kind, len(ids), "trimmed while pending (delivered, not yet written)", ids[:20])

    async def _trimmed(self, kind: str, count: int | None, how: str, ids: list[str] | None = None) -> None:
        stream = self._keys.stream(kind)
        self._stats.trimmed_lost += count or 0
        self._log.error(RULE_TRIMMED, stream=stream, entries=count, how=how)
        await self.publish(trimmed_alert(stream, count, how, ids or [], self.service, time.time()))
