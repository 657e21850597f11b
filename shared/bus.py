"""Redis connections: one place that connects, checks, and turns failure into a one-line error."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, RedisError

from shared.errors import RedisUnavailable
from shared.settings import Settings

__all__ = ["connect_redis", "redis_down_message"]


def redis_down_message(settings: Settings, cause: BaseException | str) -> str:
    return (
        f"Redis at {settings.redis_url_masked} is not reachable ({str(cause).splitlines()[0][:120]}); "
        "start it (redis-server --daemonize yes --port 6379) or set DHAN_REDIS_URL"
    )


async def connect_redis(settings: Settings, *, check: bool = True, decode: bool = False) -> aioredis.Redis:
    """A client for ``DHAN_REDIS_URL``; with ``check`` it PINGs once and raises :class:`RedisUnavailable`."""
    client: aioredis.Redis = aioredis.Redis.from_url(
        settings.redis_url.get_secret_value(),
        decode_responses=decode,
        socket_connect_timeout=3,
        health_check_interval=30,
    )
    if check:
        try:
            await client.ping()
        except AuthenticationError:
            await client.aclose()
            raise RedisUnavailable(
                f"Redis at {settings.redis_url_masked} refused our credentials; check DHAN_REDIS_URL"
            ) from None
        except (RedisError, OSError) as exc:
            await client.aclose()
            raise RedisUnavailable(redis_down_message(settings, exc)) from None
    return client
