"""One ``dhan up`` per key prefix: a Redis lock with a TTL, refreshed while the stack runs.

The lock is the string ``<prefix>up:lock`` holding ``{pid, host, started_at}`` of its holder, set with NX and
a TTL of :data:`LOCK_TTL_S`, refreshed every third of it. A second ``dhan up`` on the prefix refuses to start
with one line naming the holder. A stale lock is taken over: expired (its holder stopped refreshing), or held
by a process of this host that no longer exists (a ``dhan up`` that was SIGKILLed). A holder that finds the
lock taken by another (it was suspended past the TTL) has lost it and stops its stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared.errors import DhanError
from shared.keys import Keys
from shared.logs import get_logger

__all__ = ["LOCK_TTL_S", "StackAlreadyRunning", "StackLock"]

LOCK_TTL_S = 15.0

# KEYS[1] lock; ARGV[1] our value, ARGV[2] ttl ms: 1 kept (or taken again after it vanished), 0 held by another
_REFRESH = """
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
"""
# KEYS[1] lock; ARGV[1] value expected there, ARGV[2] new value ('' deletes), ARGV[3] ttl ms
_SWAP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
"""


class StackAlreadyRunning(DhanError):
    """Another ``dhan up`` holds the prefix."""


def _alive_here(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _since(started_at: float, now: float) -> str:
    t, today = time.localtime(started_at), time.localtime(now)
    return time.strftime("%H:%M" if t[:3] == today[:3] else "%Y-%m-%d %H:%M", t)


class StackLock:
    def __init__(self, redis: aioredis.Redis, keys: Keys, *, ttl_s: float = LOCK_TTL_S,
                 clock: Callable[[], float] = time.time, host: str | None = None,
                 alive: Callable[[int], bool] = _alive_here) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_ms = int(ttl_s * 1000)
        self.clock = clock
        self.host = host or socket.gethostname()
        self.alive = alive
        self.value = orjson.dumps({"pid": os.getpid(), "host": self.host, "started_at": round(clock(), 3)})
        self.lost = ""              # why the lock was lost while running ("" while held)
        self.log = get_logger("up")

    def holder_text(self, holder: dict[str, Any]) -> str:
        """``pid 1234 on host x, since 10:02``."""
        started = holder.get("started_at")
        since = f", since {_since(float(started), self.clock())}" if isinstance(started, (int, float)) else ""
        return f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}{since}"

    def _stale(self, holder: dict[str, Any]) -> bool:
        pid = holder.get("pid")
        return holder.get("host") == self.host and isinstance(pid, int) and not self.alive(pid)

    async def acquire(self) -> None:
        """Take the lock; :class:`StackAlreadyRunning` naming the holder when another live one has it."""
        key = self.keys.up_lock
        for _ in range(5):
            if await self.redis.set(key, self.value, nx=True, px=self.ttl_ms):
                return
            raw = await self.redis.get(key)
            if raw is None:
                continue                                  # expired meanwhile
            try:
                holder = orjson.loads(raw)
            except orjson.JSONDecodeError:
                holder = {}
            if isinstance(holder, dict) and holder and not self._stale(holder):
                raise StackAlreadyRunning(
                    f"another dhan up is running on prefix {self.keys.prefix} ({self.holder_text(holder)}); "
                    "stop it or use another DHAN_KEY_PREFIX")
            if await self.redis.eval(_SWAP, 1, key, raw, self.value, self.ttl_ms):
                self.log.info("up_lock_taken_over", previous=raw.decode() if isinstance(raw, bytes) else str(raw))
                return
        raise StackAlreadyRunning(f"the lock {key} keeps changing hands; is another dhan up starting on "
                                  f"prefix {self.keys.prefix}?")

    async def refresh(self) -> bool:
        """Extend the TTL; False (and ``lost`` set) when another process holds the lock now."""
        if await self.redis.eval(_REFRESH, 1, self.keys.up_lock, self.value, self.ttl_ms):
            return True
        raw = await self.redis.get(self.keys.up_lock)
        try:
            holder = orjson.loads(raw) if raw is not None else {}
        except orjson.JSONDecodeError:
            holder = {}
        who = self.holder_text(holder) if isinstance(holder, dict) and holder else "an unreadable holder"
        self.lost = (f"another dhan up took prefix {self.keys.prefix} over ({who}) while this one did not "
                     f"refresh its lock for {self.ttl_ms / 1000:g}s; stopped")
        return False

    async def keep(self, stop: asyncio.Event) -> None:
        """Refresh until ``stop``; sets ``stop`` when the lock is lost. Redis errors are retried."""
        period_s = self.ttl_ms / 3000
        warned = False
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), period_s)
            if stop.is_set():
                return
            try:
                if not await self.refresh():
                    self.log.error("up_lock_lost", reason=self.lost)
                    stop.set()
                    return
                warned = False
            except (RedisError, OSError) as exc:
                if not warned:
                    self.log.warning("up_lock_refresh_failed", error=str(exc))
                    warned = True

    async def release(self) -> None:
        """Delete the lock when it is still ours."""
        with contextlib.suppress(RedisError, OSError):
            await self.redis.eval(_SWAP, 1, self.keys.up_lock, self.value, "", self.ttl_ms)
