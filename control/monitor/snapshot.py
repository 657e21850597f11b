"""One look at the running system (Qt-free): heartbeats, Redis memory, streams and groups, MySQL connections.

:class:`Snapshot` is plain data; the alert rules (:mod:`control.monitor.rules`) and the Control Center's
Monitor tab both read it. :class:`SnapshotCollector` fills it from Redis (one pipelined round trip for the
heartbeats, ``INFO memory``, ``TIME``, ``XINFO STREAM``/``GROUPS`` per stream) and, every few seconds, from
MySQL (``Threads_connected`` against ``max_connections``). A stream's freshness is the age of its newest
entry, read from the entry id (Redis's own millisecond clock, so no clock skew between hosts enters).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import aiomysql
import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from shared.db import close_pool
from shared.keys import STREAM_KINDS, Keys
from shared.logs import get_logger
from shared.settings import Settings

__all__ = ["GroupInfo", "Snapshot", "SnapshotCollector", "StreamInfo", "num"]

MYSQL_EVERY_S = 5.0
UNIVERSE_EVERY_S = 5.0


def num(v: Any, default: float | None = None) -> float | None:
    """A heartbeat field as a number (fields are strings in Redis); ``default`` when empty or not numeric."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


@dataclass(slots=True)
class GroupInfo:
    lag: int | None
    pending: int
    consumers: int


@dataclass(slots=True)
class StreamInfo:
    length: int = 0
    last_entry_ms: int | None = None
    groups: dict[str, GroupInfo] = field(default_factory=dict)

    def age_s(self, redis_now_s: float) -> float | None:
        return None if self.last_entry_ms is None else max(0.0, redis_now_s - self.last_entry_ms / 1000)


@dataclass(slots=True)
class Snapshot:
    """What the rules and the Monitor tab look at; ``now`` is our clock, ``redis_now`` Redis's."""

    now: float
    redis_ok: bool = True
    redis_error: str = ""
    redis_dropped: str = ""               # Redis answers, but cut a connection of ours since the last snapshot
    redis_now: float = 0.0
    redis_used_memory: int = 0
    redis_maxmemory: int = 0
    heartbeats: dict[str, dict[str, str]] = field(default_factory=dict)
    streams: dict[str, StreamInfo] = field(default_factory=dict)
    universe: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_seen: dict[str, float] = field(default_factory=dict)
    market_open: bool = False
    mysql_ok: bool | None = None          # None: not checked
    mysql_error: str = ""
    mysql_threads: int | None = None
    mysql_max_connections: int | None = None

    def by_name(self, name: str) -> list[tuple[str, dict[str, str]]]:
        """Heartbeats of every instance of service ``name`` (``feed``, ``feed-2`` ...)."""
        return [(inst, hb) for inst, hb in self.heartbeats.items() if hb.get("name", inst) == name]

    def sum_field(self, name: str, field: str) -> float | None:
        """A numeric heartbeat field summed over the instances of ``name``; None when none has it."""
        vals = [v for _, hb in self.by_name(name) if (v := num(hb.get(field))) is not None]
        return sum(vals) if vals else None

    def heartbeat_age_s(self, hb: dict[str, str]) -> float | None:
        updated = num(hb.get("updated_at"))
        return None if updated is None else max(0.0, self.now - updated)


