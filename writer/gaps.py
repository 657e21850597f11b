"""Gap ledger, writing side: the feed's lifecycle events -> intervals in ``dhan_gaps`` (schema 002).

The feed writes lifecycle events to the Redis stream ``Keys.events`` (feed/connection.py, feed/service.py).
:class:`GapRecorder` reads them in its own consumer group (``gaps``) and stores what each one means
(writer/gap_rows.py); the charts and the Control Center read the rows back through shared/gaps.py.

An entry is acknowledged only after its commit. A Redis or MySQL failure (a server gone, a statement failing
for the database's reasons) is retried with backoff, the entries kept pending. An entry it cannot use (not
JSON, a value dhan_gaps cannot hold: writer/gap_values.py, a row MySQL refuses, each in a savepoint of its
own) goes to the dead-letter stream with its reason and is counted, never retried. Any other exception is a
bug of ours: it ends the recorder, whose owner (the writer's task ``gaps``) then fails its service loudly.

A feed killed without a ``disconnected`` event (SIGKILL, crash) is seen at its next ``connected``: the
connection's previous lifecycle event was ``connected`` too, so a ``disconnect`` gap is stored from the last
entry the feed published (quotes/ticks/depth stream ids are Redis milliseconds) to the new connection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, cast

import aiomysql
import orjson
import pymysql
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from shared.backoff import backoff_s
from shared.bus import connect_redis
from shared.db import ROW_ERROR_CODES, close_pool, create_pool
from shared.deadletter import dead_letter_fields
from shared.errors import MySQLUnavailable, SchemaMismatch
from shared.keys import Keys
from shared.logs import clip, get_logger
from shared.settings import Settings
from writer.gap_rows import CLOSE_UNIVERSE_OUT, CLOSED_AT, Statement, crash_gap, rows_for_event, universe_in_marker
from writer.gap_values import EVENT_MAX_BYTES, conn_number, timestamp
from writer.retry import wait_or_stop

__all__ = ["GAPS_GROUP", "GapRecorder", "apply_event", "run_gap_recorder"]

GAPS_GROUP = "gaps"
READ_COUNT = 200
BLOCK_MS = 1000
LOOKBACK_EVENTS = 500  # events searched back for a connection's previous lifecycle event
# What a server can do to us; OSError includes refused connections and timeouts. Nothing else is retried.
_RETRIED = (RedisError, pymysql.err.MySQLError, OSError)

_Raw = tuple[bytes, dict[bytes, bytes]]  # one stream entry: id, fields
_Failed = tuple[bytes, bytes | None, str]  # entry id, payload, why it cannot be used


def _entries(reply: Any) -> list[_Raw]:
    """XREADGROUP reply of one stream, RESP2 (list of pairs) or RESP3 (dict)."""
    if not reply:
        return []
    value = next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]
    if value and isinstance(value[0], list):  # RESP3 wraps the entries once more
        value = value[0]
    out: list[_Raw] = []
    for eid, fields in value or ():
        if not isinstance(fields, dict):  # raw reply: flat [field, value, ...]
            fields = dict(zip(fields[::2], fields[1::2], strict=False))
        out.append((eid, fields))
    return out


def _event_of(raw: bytes | None) -> dict[str, Any]:
    """The event an entry carries; ``ValueError`` (``orjson.JSONDecodeError`` is one) when it has none."""
    if raw is None:
        raise ValueError("entry has no 'd' field")
    if len(raw) > EVENT_MAX_BYTES:
        raise ValueError(f"entry of {len(raw):,} bytes is over the {EVENT_MAX_BYTES:,}-byte cap")
    event = orjson.loads(raw)
    if not isinstance(event, dict):
        raise ValueError("event is not an object")
    return event


def _lifecycle_of(fields: dict[bytes, bytes], conn: int) -> object:
    """The ``type`` of a stored event of connection ``conn``; None for another's or a bad one (it says
    nothing of this connection)."""
    try:
        event = orjson.loads(fields.get(b"d", b"{}"))
        if not isinstance(event, dict) or conn_number(event) != conn:
            return None
    except ValueError:  # orjson.JSONDecodeError is one
        return None
    return event.get("type")


def _ms(entry_id: bytes) -> int:
    return int(entry_id.split(b"-")[0])


async def apply_event(cur: aiomysql.Cursor, entry_id: str, event: dict[str, Any]) -> int:
    """Run one event's statements on ``cur`` (no commit); returns rows changed."""
    return await _execute(cur, entry_id, event, rows_for_event(entry_id, event))


