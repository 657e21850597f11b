"""Fixtures of the reliability tests: simulator-backed settings with a private journal directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from shared.settings import Settings
from tests.conftest import make_settings

from .helpers import delete_prefix


def feed_settings(tmp_path: Path, **overrides: object) -> Settings:
    """A feed against a local simulator at a fresh port, journal in ``tmp_path``, quick reconnects."""
    base: dict[str, object] = {
        "sim_rate": 400.0, "nifty_strikes": 2, "banknifty_strikes": 1, "stall_timeout_s": 5.0,
        "reconnect_base_s": 0.05, "recentre_check_s": 0.1, "journal_dir": tmp_path / "journal-files",
        "journal_block_ms": 20,
    }
    base.update(overrides)
    s = make_settings(**base)
    return s.replaced(instruments_url=f"http://127.0.0.1:{s.sim.port}/api-scrip-master.csv")


@pytest.fixture
async def rclient() -> AsyncIterator[aioredis.Redis]:
    """A Redis client; settings appended to ``rclient.cleanup`` have their prefix removed afterwards."""
    client: aioredis.Redis = aioredis.Redis.from_url(make_settings().redis.url.get_secret_value())
    client.cleanup = []  # type: ignore[attr-defined]
    yield client
    for s in client.cleanup:  # type: ignore[attr-defined]
        await delete_prefix(client, s)
    await client.aclose()