class SnapshotCollector:
    """Fills a :class:`Snapshot` from Redis (and MySQL when ``with_mysql``)."""

    def __init__(self, settings: Settings, redis: aioredis.Redis, keys: Keys, *, with_mysql: bool = True) -> None:
        self.settings = settings
        self.keys = keys
        self.redis = redis
        self.with_mysql = with_mysql
        self.log = get_logger("snapshot")
        self._pool: Any = None
        self._mysql_at = 0.0
        self._mysql_last: tuple[bool | None, str, int | None, int | None] = (None, "", None, None)
        self._universe_at = 0.0
        self._universe: dict[str, dict[str, Any]] = {}

    async def close(self) -> None:
        if self._pool is not None:
            await close_pool(self._pool)
            self._pool = None

    async def collect(self, now: float | None = None) -> Snapshot:
        snap = Snapshot(now=time.time() if now is None else now)
        try:
            await self._collect_redis(snap)
        except (RedisError, OSError) as exc:
            snap.redis_ok = False
            snap.redis_error = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        if self.with_mysql:
            await self._collect_mysql(snap)
        return snap

    async def _collect_redis(self, snap: Snapshot) -> None:
        r = self.redis
        keys = [k async for k in r.scan_iter(match=self.keys.svc_pattern, count=500)]
        pipe = r.pipeline(transaction=False)
        for k in keys:
            pipe.hgetall(k)
        pipe.info("memory")
        pipe.time()
        results = await pipe.execute()
        prefix_len = len(self.keys.svc(""))
        for k, hb in zip(keys, results[: len(keys)], strict=True):
            if hb:
                name = (k.decode() if isinstance(k, bytes) else k)[prefix_len:]
                snap.heartbeats[name] = {_s(a): _s(b) for a, b in hb.items()}
        mem, (secs, micros) = results[len(keys)], results[len(keys) + 1]
        snap.redis_used_memory = int(mem.get("used_memory", 0))
        snap.redis_maxmemory = int(mem.get("maxmemory", 0))
        snap.redis_now = int(secs) + int(micros) / 1e6
        for kind in STREAM_KINDS:
            snap.streams[kind] = await self._stream_info(self.keys.stream(kind))
        if snap.now - self._universe_at >= UNIVERSE_EVERY_S:
            self._universe_at = snap.now
            raw = await r.hgetall(self.keys.universe)
            uni: dict[str, dict[str, Any]] = {}
            for k, v in raw.items():
                try:
                    record = orjson.loads(v)
                except orjson.JSONDecodeError:
                    continue
                # the rules and tabs read symbol and role as text: a record is kept only in the feed's shape
                if isinstance(record, dict) and all(
                    type(record.get(f)) in (str, type(None)) for f in ("symbol", "role")
                ):
                    uni[_s(k)] = record
            self._universe = uni
        snap.universe = self._universe

    async def _stream_info(self, name: str) -> StreamInfo:
        info = StreamInfo()
        try:
            raw = await self.redis.xinfo_stream(name)
        except ResponseError:  # no such stream yet
            return info
        info.length = int(raw.get("length", 0))
        last = _s(raw.get("last-generated-id") or "0-0")
        ms = int(last.split("-")[0])
        info.last_entry_ms = ms if ms > 0 else None
        for g in await self.redis.xinfo_groups(name):
            lag = g.get("lag")
            info.groups[_s(g["name"])] = GroupInfo(
                lag=int(lag) if lag is not None else None,
                pending=int(g.get("pending", 0)), consumers=int(g.get("consumers", 0)),
            )
        return info

    async def _collect_mysql(self, snap: Snapshot) -> None:
        if snap.now - self._mysql_at < MYSQL_EVERY_S:
            snap.mysql_ok, snap.mysql_error, snap.mysql_threads, snap.mysql_max_connections = self._mysql_last
            return
        self._mysql_at = snap.now
        try:
            if self._pool is None:
                kw = self.settings.mysql.target.connect_kwargs(with_db=False)
                self._pool = await aiomysql.create_pool(minsize=0, maxsize=1, connect_timeout=3, **kw)
            async with self._pool.acquire() as conn, conn.cursor() as cur:
                await cur.execute("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
                threads = int((await cur.fetchone())[1])
                await cur.execute("SELECT @@max_connections")
                max_conn = int((await cur.fetchone())[0])
            self._mysql_last = (True, "", threads, max_conn)
        except Exception as exc:  # any driver error: not reachable
            await self.close()
            text = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            self._mysql_last = (False, text, None, None)
        snap.mysql_ok, snap.mysql_error, snap.mysql_threads, snap.mysql_max_connections = self._mysql_last


def _s(v: Any) -> str:
    return v.decode(errors="replace") if isinstance(v, bytes) else str(v)