async def _execute(cur: aiomysql.Cursor, entry_id: str, event: dict[str, Any], statements: list[Statement]) -> int:
    changed = 0
    for sql, args in statements:
        n = await cur.execute(sql, args)
        if sql is CLOSE_UNIVERSE_OUT:
            ts, seg, sid, _ = args
            # closed by this event (now, or on an earlier delivery of it): no marker
            await cur.execute(CLOSED_AT, (seg, sid, ts))
            if not await cur.fetchone():
                n = await cur.execute(*universe_in_marker(entry_id, event, seg, sid, ts))
        changed += int(n or 0)
    return changed


class GapRecorder:
    """Consumer of group ``gaps`` on the events stream; see the module docstring. ``run`` until stopped."""

    def __init__(
        self, client: aioredis.Redis, pool: aiomysql.Pool, keys: Keys, consumer: str, *,
        deadletter_maxlen: int = 100_000, payload_max: int = 65_536,
    ) -> None:  # fmt: skip
        self.client = client
        self.pool = pool
        self.keys = keys
        self.consumer = consumer
        self.deadletter_maxlen = deadletter_maxlen
        self.payload_max = payload_max
        self.log = get_logger("gaps")
        self.events_seen = 0
        self.rows_changed = 0
        self.failures = 0
        self.dead_letters = 0

    async def ensure_group(self) -> None:
        try:
            await self.client.xgroup_create(self.keys.events, GAPS_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self, stopping: asyncio.Event) -> None:
        """Until ``stopping``: own pending entries first (delivered before a crash or a failure), then new
        ones. A Redis or MySQL failure is retried with backoff, from the pending entries again."""
        attempt = 0
        pending_first = True
        while not stopping.is_set():
            try:
                pending_first = await self._step(pending_first)
                attempt = 0
            except _RETRIED as exc:
                attempt += 1
                pending_first = True
                self.failures += 1
                self.log.warning("gaps_retry", error=clip(exc) or type(exc).__name__, attempt=attempt)
                await wait_or_stop(stopping, backoff_s(attempt, base_s=0.2, cap_s=5.0))

    async def _step(self, pending_first: bool) -> bool:
        """One read and what it brought; returns whether own pending entries may remain."""
        await self.ensure_group()
        reply = await self.client.xreadgroup(
            GAPS_GROUP, self.consumer, {self.keys.events: "0" if pending_first else ">"}, count=READ_COUNT,
            block=None if pending_first else BLOCK_MS,
        )  # fmt: skip
        entries = _entries(reply)
        if entries:
            await self._apply(entries)
        return pending_first and bool(entries)

    async def _apply(self, entries: list[_Raw]) -> None:
        """One transaction for the entries, then dead letters and the acks in one MULTI."""
        failed = await self._commit(entries)
        now = time.time()
        pipe = self.client.pipeline(transaction=True)
        for eid, raw, reason in failed:
            letter = dead_letter_fields(
                stream=self.keys.events, entry_id=eid.decode(), reason=reason, consumer=self.consumer,
                group=GAPS_GROUP, payload=raw, payload_max=self.payload_max, now=now,
            )  # fmt: skip
            pipe.xadd(self.keys.deadletter, letter, maxlen=self.deadletter_maxlen, approximate=True)
        pipe.xack(self.keys.events, GAPS_GROUP, *[eid for eid, _ in entries])
        await pipe.execute()
        self.events_seen += len(entries)
        self.dead_letters += len(failed)
        for eid, _, reason in failed[:5]:
            self.log.warning("gaps_event_dead_lettered", entry=eid.decode(), reason=reason)

    async def _commit(self, entries: list[_Raw]) -> list[_Failed]:
        """Apply ``entries`` in one transaction; the ones that could not be used, with why."""
        async with self.pool.acquire() as conn:
            try:
                async with conn.cursor() as cur:
                    reasons = [await self._apply_one(cur, eid, fields.get(b"d")) for eid, fields in entries]
                await conn.commit()
            except BaseException:
                await conn.rollback()
                raise
        return [(eid, fields.get(b"d"), why) for (eid, fields), why in zip(entries, reasons, strict=True) if why]

    async def _apply_one(self, cur: aiomysql.Cursor, eid: bytes, raw: bytes | None) -> str | None:
        """Apply one entry's event in a savepoint of its own; the one-line reason when it cannot be used."""
        entry_id = eid.decode()
        try:
            event = _event_of(raw)
            statements = rows_for_event(entry_id, event)  # also checks every value
        except ValueError as exc:
            return clip(f"{type(exc).__name__}: {exc}", 300)
        if not statements:
            return None
        await cur.execute("SAVEPOINT gap_event")
        try:
            if event.get("type") == "connected":
                await self._crash_gap(cur, eid, event)
            self.rows_changed += await _execute(cur, entry_id, event, statements)
        except pymysql.err.MySQLError as exc:
            if not (exc.args and exc.args[0] in ROW_ERROR_CODES):
                raise  # the server's condition, not this event's: the batch is retried
            await cur.execute("ROLLBACK TO SAVEPOINT gap_event")
            return f"rejected by MySQL: {exc.args[0]} {clip(exc.args[-1])}"
        return None

    async def _crash_gap(self, cur: aiomysql.Cursor, eid: bytes, event: dict[str, Any]) -> None:
        """A ``connected`` whose connection's previous lifecycle event was also ``connected``: the feed ended
        without a ``disconnected`` (SIGKILL, crash). The gap runs from the last entry the feed published
        before this event (stream ids are Redis milliseconds) to this event."""
        conn_no = conn_number(event)
        previous = await self._previous_connected(eid, conn_no)
        if previous is not None:
            ts = timestamp(event)
            last_ms = await self._last_published_ms(previous, ts)
            await cur.execute(*crash_gap(eid.decode(), conn_no, last_ms / 1000.0, ts))

    async def _previous_connected(self, eid: bytes, conn_no: int) -> bytes | None:
        """The id of connection ``conn_no``'s lifecycle event before ``eid`` if it was a ``connected``."""
        reply = await self.client.xrevrange(self.keys.events, max=b"(" + eid, count=LOOKBACK_EVENTS)
        history = cast("list[_Raw]", reply)
        for pid, fields in history:
            kind = _lifecycle_of(fields, conn_no)
            if kind == "disconnected":
                return None
            if kind == "connected":
                return pid
        return None

    async def _last_published_ms(self, previous: bytes, ts: float) -> int:
        """Redis milliseconds of the feed's last quote, tick or depth entry from ``previous`` to ``ts``."""
        last_ms = _ms(previous)
        # bounded by this connection's own time: the new session may publish before its event is flushed
        bound = f"({int(ts * 1000)}-0"
        for kind in ("quotes", "ticks", "depth"):
            reply = await self.client.xrevrange(self.keys.stream(kind), max=bound, min=previous, count=1)
            got = cast("list[_Raw]", reply)
            if got:
                last_ms = max(last_ms, _ms(got[0][0]))
        return last_ms


