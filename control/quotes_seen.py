"""Last quote time per instrument (Qt-free), from the live ``<prefix>quotes`` channel.

The feed publishes each batch of quote events as one JSON array on the channel named like the stream. The
watcher keeps ``instrument key -> our receive time`` (plus the last price and the feed's ``recv_ts`` for
display), so a contract gone quiet while its peers tick shows up. Used by the monitor's "instrument silent"
rule and the Control Center's Instruments tab. It starts from the feed's last-quote hash when there is one,
so instruments already quiet before the watcher started are seen too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared.bus import follow_channel
from shared.events import instrument_key
from shared.keys import Keys
from shared.logs import get_logger

__all__ = ["QuoteSeen", "QuoteWatcher"]


@dataclass(slots=True)
class QuoteSeen:
    at: float            # our clock when the quote arrived here
    ltp: float | None
    recv_ts: float | None  # the feed's receive time of the quote


class QuoteWatcher:
    """Subscribes to the quotes channel; ``seen`` maps ``"SEG:ID"`` to :class:`QuoteSeen`."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, *, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.keys = keys
        self.clock = clock
        self.seen: dict[str, QuoteSeen] = {}
        self.messages = 0
        self.bad_messages = 0
        self.subscribed = asyncio.Event()
        self.drops = 0         # times Redis cut the subscription (a restart closes every connection)
        self.log = get_logger("quotes_seen")

    def last_seen(self) -> dict[str, float]:
        return {k: v.at for k, v in self.seen.items()}

    def ingest(self, data: bytes | str) -> int:
        """One channel message (a JSON array of quote events); returns how many quotes it held."""
        try:
            events = orjson.loads(data)
        except orjson.JSONDecodeError:
            self.bad_messages += 1
            return 0
        if isinstance(events, dict):
            events = [events]
        if not isinstance(events, list):
            self.bad_messages += 1
            return 0
        now = self.clock()
        n = 0
        for ev in events:
            if not isinstance(ev, dict) or "seg" not in ev or "sid" not in ev:
                continue
            ltp = ev.get("ltp")
            self.seen[instrument_key(ev["seg"], ev["sid"])] = QuoteSeen(
                now, float(ltp) if isinstance(ltp, (int, float)) else None, ev.get("recv_ts"))
            n += 1
        self.messages += 1
        return n

    async def seed(self) -> None:
        """Start from the feed's last-quote hash (a quote's own ``recv_ts`` is its time)."""
        try:
            raw = await self.redis.hgetall(self.keys.last_quote)
        except (RedisError, OSError):
            return
        for value in raw.values():
            try:
                ev = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue
            ts = ev.get("recv_ts") if isinstance(ev, dict) else None
            if isinstance(ts, (int, float)) and "seg" in ev and "sid" in ev:
                key = instrument_key(ev["seg"], ev["sid"])
                if key not in self.seen:
                    ltp = ev.get("ltp")
                    self.seen[key] = QuoteSeen(float(ts), ltp if isinstance(ltp, (int, float)) else None, ts)

    async def run(self, stopping: asyncio.Event) -> None:
        """Listen until ``stopping``; reconnects after a lost connection."""
        await self.seed()

        def subscribed(ok: bool) -> None:
            if ok:
                self.subscribed.set()
            else:
                self.drops += 1
                self.subscribed.clear()

        await follow_channel(self.redis, self.keys.quotes, stopping, self.ingest, log=self.log,
                             lost_event="quotes_channel_lost", on_subscribed=subscribed)
