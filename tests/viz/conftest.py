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
    client: aioredis.Redis = aioredis.Redis.from_url(db_settings.redis.url.get_secret_value())
    yield db_settings, client
    keys: list[Any] = [k async for k in client.scan_iter(match=f"{db_settings.redis.key_prefix}*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def qt_state(tmp_path: Any) -> Any:
    """The Qt application as ``viz.boot`` makes it, with QSettings kept in this test's directory."""
    from PyQt6.QtCore import QSettings

    from viz.boot import make_app

    app = make_app()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    yield app


@pytest.fixture
def sync_db(db_settings: Settings) -> Any:
    """Private database with the schema (for the sync Qt tests); the prefix's Redis keys deleted after."""
    import asyncio

    import redis as sync_redis

    from shared.db import init_schema

    asyncio.run(init_schema(db_settings))
    yield db_settings
    client = sync_redis.Redis.from_url(db_settings.redis.url.get_secret_value())
    keys = list(client.scan_iter(match=f"{db_settings.redis.key_prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
