"""Fixtures of the visualizer tests: a private database with the schema, and a Redis client on the prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from shared.settings import Settings


@pytest.fixture
async def viz_db(db_settings: Settings) -> AsyncIterator[tuple[Settings, aioredis.Redis]]:
    """``(settings, redis)``: the schema created in a private database; the prefix's keys deleted after."""
    from shared.db import init_schema

    await init_schema(db_settings)
    client: aioredis.Redis = aioredis.Redis.from_url(db_settings.redis_url.get_secret_value())
    yield db_settings, client
    keys: list[Any] = [k async for k in client.scan_iter(match=f"{db_settings.key_prefix}*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()
