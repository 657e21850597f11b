"""Redis reads of the visualizers: the universe, ranges of a stream, and following streams live.

Entries are ``(entry id, payload)`` where the payload is the ``d`` field (one orjson event, see
``shared.events``). Following uses ``XREAD BLOCK`` from the last id seen, so a window that resumes after a
reconnect continues exactly where it stopped. A reader may pre-filter payloads on bytes with
:func:`sid_needle` before decoding (orjson writes compact JSON, so ``"sid":<id>`` appears verbatim).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import redis.asyncio as aioredis

from shared.events import EVENT_FIELD
from shared.keys import Keys
from viz.data.catalog import Instrument, parse_universe

__all__ = [
    "StreamEntry",
    "follow_streams",
    "last_entry_id",
    "read_range",
    "read_tail",
    "read_universe",
    "sid_needle",
]

StreamEntry = tuple[bytes, bytes | None]
RANGE_CHUNK = 5_000
FOLLOW_COUNT = 5_000
FOLLOW_BLOCK_MS = 1_000


def sid_needle(sid: int) -> bytes:
    return b'"sid":%d' % sid


def _entries(raw: list[Any]) -> list[StreamEntry]:
    return [(eid, fields.get(EVENT_FIELD) if fields else None) for eid, fields in raw]


async def read_universe(redis: aioredis.Redis, keys: Keys) -> dict[str, Instrument]:
    return parse_universe(await redis.hgetall(keys.universe))


async def last_entry_id(redis: aioredis.Redis, stream: str) -> bytes:
    """Id of the newest entry (``0-0`` for an empty or missing stream)."""
    raw: Any = await redis.xrevrange(stream, "+", "-", count=1)
    return bytes(raw[0][0]) if raw else b"0-0"


async def read_range(
    redis: aioredis.Redis, stream: str, start: bytes | str, *, inclusive: bool = True, chunk: int = RANGE_CHUNK
) -> AsyncIterator[list[StreamEntry]]:
    """Entries from ``start`` (inclusive or not) to the end of the stream, in chunks (XRANGE)."""
    lo = start.decode() if isinstance(start, bytes) else start
    if not inclusive:
        lo = "(" + lo
    while True:
        raw: Any = await redis.xrange(stream, lo, "+", count=chunk)
        if not raw:
            return
        yield _entries(raw)
        if len(raw) < chunk:
            return
        lo = "(" + raw[-1][0].decode()
        await asyncio.sleep(0)


async def read_tail(redis: aioredis.Redis, stream: str, count: int) -> list[StreamEntry]:
    """The newest ``count`` entries, oldest first (seeding latest-state views when no writer ran)."""
    raw: Any = await redis.xrevrange(stream, "+", "-", count=count)
    raw.reverse()
    return _entries(raw)


async def follow_streams(
    redis: aioredis.Redis, positions: Mapping[str, bytes], *, block_ms: int = FOLLOW_BLOCK_MS, count: int = FOLLOW_COUNT
) -> AsyncIterator[tuple[str, list[StreamEntry]]]:
    """``(stream, entries)`` after ``positions`` (exclusive ids), forever; each position advances as read."""
    last: dict[Any, Any] = {s: (p.decode() if isinstance(p, bytes) else p) for s, p in positions.items()}
    while True:
        reply: Any = await redis.xread(last, count=count, block=block_ms)
        if not reply:
            continue
        for name, raw in reply:
            if not raw:
                continue
            stream = name.decode() if isinstance(name, bytes) else name
            last[stream] = raw[-1][0].decode()
            yield stream, _entries(raw)
