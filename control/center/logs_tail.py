"""Live tail of ``<prefix>logs`` (Qt-free): warnings and errors of every service, filtered for display.

Starts with the newest ``backlog`` records (XREVRANGE), then follows new ones with a blocking XREAD on its
own connection. Records are kept in a bounded deque; :meth:`LogTail.filtered` applies the service, level
and search filters of the Logs tab.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared.clock import IST
from shared.keys import Keys
from shared.logs import get_logger

__all__ = ["LEVELS", "LogRecord", "LogTail", "parse_record"]

LEVELS = ("debug", "info", "warning", "error", "critical")
_CORE = ("timestamp", "level", "event", "service", "logger")


@dataclass(frozen=True, slots=True)
class LogRecord:
    entry_id: str
    ts: float
    service: str
    level: str
    event: str
    fields: str           # the other fields as "key=value" pairs

    @property
    def time_ist(self) -> str:
        return datetime.fromtimestamp(self.ts, IST).strftime("%H:%M:%S") if self.ts else ""

    def matches(self, service: str | None, min_level: str | None, text: str) -> bool:
        if service and self.service != service:
            return False
        if min_level and LEVELS.index(self.level) < LEVELS.index(min_level):
            return False
        if text:
            t = text.lower()
            return t in self.event.lower() or t in self.fields.lower() or t in self.service.lower()
        return True


def parse_record(entry_id: str, data: bytes) -> LogRecord | None:
    try:
        rec: dict[str, Any] = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(rec, dict):
        return None
    ms = int(entry_id.split("-")[0]) if entry_id[:1].isdigit() else 0
    level = str(rec.get("level", "warning")).lower()
    level = "error" if level == "exception" else level
    if level not in LEVELS:
        level = "warning"
    fields = " ".join(f"{k}={v}" for k, v in rec.items() if k not in _CORE and k != "exc_info")
    return LogRecord(entry_id, ms / 1000, str(rec.get("service", "?")), level, str(rec.get("event", "")), fields)


class LogTail:
    """Keeps the last ``keep`` records of the logs stream, newest last."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, *, backlog: int = 500, keep: int = 5000) -> None:
        self.redis = redis
        self.keys = keys
        self.backlog = backlog
        self.records: collections.deque[LogRecord] = collections.deque(maxlen=keep)
        self.services: set[str] = set()
        self.version = 0                 # bumps on every change (the UI redraws only then)
        self._last_id = "0-0"
        self.log = get_logger("logs_tail")

    def _add(self, entry_id: bytes | str, fields: dict[Any, Any]) -> None:
        eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        data = fields.get(b"d", fields.get("d"))
        self._last_id = eid
        if data is None:
            return
        rec = parse_record(eid, data if isinstance(data, bytes) else str(data).encode())
        if rec is not None:
            self.records.append(rec)
            self.services.add(rec.service)
            self.version += 1

    async def load_backlog(self) -> None:
        rows: Any = await self.redis.xrevrange(self.keys.logs, count=self.backlog)
        for eid, fields in reversed(rows):
            self._add(eid, fields)
        if not rows:
            info_id = await self._stream_last_id()
            self._last_id = info_id or "0-0"

    async def _stream_last_id(self) -> str | None:
        try:
            info = await self.redis.xinfo_stream(self.keys.logs)
        except RedisError:
            return None
        last = info.get("last-generated-id")
        return last.decode() if isinstance(last, bytes) else last

    async def run(self, stopping: asyncio.Event) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.load_backlog()
        while not stopping.is_set():
            try:
                reply: Any = await self.redis.xread({self.keys.logs: self._last_id}, count=500, block=500)
                for _stream, entries in reply or []:
                    for eid, fields in entries:
                        self._add(eid, fields)
            except (RedisError, OSError) as exc:
                self.log.warning("logs_tail_lost", error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), 1.0)

    def filtered(self, service: str | None = None, min_level: str | None = None, text: str = "",
                 limit: int = 2000) -> list[LogRecord]:
        """Newest first."""
        out: list[LogRecord] = []
        for rec in reversed(self.records):
            if rec.matches(service, min_level, text):
                out.append(rec)
                if len(out) >= limit:
                    break
        return out
