"""Waiting that a stop cuts short, and Redis operations retried until they succeed or the writer stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from redis.exceptions import RedisError

from shared.backoff import backoff_s

__all__ = ["RedisRetry", "wait_or_stop"]

_P = ParamSpec("_P")
_T = TypeVar("_T")
TRIES_AT_STOP = 3  # once the writer stops, a Redis operation is given up after this many failures


async def wait_or_stop(stopping: asyncio.Event, delay_s: float) -> None:
    """Wait ``delay_s`` or until ``stopping`` is set, whichever first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), delay_s)


class RedisRetry:
    """Runs a Redis operation until it succeeds: acks, dead letters and alerts must not be dropped.

    Each failure is logged (``redis_op_failed``) and retried with backoff; once ``stopping`` is set, the
    operation is given up (``redis_gave_up_at_stop``, result None) after :data:`TRIES_AT_STOP` failures.
    """

    def __init__(self, stopping: asyncio.Event, log: Any) -> None:
        self._stopping = stopping
        self._log = log

    async def __call__(self, fn: Callable[_P, Awaitable[_T]], *args: _P.args, **kwargs: _P.kwargs) -> _T | None:
        attempt = 0
        while True:
            try:
                return await fn(*args, **kwargs)
            except (RedisError, OSError) as exc:
                attempt += 1
                op = getattr(fn, "__name__", "op")
                if self._stopping.is_set() and attempt > TRIES_AT_STOP:
                    self._log.warning("redis_gave_up_at_stop", op=op, error=str(exc))
                    return None
                delay = backoff_s(attempt, base_s=0.2, cap_s=5.0)
                self._log.warning("redis_op_failed", op=op, error=str(exc), attempt=attempt, delay_s=round(delay, 2))
                await asyncio.sleep(delay)  # not cut short by a stop: the operation is still owed
