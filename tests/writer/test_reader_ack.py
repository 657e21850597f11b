"""The writer's XACK: packed by hiredis and sent on a pooled connection, every reply read in step."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from shared.keys import Keys
from shared.settings import Settings
from writer.batch import Entry
from writer.reader import StreamReader

from .conftest import group_pending, quote, tick, xadd


async def _read_all(reader: StreamReader, expected: int) -> list[Entry]:
    entries = await reader.read(1000, None)
    assert len(entries) == expected
    return entries


async def test_ack_clears_the_pending_entries_of_every_stream(wsettings: Settings, wredis: aioredis.Redis) -> None:
    reader = StreamReader(wredis, Keys(wsettings.redis.key_prefix), "acker")
    await reader.ensure_groups()
    await xadd(wredis, wsettings, "ticks", [tick(1, v, qty=1) for v in range(1, 301)])
    await xadd(wredis, wsettings, "quotes", [quote(sid) for sid in range(1, 51)])
    entries = await _read_all(reader, 350)
    assert await group_pending(wredis, wsettings) == 350
    await reader.ack(entries[:100])  # entries, then (kind, id) pairs: the intake acks ids of trimmed entries
    assert await group_pending(wredis, wsettings) == 250
    await reader.ack([(e.kind, e.entry_id) for e in entries[100:]])
    assert await group_pending(wredis, wsettings) == 0
    await reader.ack([])  # nothing to send


async def test_an_error_reply_raises_once_every_reply_is_read(wsettings: Settings, wredis: aioredis.Redis) -> None:
    keys = Keys(wsettings.redis.key_prefix)
    reader = StreamReader(wredis, keys, "acker")
    await reader.ensure_groups()
    await xadd(wredis, wsettings, "quotes", [quote(1)])
    await xadd(wredis, wsettings, "ticks", [tick(1, v, qty=1) for v in range(1, 4)])
    entries = await _read_all(reader, 4)
    await wredis.delete(keys.quotes)
    await wredis.set(keys.quotes, "not a stream")  # the quotes XACK, sent first, gets WRONGTYPE
    client_id = await wredis.client_id()  # the pool's one connection
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await reader.ack(sorted(entries, key=lambda e: e.kind != "quotes"))
    tick_pending = await wredis.xpending(keys.ticks, Keys.WRITER_GROUP)
    assert tick_pending["pending"] == 0  # the ticks' XACK after the error was sent and answered
    # an error reply is an answer, not a broken connection: the same connection is used next (no reconnect
    # because a reply was left unread), and in step: the next command gets its own reply, not a stray XACK's
    assert await wredis.client_id() == client_id
    assert await wredis.get(keys.quotes) == b"not a stream"