async def run_gap_recorder(
    settings: Settings, keys: Keys, consumer: str, stopping: asyncio.Event, *,
    started: Callable[[GapRecorder], None] | None = None,
) -> None:  # fmt: skip
    """The writer's task ``gaps``: a Redis client and a one-connection pool of its own, a :class:`GapRecorder`
    until ``stopping`` (its own client: the writer sets raw reply callbacks on its). ``started`` receives the
    recorder (the writer reports its counters)."""
    pool = await _open_pool(settings, stopping)
    if pool is None:
        return
    client = None
    try:  # from here on the pool is closed whatever happens
        client = await connect_redis(settings, check=False)
        recorder = GapRecorder(client, pool, keys, consumer, deadletter_maxlen=settings.writer.deadletter_maxlen,
                               payload_max=settings.writer.entry_max_bytes)  # fmt: skip
        if started is not None:
            started(recorder)
        await recorder.run(stopping)
    finally:
        # The pool first: a connection still acquired (a cancellation caught the recorder between its MySQL and
        # Redis calls) is closed at once (close_pool), whatever the Redis client's close does.
        try:
            await close_pool(pool)
        finally:
            if client is not None:
                await client.aclose()


async def _open_pool(settings: Settings, stopping: asyncio.Event) -> aiomysql.Pool | None:
    """A one-connection pool, retried with backoff until it opens; None if ``stopping`` comes first."""
    log = get_logger("gaps")
    attempt = 0
    while not stopping.is_set():
        try:
            return await create_pool(settings, minsize=1, maxsize=1)
        except (MySQLUnavailable, SchemaMismatch, OSError) as exc:
            attempt += 1
            log.warning("gaps_pool_retry", error=clip(exc), attempt=attempt)
            await wait_or_stop(stopping, backoff_s(attempt, base_s=0.5, cap_s=10.0))
    return None
