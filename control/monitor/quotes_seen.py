"""Last quote time per instrument (Qt-free), from the live ``<prefix>quotes`` channel.

The feed publishes each batch of quote events as one JSON array on the channel named like the stream. The
watcher keeps ``instrument key -> our receive time`` (plus the last price and the feed's ``recv_ts`` for
display), so a contract gone quiet while its peers tick shows up. Used by the monitor's "instrument silent"
rule and the Control Center's Instruments tab. It starts from the feed's last-quote hash when there is one,
so instruments already quiet before the watcher started are seen too.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared.bus import follow_channel
from shared.events import instrument_key
from shared.keys import Keys
from shared.logs import get_logger

__all__ = ["MAX_INSTRUMENTS", "QuoteSeen", "QuoteWatcher"]

MAX_INSTRUMENTS = 100_000  # four feeds at Dhan's limit (5 connections x 5,000 instruments each)
_SEGMENT_RE = re.compile(r"[A-Z][A-Z0-9_]{0,15}")
_SID_MAX = 0xFFFFFFFF


@dataclass(slots=True)
class QuoteSeen:
    at: float            # our clock when the quote arrived here
    ltp: float | None
    recv_ts: float | None  # the feed's receive time of the quote


class QuoteWatcher:
    """Subscribes to the quotes channel; ``seen`` maps ``"SEG:ID"`` to :class:`QuoteSeen`.

    A quote is taken only with a segment and security id as the feed writes them, so a message cannot make
    keys of anything; ``seen`` holds at most ``max_instruments`` (the least recently quoted go first).
    """

    def __init__(self, redis: aioredis.Redis, keys: Keys, *, clock: Callable[[], float] = time.time,
                 max_instruments: int = MAX_INSTRUMENTS) -> None:
        self.redis = redis
        self.keys = keys
        self.clock = clock
        self.max_instruments = max_instruments
        self.seen: dict[str, QuoteSeen] = {}
        self.messages = 0
        self.bad_messages = 0
        self.bad_quotes = 0
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
            key = _key(ev)
            if key is None:
                self.bad_quotes += 1
                continue
            self._see(key, QuoteSeen(now, _number(ev.get("ltp")), _number(ev.get("recv_ts"))))
            n += 1
        self.messages += 1
        return n

    def _see(self, key: str, seen: QuoteSeen) -> None:
        if key not in self.seen and len(self.seen) >= self.max_instruments:
            oldest = sorted(self.seen, key=lambda k: self.seen[k].at)[: max(1, self.max_instruments // 10)]
            for k in oldest:
                del self.seen[k]
        self.seen[key] = seen

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
            key = _key(ev)
            ts = _number(ev.get("recv_ts")) if key is not None else None
            if key is not None and ts is not None and key not in self.seen:
                self._see(key, QuoteSeen(ts, _number(ev.get("ltp")), ts))

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


def _key(ev: Any) -> str | None:
    """``SEG:ID`` of a quote event, or None when it has no segment and security id as the feed writes them."""
    if not isinstance(ev, dict):
        return None
    seg, sid = ev.get("seg"), ev.get("sid")
    if type(seg) is not str or not _SEGMENT_RE.fullmatch(seg) or type(sid) is not int or not 0 <= sid <= _SID_MAX:
        return None
    return instrument_key(seg, sid)


def _number(value: Any) -> float | None:
    return float(value) if type(value) in (int, float) and math.isfinite(value) else None
