"""Connections of one visualizer: its Redis client and MySQL pool, (re)opened with backoff.

:meth:`DataLink.run_forever` runs a data routine (load history, follow live) and, when Redis or MySQL
fails, records which one and why in the window's :class:`StatusModel`, drops the broken client, waits a
backoff delay (exponential, capped, with jitter) and runs the routine again from the start (a fresh seam
load is exact, so nothing is lost or counted twice across an outage). All of it is awaiting on the UI's
loop, so the window keeps painting and answering while it retries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiomysql
import pymysql
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared.backoff import backoff_s
from shared.bus import connect_redis
from shared.db import check_schema, close_pool, create_pool
from shared.errors import MySQLUnavailable, RedisUnavailable, SchemaMismatch
from shared.logs import get_logger
from shared.settings import Settings
from viz.models.status import StatusModel

__all__ = ["LINK_ERRORS", "DataLink", "describe_failure"]

LINK_ERRORS: tuple[type[BaseException], ...] = (
    RedisError,
    RedisUnavailable,
    pymysql.err.MySQLError,
    MySQLUnavailable,
    SchemaMismatch,
    OSError,
    TimeoutError,
)
RETRY_BASE_S = 0.5
RETRY_CAP_S = 10.0
HEALTHY_RESET_S = 10.0  # a routine that ran this long before failing starts its backoff over
POOL_SIZE = 2


_MYSQL_REASONS = {
    1045: "access denied",
    1049: "database missing: run dhan db init",
    2003: "connection refused",
    2006: "server went away",
    2013: "connection lost",
}


def describe_failure(exc: BaseException, settings: Settings) -> tuple[str, str, str]:
    """``(link, reason, hint)`` of a failure, short enough for a status line."""
    text = str(exc)
    low = text.lower()
    if isinstance(exc, (RedisError, RedisUnavailable)):
        if "refused" in low or "error 111" in low:
            reason = "connection refused"
        elif "timeout" in low or "timed out" in low:
            reason = "timed out"
        elif "auth" in low or "credentials" in low:
            reason = "authentication failed"
        else:
            reason = (text.splitlines() or [type(exc).__name__])[0][:80]
        return "redis", reason, f"at {settings.redis.url_masked}; start Redis or set DHAN_REDIS_URL"
    if isinstance(exc, SchemaMismatch):
        return "mysql", text[:120], ""
    code = exc.args[0] if isinstance(exc, pymysql.err.MySQLError) and exc.args else None
    if code in _MYSQL_REASONS:
        reason = _MYSQL_REASONS[code]
    elif "refused" in low:
        reason = "connection refused"
    elif "can't connect" in low or "not reachable" in low:
        reason = "cannot connect"
    elif "access denied" in low or "credentials" in low:
        reason = "access denied"
    else:
        reason = (text.splitlines() or [type(exc).__name__])[0][:80] or type(exc).__name__
    return "mysql", reason, f"at {settings.mysql.target.masked}; start MySQL or set DHAN_MYSQL_URL"


class DataLink:
    """Redis client + MySQL pool of one window; ``close()`` may be called twice."""

    def __init__(
        self, settings: Settings, status: StatusModel, *, name: str = "viz", clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.status = status
        self.log = get_logger(name)
        self._clock = clock
        self._redis: aioredis.Redis | None = None
        self._pool: aiomysql.Pool | None = None
        self._pool_lock = asyncio.Lock()
        self._redis_lock = asyncio.Lock()

    async def redis(self) -> aioredis.Redis:
        async with self._redis_lock:
            if self._redis is None:
                self._redis = await connect_redis(self.settings)  # RedisUnavailable: one line, masked URL
                self.status.redis.ok, self.status.redis.error, self.status.redis.retry_at = True, "", None
                self.status.redis.hint = ""
            return self._redis

    async def pool(self) -> aiomysql.Pool:
        async with self._pool_lock:
            if self._pool is None:
                pool = await create_pool(self.settings, minsize=1, maxsize=POOL_SIZE)
                try:
                    await check_schema(pool)
                except BaseException:
                    await close_pool(pool)
                    raise
                self._pool = pool
                self.status.mysql.ok, self.status.mysql.error, self.status.mysql.retry_at = True, "", None
                self.status.mysql.hint = ""
            return self._pool

    async def failed(self, exc: BaseException) -> str:
        """Record a failure, drop the client that failed; returns ``"redis"`` or ``"mysql"``."""
        # redis-py wraps every socket failure in RedisError; a bare OSError/TimeoutError comes from aiomysql.
        which, reason, hint = describe_failure(exc, self.settings)
        if which == "redis":
            state = self.status.redis
            client, self._redis = self._redis, None
            if client is not None:
                await client.aclose()
        else:
            state = self.status.mysql
            pool, self._pool = self._pool, None
            if pool is not None:
                await close_pool(pool)
        state.ok, state.error, state.hint = False, reason, hint
        return which

    async def run_forever(self, routine: Callable[[], Awaitable[None]], what: str) -> None:
        """Run ``routine`` until it returns; on a link failure retry it with backoff. Cancel to stop."""
        attempt = 0
        while True:
            started = self._clock()
            try:
                await routine()
                return
            except LINK_ERRORS as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # Cancelled while a read was in flight: redis-py can hold the cancellation until its
                    # connection is closed, then raise ConnectionError. That is a stop, not an outage.
                    raise asyncio.CancelledError from exc
                which = await self.failed(exc)
            if self._clock() - started > HEALTHY_RESET_S:
                attempt = 0
            attempt += 1
            delay = backoff_s(attempt, base_s=RETRY_BASE_S, cap_s=RETRY_CAP_S)
            state = self.status.redis if which == "redis" else self.status.mysql
            state.retry_at = self._clock() + delay
            self.status.phase = "waiting to retry"
            self.log.warning(
                "viz_link_retry", routine=what, link=which, attempt=attempt, delay_s=round(delay, 2), error=state.error
            )
            await asyncio.sleep(delay)

    async def cancel_and_close(
        self, tasks: Iterable[asyncio.Task[Any]], *, grace_s: float = 0.3, deadline_s: float = 3.0
    ) -> set[asyncio.Task[Any]]:
        """Cancel ``tasks`` and close the links; returns tasks still running after ``deadline_s``.

        Most tasks end at once. A blocking Redis read may hold its cancellation until the connection
        closes (redis-py), so the links are closed after a short grace and the rest awaited after that.
        """
        pending = set(tasks)
        for t in pending:
            t.cancel()
        if pending:
            _, pending = await asyncio.wait(pending, timeout=grace_s)
        await self.close()
        if pending:
            _, pending = await asyncio.wait(pending, timeout=deadline_s)
        return pending

    async def close(self) -> None:
        client, self._redis = self._redis, None
        if client is not None:
            await client.aclose()
        pool, self._pool = self._pool, None
        if pool is not None:
            await close_pool(pool)
