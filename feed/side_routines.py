"""The feed's two routines beside the data path: lifecycle events into ``dhan:events`` and the latest merged
quote of every instrument into hash ``last:quote``. Both are off the hot path (a buffer and a snapshot, never
a write per event) and owned by :class:`feed.service.FeedService`, which spawns :meth:`FeedEvents.run` and
:func:`last_quote_routine`."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from feed.normalise import Normaliser
from shared.bus import hash_mapping
from shared.events import instrument_key
from shared.keys import Keys

__all__ = ["EVENTS_MAXLEN", "FeedEvents", "last_quote_routine"]

EVENTS_MAXLEN = 100_000
FLUSH_EVERY_S = 0.5


class FeedEvents:
    """Connects, disconnects with Dhan's reason, universe changes: buffered, sent every half second by
    :meth:`run`, kept for the next try while Redis is down."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self.redis: aioredis.Redis | None = None
        self._events: list[dict[str, Any]] = []

    def append(self, event: dict[str, Any]) -> None:
        self._events.append(event)

    async def run(self, stopping: asyncio.Event) -> None:
        """Flushes until ``stopping``, then once more and returns (not cancelled at stop: a cancel mid-write
        could send twice)."""
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), FLUSH_EVERY_S)
            await self.flush()

    async def flush(self) -> None:
        if not self._events or self.redis is None:
            return
        events, self._events = self._events, []
        try:
            pipe = self.redis.pipeline(transaction=False)
            for e in events:
                pipe.xadd(self.keys.events, {"d": orjson.dumps(e)}, maxlen=EVENTS_MAXLEN, approximate=True)
            await pipe.execute()
        except (RedisError, OSError):
            self._events[:0] = events  # keep them for the next try
        except BaseException:
            self._events[:0] = events  # cancelled mid-write at stop: the last flush sends them
            raise


async def last_quote_routine(
    client: aioredis.Redis, keys: Keys, normaliser: Normaliser, stopping: asyncio.Event
) -> None:
    """Once a second, the latest merged quote of every instrument into hash ``last:quote`` (late joiners:
    greeks seeding, quote boards, the Control Center); only the instruments that changed since."""
    sent_ts: dict[tuple[int, int], float] = {}
    while not stopping.is_set():
        try:
            await asyncio.wait_for(stopping.wait(), 1.0)
            return
        except TimeoutError:
            pass
        mapping: dict[str, bytes] = {}
        for key in list(normaliser.first_seen):
            state = normaliser.quote_state(*key)
            if state is None or state.get("recv_ts") is None or sent_ts.get(key) == state["recv_ts"]:
                continue
            sent_ts[key] = state["recv_ts"]
            mapping[instrument_key(state["seg"], state["sid"])] = orjson.dumps(state)
        if not mapping:
            continue
        try:
            await client.hset(keys.last_quote, mapping=hash_mapping(mapping))
        except (RedisError, OSError):
            sent_ts.clear()  # resend everything next time
