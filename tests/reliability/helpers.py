"""Shared pieces of the reliability tests: a FeedService with the journal wired in (as the lead will wire it),
a running-service handle, and stream readers."""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis

from devkit.running import Running
from feed.instruments.parse import InstrumentInfo, fetch_scrip_master, parse_scrip_master
from feed.service import FeedService
from shared.keys import Keys
from shared.settings import Settings

__all__ = [
    "JournaledFeed", "Running", "delete_prefix", "execute", "sim_instruments", "stream_events", "stream_len",
    "without_recv_ts",
]

# FeedService appends every frame to the journal itself (feed/service.py); the name stays for the tests.
JournaledFeed = FeedService


async def sim_instruments(settings: Settings, *, options: bool = True) -> list[InstrumentInfo]:
    """The simulator's scrip master (it must be running), optionally without the option contracts."""
    text = await fetch_scrip_master(f"http://127.0.0.1:{settings.sim.port}/api-scrip-master.csv")
    return [i for i in parse_scrip_master(text) if options or i.option_type is None]


async def stream_events(client: aioredis.Redis, settings: Settings, kind: str) -> list[dict[str, Any]]:
    return [orjson.loads(f[b"d"]) for _, f in await client.xrange(Keys(settings.redis.key_prefix).stream(kind))]


async def stream_len(client: aioredis.Redis, settings: Settings, kind: str) -> int:
    return int(await client.xlen(Keys(settings.redis.key_prefix).stream(kind)))


def without_recv_ts(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k != "recv_ts"} for e in events]


async def delete_prefix(client: aioredis.Redis, settings: Settings) -> None:
    keys = [k async for k in client.scan_iter(match=f"{settings.redis.key_prefix}*", count=1000)]
    if keys:
        await client.delete(*keys)


async def execute(settings: Settings, sql: str, args: Any = None) -> int:
    """One statement, committed; returns the affected row count."""
    from shared.db import connect

    conn = await connect(settings)
    try:
        async with conn.cursor() as cur:
            n = await cur.execute(sql, args)
        await conn.commit()
        return int(n)
    finally:
        conn.close()
