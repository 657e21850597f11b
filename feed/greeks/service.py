"""GreeksService: option quotes -> implied volatility and greeks -> ``dhan:greeks``. Composition only.

Reads ``Keys.quotes`` in consumer group ``greeks`` (consumer = the instance name, stable across restarts so
its own unacknowledged entries are read again first), applies each batch to a :class:`ChainState` (pure, see
:mod:`feed.greeks.chain` for the pricing rules), then writes the greeks events with one pipelined round trip
(``XADD MAXLEN ~`` per event + one ``PUBLISH`` of the JSON array on the channel of the same name) and only
after that succeeds ``XACK``s the batch.

Where a new group starts: at ``$``. Greeks are latest state; replaying the capped quotes stream (up to two
million entries) from ``0`` would spend minutes publishing stale values. Instead, after creating the group
the service seeds its state from the feed's last-quote hash (``Keys.last_quote``): future prices always, and,
for a fresh group, one greeks event per option found there, so readers get a whole chain at once. Anything
quoted after the group was created is in the stream and is read in order. An existing group resumes where it
left off (its backlog is read in batches and coalesced per option).

The universe (``Keys.universe``, written by the feed) is reloaded every ``universe_refresh_s`` and at once
when a quote of an instrument it does not hold arrives (once per such instrument and universe version).
Until it exists the service waits without reading, so quotes stay in the stream.
An entry no quote can be made of (not JSON, over ``writer_entry_max_bytes``, a field of the wrong type or range:
:func:`~feed.greeks.chain.quote_problem`) goes to the dead-letter stream with its reason before its ack
(``dead_letters`` in the heartbeat).
Finite mode (``drain``): stop once a read finds nothing new.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import orjson
from redis.exceptions import RedisError, ResponseError

from feed.greeks.chain import BatchResult, ChainState, InstrumentBook, quote_problem
from shared.backoff import backoff_s
from shared.deadletter import dead_letter_fields
from shared.events import EVENT_FIELD, Event
from shared.keys import Keys
from shared.service import Service
from shared.settings import Settings

__all__ = ["GreeksService"]

Entry = tuple[bytes, dict[bytes, bytes] | None]
UNKNOWN_CHECKED_MAX = 50_000  # unknown instruments remembered per universe version (any stream entry adds one)


class GreeksService(Service):
    name = "greeks"

    def __init__(
        self,
        settings: Settings,
        *,
        duration_s: float | None = None,
        instance: str | None = None,
        drain: bool = False,
        price_source: str = "mid",
        batch_max: int = 1000,
        block_ms: int = 200,
        universe_refresh_s: float = 5.0,
        claim_idle_ms: int = 30_000,
        group_start: str = "$",
    ) -> None:
        super().__init__(settings, duration_s=duration_s, instance=instance)
        self.drain = drain
        self.batch_max = batch_max
        self.block_ms = block_ms
        self.universe_refresh_s = universe_refresh_s
        self.claim_idle_ms = claim_idle_ms
        self.group = Keys.GREEKS_GROUP
        self.consumer = self.instance
        self.group_start = group_start
        self.chain = ChainState(InstrumentBook(), settings.greeks.risk_free_rate, price_source=price_source)
        self.fresh_group = False
        self._universe_raw: dict[bytes, bytes] | None = None
        self._universe_loaded_at = 0.0
        self._unknown_checked: set[str] = set()  # unknown instruments already looked up in this universe
        self._claim_at = 0.0
        # counters (totals) and the snapshot the heartbeat rates are computed from
        self.quotes = 0
        self.greeks = 0
        self.unsolved = 0
        self.no_underlying = 0
        self.no_price = 0
        self.unknown = 0
        self.coalesced = 0
        self.bad_entries = 0
        self.batches = 0
        self.redis_errors = 0
        self._failures = 0  # consecutive failed reads/publishes (0: healthy)
        self.seeded = 0
        self.covered: set[str] = set()  # options with at least one greeks event published
        self.lag_ms = 0
        self.group_lag: int | None = None
        self._rate_at = time.monotonic()
        self._rate_base = (0, 0)

    # --- lifecycle ---
    async def _ensure_group(self) -> None:
        assert self.redis is not None
        try:
            await self.redis.xgroup_create(self.keys.quotes, self.group, id=self.group_start, mkstream=True)
            self.fresh_group = True
            self.log.info("group_created", stream=self.keys.quotes, group=self.group, start=self.group_start)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self) -> None:
        if not await self._wait_for_universe():
            return
        # The group is created only now, right before seeding, so the seed (newest state) and the first
        # stream entry the group delivers meet without a stale backlog in between.
        await self._ensure_group()
        await self._seed_from_last_quotes()
        self.spawn(self._universe_routine(), "universe")
        await self._consume()

    # --- universe ---
    async def _load_universe(self) -> bool:
        """Reload the universe hash; ``True`` if it is present. Rebuilds the book only when it changed."""
        assert self.redis is not None
        raw: Any = await self.redis.hgetall(self.keys.universe)
        self._universe_loaded_at = time.monotonic()
        if raw == self._universe_raw:
            return bool(raw)
        self._universe_raw = raw
        self._unknown_checked.clear()
        book = InstrumentBook.from_hash(raw)
        self.chain.book = book
        # what is kept per instrument follows the universe (re-centring and expiries replace it every day)
        self.covered = {k for k in self.covered if k in book.by_key}
        self.chain.future_price = {k: v for k, v in self.chain.future_price.items() if k in book.by_key}
        if raw:
            self.log.info("universe_loaded", instruments=len(book), options=book.options,
                          futures=sum(len(v) for v in book.futures.values()), rejected=book.rejected)
        return bool(raw)

    async def _wait_for_universe(self) -> bool:
        warned = False
        self.step = "waiting for the universe"
        while not self.stopping.is_set():
            try:
                if await self._load_universe():
                    if warned:
                        self.log.info("universe_present")
                    self.step = ""
                    return True
                if not warned:
                    self.log.warning("universe_missing", key=self.keys.universe,
                                     detail="waiting for the feed to write it; quotes stay in the stream")
                    warned = True
            except (RedisError, OSError) as exc:
                self.log.warning("universe_read_failed", error=str(exc))
            await self._pause(min(self.universe_refresh_s, 1.0))
        return False

    async def _universe_routine(self) -> None:
        """Periodic universe reload and group statistics (its lag feeds the heartbeat)."""
        assert self.redis is not None
        while not self.stopping.is_set():
            await self._pause(min(1.0, self.universe_refresh_s))
            try:
                if time.monotonic() - self._universe_loaded_at >= self.universe_refresh_s:
                    await self._load_universe()
                for g in await self.redis.xinfo_groups(self.keys.quotes):
                    name = g.get("name")
                    if name in (self.group, self.group.encode()):
                        lag = g.get("lag")
                        self.group_lag = int(lag) if lag is not None else None
            except (RedisError, OSError) as exc:
                self.log.debug("universe_refresh_failed", error=str(exc))

    async def _seed_from_last_quotes(self) -> None:
        assert self.redis is not None
        try:
            raw = await self.redis.hgetall(self.keys.last_quote)
        except (RedisError, OSError) as exc:
            self.log.warning("seed_failed", error=str(exc))
            return
        quotes = []
        for v in raw.values():
            try:
                q = orjson.loads(v)
            except orjson.JSONDecodeError:
                continue
            if isinstance(q, dict) and quote_problem(q) is None:  # (a bad one stays the feed's business)
                quotes.append(q)
        # Futures first, so every option finds its F; then options by time.
        book = self.chain.book
        quotes.sort(key=lambda q: (not _is_future(book, q), _exchange_ts(q)))
        res = self.chain.process(quotes, now_utc=time.time())
        if self.fresh_group and res.events:
            await self._publish(res.events)
            self.seeded = len(res.events)
            self.greeks += len(res.events)
            self.unsolved += res.unsolved
        self.log.info("seeded", quotes=len(quotes), futures=res.futures, greeks=self.seeded,
                      fresh_group=self.fresh_group)

    # --- main loop ---
    async def _consume(self) -> None:
        assert self.redis is not None
        read_pending = True  # own unacknowledged entries first (after a restart or an error)
        failures = 0
        self._failures = 0
        while not self.stopping.is_set():
            try:
                if read_pending:
                    entries = await self._read("0", block_ms=None)
                    if not entries:
                        read_pending = False
                        continue
                else:
                    entries = await self._claim_idle() or await self._read(">", block_ms=self.block_ms)
                if failures:
                    self.log.info("redis_recovered", after_failures=failures)
                    failures = self._failures = 0
                if not entries:
                    self.lag_ms = 0
                    if self.drain:
                        self.stop("drained")
                    continue
                await self._handle(entries)
            except (RedisError, OSError) as exc:
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                    self.log.warning("group_missing", detail="stream or group was deleted; recreating it")
                    with contextlib.suppress(RedisError, OSError):
                        await self._ensure_group()
                    await self._pause(0.1)
                    continue
                # Anything else (connection lost, a key of the wrong type...): nothing was acknowledged, so
                # back off and read our pending entries again.
                failures += 1
                self._failures = failures
                self.redis_errors += 1
                delay = backoff_s(failures, base_s=0.2, cap_s=5.0)
                self.log.warning("redis_failed", error=str(exc), attempt=failures, retry_in_s=round(delay, 2))
                read_pending = True
                await self._pause(delay)

    async def _read(self, start: str, *, block_ms: int | None) -> list[Entry]:
        assert self.redis is not None
        reply: Any = await self.redis.xreadgroup(self.group, self.consumer, {self.keys.quotes: start},
                                            count=self.batch_max, block=block_ms)
        # [[stream, [(id, {field: value}), ...]]]; a trimmed pending entry comes back as (id, {}).
        return [(eid, fields) for _, entries in (reply or []) for eid, fields in entries]

    async def _claim_idle(self) -> list[Entry]:
        """Entries another (dead) consumer of the group left unacknowledged for ``claim_idle_ms``."""
        assert self.redis is not None
        now = time.monotonic()
        if now < self._claim_at:
            return []
        self._claim_at = now + max(1.0, self.claim_idle_ms / 3000.0)
        reply: Any = await self.redis.xautoclaim(self.keys.quotes, self.group, self.consumer,
                                            min_idle_time=self.claim_idle_ms, count=self.batch_max)
        claimed = reply[1] if reply and len(reply) > 1 else []
        if claimed:
            self.log.info("claimed_idle_entries", count=len(claimed))
        return list(claimed)

    async def _handle(self, entries: list[Entry]) -> None:
        quotes: list[Event] = []
        ids: list[bytes] = []
        bad: list[tuple[bytes, bytes | None, str]] = []
        for eid, fields in entries:
            ids.append(eid)
            if not fields:
                continue  # a pending entry already trimmed from the stream: nothing to compute, just ack
            blob = fields.get(EVENT_FIELD)
            q, reason = self._decode(blob)
            if reason is not None:
                bad.append((eid, blob, reason))
            else:
                quotes.append(q)
        if quotes and self.chain.unknown_keys(quotes) - self._unknown_checked:
            # A quote of an instrument the universe did not have when last read: the feed may have just
            # re-centred. Reload once per such instrument (per universe version), not once per quote.
            await self._load_universe()
            if len(self._unknown_checked) >= UNKNOWN_CHECKED_MAX:
                self._unknown_checked.clear()
            self._unknown_checked |= self.chain.unknown_keys(quotes)
        res = self.chain.process(quotes, now_utc=time.time())
        if res.events:
            await self._publish(res.events)
        if bad:
            await self._dead_letter(bad)
        assert self.redis is not None
        await self.redis.xack(self.keys.quotes, self.group, *ids)
        self._count(res, len(quotes))
        last_ms = int(ids[-1].split(b"-", 1)[0])
        self.lag_ms = max(0, int(time.time() * 1000) - last_ms)

    def _decode(self, blob: bytes | None) -> tuple[Event, str | None]:
        """The quote of an entry's payload, or why it cannot be used (one line)."""
        if blob is None:
            return {}, "entry has no 'd' field"
        if len(blob) > self.settings.writer.entry_max_bytes:
            return {}, f"entry of {len(blob):,} bytes is over the {self.settings.writer.entry_max_bytes:,}-byte cap"
        try:
            q = orjson.loads(blob)
        except orjson.JSONDecodeError as exc:
            return {}, f"JSONDecodeError: {exc}"[:300]
        if not isinstance(q, dict):
            return {}, "event is not an object"
        problem = quote_problem(q)
        return q, None if problem is None else f"ValueError: {problem}"

    async def _dead_letter(self, bad: list[tuple[bytes, bytes | None, str]]) -> None:
        """Entries no quote can be made of: to the dead-letter stream with the reason, before their ack."""
        assert self.redis is not None
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        for eid, blob, reason in bad:
            fields = dead_letter_fields(
                stream=self.keys.quotes, entry_id=eid.decode(), reason=reason, consumer=self.consumer,
                group=self.group, payload=blob, payload_max=self.settings.writer.entry_max_bytes, now=now,
            )  # fmt: skip
            pipe.xadd(self.keys.deadletter, fields, maxlen=self.settings.writer.deadletter_maxlen, approximate=True)
        await pipe.execute()
        before, self.bad_entries = self.bad_entries, self.bad_entries + len(bad)
        if before == 0 or before // 1000 != self.bad_entries // 1000:  # the first, then one line per thousand
            self.log.warning("bad_quote_entry", id=bad[0][0].decode(), reason=bad[0][2], total=self.bad_entries)

    async def _publish(self, events: list[Event]) -> None:
        assert self.redis is not None
        stream = self.keys.greeks
        maxlen = self.settings.streams.maxlen_greeks
        blobs = [orjson.dumps(ev) for ev in events]
        pipe = self.redis.pipeline(transaction=False)
        for blob in blobs:
            pipe.xadd(stream, {EVENT_FIELD: blob}, maxlen=maxlen, approximate=True)
        pipe.publish(stream, b"[" + b",".join(blobs) + b"]")
        await pipe.execute()
        self.covered.update([f"{ev['seg']}:{ev['sid']}" for ev in events])

    def _count(self, res: BatchResult, quotes: int) -> None:
        self.batches += 1
        self.quotes += quotes
        self.greeks += len(res.events)
        self.unsolved += res.unsolved
        self.no_underlying += res.no_underlying
        self.no_price += res.no_price
        self.unknown += res.unknown
        self.coalesced += res.coalesced

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    # --- heartbeat ---
    def health_problem(self) -> str | None:
        if self.step:
            return self.step  # e.g. still waiting for the feed's universe: nothing is being computed
        if self._failures:
            return f"Redis failing ({self._failures} attempts in a row)"
        return None

    def metrics(self) -> dict[str, Any]:
        now = time.monotonic()
        dt = max(now - self._rate_at, 1e-6)
        q0, g0 = self._rate_base
        quotes_per_s = (self.quotes - q0) / dt
        greeks_per_s = (self.greeks - g0) / dt
        self._rate_at, self._rate_base = now, (self.quotes, self.greeks)
        return {
            "quotes_per_s": round(quotes_per_s, 1),
            "greeks_per_s": round(greeks_per_s, 1),
            "quotes": self.quotes,
            "greeks": self.greeks,
            "unsolved": self.unsolved,
            "no_underlying": self.no_underlying,
            "no_price": self.no_price,
            "unknown": self.unknown,
            "coalesced": self.coalesced,
            "bad_entries": self.bad_entries,  # dead-lettered (not JSON, over the size cap, a bad value)
            "dead_letters": self.bad_entries,
            "redis_errors": self.redis_errors,
            "seeded": self.seeded,
            "lag_ms": self.lag_ms,
            "group_lag": self.group_lag,
            "instruments": len(self.chain.book),
            "options": self.chain.book.options,
            "options_covered": len(self.covered),
        }


def _is_future(book: InstrumentBook, q: Event) -> bool:
    inst = book.by_key.get(f"{q.get('seg')}:{q.get('sid')}")
    return inst is not None and inst.is_future


def _exchange_ts(q: Event) -> int:
    """A sort key from a quote's exchange time; 0 when it is missing or not an integer (a corrupt entry)."""
    ts = q.get("exchange_ts")
    return ts if type(ts) is int else 0
