"""Alerts for the Control Center (Qt-free): history and live events from ``<prefix>alerts``, acknowledgements.

Every service appends events in :mod:`shared.alerts`'s format (the monitor's rules, the writer's trimmed
streams and partition maintenance); an event in a looser shape (``{rule, severity, source, message, ts}``, which
older writers appended) is shown as a firing event. An alert is acknowledged by writing its id into the
``alerts:ack`` hash, so every desk sees the acknowledgement. :meth:`AlertFeed.rows` gives one row per alert id
(its latest event).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared.clock import IST
from shared.keys import Keys
from shared.logs import get_logger

__all__ = ["AlertFeed", "AlertRow", "normalise_alert"]


@dataclass(slots=True)
class AlertRow:
    id: str
    key: str
    rule: str
    severity: str
    state: str            # firing | resolved
    ts: float             # latest event
    fired_ts: float
    detail: str
    service: str
    acked_by: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def time_ist(self) -> str:
        return datetime.fromtimestamp(self.fired_ts, IST).strftime("%d %b %H:%M:%S")


def normalise_alert(ev: dict[str, Any]) -> dict[str, Any]:
    """Any alert event -> the monitor's shape (``id key rule severity state ts detail service``)."""
    rule = str(ev.get("rule", "alert"))
    ts = float(ev.get("ts") or time.time())
    key = str(ev.get("key") or f"{rule}:{ev.get('stream') or ev.get('source') or ''}")
    return {
        "id": str(ev.get("id") or f"{key}@{int(ts * 1000)}"), "key": key, "rule": rule,
        "severity": str(ev.get("severity", "warning")), "state": str(ev.get("state", "firing")), "ts": ts,
        "detail": str(ev.get("detail") or ev.get("message") or ""),
        "service": str(ev.get("service") or ev.get("source") or ""),
    }


class AlertFeed:
    """Follows the alerts stream; keeps one :class:`AlertRow` per alert id."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, *, backlog: int = 1000, by: str = "control") -> None:
        self.redis = redis
        self.keys = keys
        self.backlog = backlog
        self.by = by
        self.alerts: dict[str, AlertRow] = {}
        self.version = 0
        self._last_id = "0-0"
        self.log = get_logger("alerts_feed")

    def ingest(self, data: bytes | str) -> None:
        try:
            ev = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        for one in ev if isinstance(ev, list) else [ev]:
            if not isinstance(one, dict):
                continue
            a = normalise_alert(one)
            row = self.alerts.get(a["id"])
            if row is None:
                row = self.alerts[a["id"]] = AlertRow(a["id"], a["key"], a["rule"], a["severity"], a["state"],
                                                      a["ts"], a["ts"], a["detail"], a["service"])
            else:
                row.state, row.ts = a["state"], a["ts"]
                if a["state"] == "firing":
                    row.detail = a["detail"]
            row.history.append(a)
            self.version += 1

    async def refresh_acks(self) -> None:
        raw = await self.redis.hgetall(self.keys.alerts_ack)
        changed = False
        for k, v in raw.items():
            row = self.alerts.get(k.decode() if isinstance(k, bytes) else k)
            if row is not None and not row.acked_by:
                try:
                    row.acked_by = str(orjson.loads(v).get("by", "someone"))
                except (orjson.JSONDecodeError, AttributeError):
                    row.acked_by = "someone"
                changed = True
        if changed:
            self.version += 1

    async def acknowledge(self, alert_id: str) -> None:
        await self.redis.hset(self.keys.alerts_ack, alert_id, orjson.dumps({"by": self.by, "ts": time.time()}))
        row = self.alerts.get(alert_id)
        if row is not None:
            row.acked_by = self.by
            self.version += 1

    async def load_backlog(self) -> None:
        rows: Any = await self.redis.xrevrange(self.keys.alerts, count=self.backlog)
        for eid, fields in reversed(rows):
            self._take(eid, fields)
        await self.refresh_acks()

    def _take(self, eid: bytes | str, fields: dict[Any, Any]) -> None:
        self._last_id = eid.decode() if isinstance(eid, bytes) else eid
        data = fields.get(b"d", fields.get("d"))
        if data is not None:
            self.ingest(data)

    async def run(self, stopping: asyncio.Event) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.load_backlog()
        last_acks = time.monotonic()
        while not stopping.is_set():
            try:
                reply: Any = await self.redis.xread({self.keys.alerts: self._last_id}, count=500, block=500)
                for _stream, entries in reply or []:
                    for eid, fields in entries:
                        self._take(eid, fields)
                if time.monotonic() - last_acks > 2.0:
                    last_acks = time.monotonic()
                    await self.refresh_acks()
            except (RedisError, OSError) as exc:
                self.log.warning("alerts_feed_lost", error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), 1.0)

    def rows(self, active_only: bool = False) -> list[AlertRow]:
        """Newest first; ``active_only``: firing and not acknowledged."""
        out = [r for r in self.alerts.values() if not active_only or (r.state == "firing" and not r.acked_by)]
        return sorted(out, key=lambda r: r.ts, reverse=True)

    def active_count(self) -> int:
        return sum(1 for r in self.alerts.values() if r.state == "firing" and not r.acked_by)
