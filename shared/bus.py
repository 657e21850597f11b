"""Redis connections: one place that connects, checks, and turns failure into a one-line error."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, RedisError
from redis.typing import EncodableT, FieldT

from shared.errors import RedisUnavailable
from shared.settings import Settings

__all__ = ["connect_redis", "follow_channel", "hash_mapping", "redis_down_message"]


def hash_mapping(fields: Mapping[str, Any]) -> dict[FieldT, EncodableT]:
    """``fields`` as redis-py's ``hset(mapping=...)`` types it (its key type is invariant: a dict[str, ...] is
    refused by the type checker although it is what Redis gets)."""
    return dict(fields.items())


def redis_down_message(settings: Settings, cause: BaseException | str) -> str:
    return (
        f"Redis at {settings.redis.url_masked} is not reachable ({str(cause).splitlines()[0][:120]}); "
        "start it (redis-server --daemonize yes --port 6379) or set DHAN_REDIS_URL"
    )


async def connect_redis(settings: Settings, *, check: bool = True, decode: bool = False) -> aioredis.Redis:
    """A client for ``DHAN_REDIS_URL``; with ``check`` it PINGs once and raises :class:`RedisUnavailable`."""
    client: aioredis.Redis = aioredis.Redis.from_url(
        settings.redis.url.get_secret_value(),
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
                f"Redis at {settings.redis.url_masked} refused our credentials; check DHAN_REDIS_URL"
            ) from None
        except (RedisError, OSError) as exc:
            await client.aclose()
            raise RedisUnavailable(redis_down_message(settings, exc)) from None
    return client


async def follow_channel(
    client: aioredis.Redis, channel: str, stopping: asyncio.Event,
    on_message: Callable[[Any], Awaitable[None] | object], *, log: Any, lost_event: str = "channel_lost",
    on_subscribed: Callable[[bool], None] | None = None,
) -> None:
    """Deliver every message of ``channel`` to ``on_message`` until ``stopping``; resubscribe after a lost
    connection (logged as ``lost_event``, retried each second). ``on_subscribed(True/False)`` reports state."""
    while not stopping.is_set():
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(channel)
            if on_subscribed is not None:
                on_subscribed(True)
            while not stopping.is_set():
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                if msg is not None and msg.get("type") == "message":
                    result = on_message(msg["data"])
                    if inspect.isawaitable(result):
                        await result
        except (RedisError, OSError) as exc:
            if on_subscribed is not None:
                on_subscribed(False)
            log.warning(lost_event, channel=channel, error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), 1.0)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()
