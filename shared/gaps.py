"""Gap ledger: feed outages, stalls and universe changes as intervals in ``dhan_gaps`` (schema 002).

The feed writes lifecycle events to the Redis stream ``Keys.events`` (feed/connection.py, feed/service.py).
:class:`GapRecorder` reads them in its own consumer group (``gaps``) and turns them into rows:

* ``disconnected`` (conn N, cause, reason) -> opens a feed-wide gap (segment and id NULL) of kind ``stall``
  when the cause was the silence watchdog, else ``disconnect``; ``reason`` holds cause and Dhan's code.
* ``connected`` (conn N) -> closes every open feed-wide gap of connection N at the event's time.
* ``universe_change`` -> each removed instrument opens a ``universe_out`` gap; each added one closes its
  open ``universe_out`` gap, or, when it had none (first entry), gets a zero-length ``universe_in`` marker.
* ``dropped`` (feed/publisher.py: memory cap reached while Redis and the spool both failed) -> one closed
  ``dropped`` gap per instrument over the receive times of its dropped events; ``reason`` says how many of
  each kind and why (schema 003). Its rows are keyed by the event's own ``id``, not the entry id, so the
  same event written twice (a flush retried after its write went through) is stored once.

Rows are keyed by the stream entry id (``gap_key``) and inserted with ``INSERT IGNORE``; closing is an
``UPDATE ... WHERE end_ts IS NULL``: an event delivered twice changes nothing. An entry is acknowledged only
after its commit. Redis or MySQL outages are retried with backoff; the recorder never stops its service. An
entry it cannot use (not JSON, a value dhan_gaps cannot hold: shared/gap_values.py, a row MySQL refuses, each
in a savepoint of its own) goes to the dead-letter stream with its reason and is counted, never retried.
:func:`gaps_between` (one instrument, feed-wide gaps included) is the query the charts call;
:func:`all_gaps_between` (every instrument and the feed, newest first) is the Control Center's Gaps tab's.

A feed killed without a ``disconnected`` event (SIGKILL, crash) is seen at its next ``connected``: the
connection's previous lifecycle event was ``connected`` too, so a ``disconnect`` gap is stored from the last
entry the feed published (quotes/ticks/depth stream ids are Redis milliseconds) to the new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiomysql
import orjson
import pymysql
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from shared.backoff import backoff_s
from shared.db import ROW_ERROR_CODES
from shared.deadletter import dead_letter_fields
from shared.events import show_value
from shared.gap_values import EVENT_MAX_BYTES, conn_number, count_of, instrument, instruments, text, timestamp
from shared.keys import Keys
from shared.logs import clip, get_logger
from shared.settings import Settings

__all__ = [
    "ALL_GAPS_LIMIT",
    "GAPS_GROUP",
    "Gap",
    "GapRecorder",
    "all_gaps_between",
    "gaps_between",
    "rows_for_event",
    "run_gap_recorder",
]

GAPS_GROUP = "gaps"
READ_COUNT = 200
BLOCK_MS = 1000
REASON_CHARS = 255
LOOKBACK_EVENTS = 500  # events searched back for a connection's previous lifecycle event

INSERT_GAP = (
    "INSERT IGNORE INTO dhan_gaps (gap_key, exchange_segment, security_id, conn, kind, start_ts, end_ts, reason) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
CLOSE_FEED_GAPS = (
    "UPDATE dhan_gaps SET end_ts = %s WHERE exchange_segment IS NULL AND conn = %s AND end_ts IS NULL "
    "AND start_ts <= %s"
)
CLOSE_UNIVERSE_OUT = (
    "UPDATE dhan_gaps SET end_ts = %s WHERE exchange_segment = %s AND security_id = %s "
    "AND kind = 'universe_out' AND end_ts IS NULL AND start_ts <= %s"
)
CLOSED_AT = (
    "SELECT 1 FROM dhan_gaps WHERE exchange_segment = %s AND security_id = %s AND kind = 'universe_out' "
    "AND end_ts = %s LIMIT 1"
)
CLOSE_UNIVERSE_OUT_ONLY = CLOSE_UNIVERSE_OUT + " "  # same statement; no universe_in marker when none closed
QUIET_REASONS = frozenset({"initial_centre"})
SELECT_GAPS = (
    "SELECT exchange_segment, security_id, conn, kind, start_ts, end_ts, reason FROM dhan_gaps "
    "WHERE start_ts <= %s AND (end_ts IS NULL OR end_ts >= %s) "
    "AND (exchange_segment IS NULL OR (exchange_segment = %s AND security_id = %s)) ORDER BY start_ts, id"
)
_SELECT_ALL = (
    "SELECT exchange_segment, security_id, conn, kind, start_ts, end_ts, reason FROM dhan_gaps "
    "WHERE start_ts <= %s AND (end_ts IS NULL OR end_ts >= %s) AND kind <> 'universe_in' "
)
SELECT_ALL_GAPS = _SELECT_ALL + "ORDER BY start_ts DESC, id DESC LIMIT %s"
SELECT_FEED_GAPS = _SELECT_ALL + "AND exchange_segment IS NULL ORDER BY start_ts DESC, id DESC LIMIT %s"
ALL_GAPS_LIMIT = 1000  # rows of one day's table; ATM re-centring makes many universe_out rows on a busy day


@dataclass(frozen=True, slots=True)
class Gap:
    """One interval without data; ``end_ts`` None = still open. ``seg``/``sid`` None = the whole feed."""

    seg: str | None
    sid: int | None
    conn: int | None
    kind: str
    start_ts: float
    end_ts: float | None
    reason: str | None


def _entries(reply: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """XREADGROUP reply of one stream, RESP2 (list of pairs) or RESP3 (dict)."""
    if not reply:
        return []
    value = next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]
    if value and isinstance(value[0], list):  # RESP3 wraps the entries once more
        value = value[0]
    out: list[tuple[bytes, dict[bytes, bytes]]] = []
    for eid, fields in value or ():
        if not isinstance(fields, dict):  # raw reply: flat [field, value, ...]
            fields = dict(zip(fields[::2], fields[1::2], strict=False))
        out.append((eid, fields))
    return out


def rows_for_event(entry_id: str, event: dict[str, Any]) -> list[tuple[str, tuple[Any, ...]]]:
    """The SQL statements (text, args) one lifecycle event turns into; [] for events that make no gap.
    ``ValueError`` for a value dhan_gaps cannot hold."""
    kind = event.get("type")
    if kind not in ("disconnected", "connected", "universe_change", "dropped"):
        return []
    ts = timestamp(event)
    out: list[tuple[str, tuple[Any, ...]]] = []
    if kind == "disconnected":
        cause = text(event.get("cause"))
        code = event.get("reason_code")
        reason = cause if code is None else f"{cause}; {text(code)} {text(event.get('reason'))}".strip()
        gap_kind = "stall" if cause == "stall" else "disconnect"
        out.append((INSERT_GAP, (f"{entry_id}", None, None, conn_number(event), gap_kind, ts, None,
                                 reason[:REASON_CHARS])))
    elif kind == "connected":
        out.append((CLOSE_FEED_GAPS, (ts, conn_number(event), ts)))
    elif kind == "dropped":
        out.extend(_dropped_rows(entry_id, ts, event))
    else:
        why = text(event.get("reason"))[:REASON_CHARS]
        for key, seg, sid in instruments(event.get("removed")):
            out.append((INSERT_GAP, (f"{entry_id}:{key}", seg, sid, None, "universe_out", ts, None, why)))
        for _, seg, sid in instruments(event.get("added")):
            # closes an open universe_out, or (none closed) apply_event adds a universe_in marker, except for
            # a feed's start, which re-announces its whole universe (one marker per instrument per restart)
            sql = CLOSE_UNIVERSE_OUT_ONLY if why in QUIET_REASONS else CLOSE_UNIVERSE_OUT
            out.append((sql, (ts, seg, sid, ts)))
    return out


def _dropped_rows(entry_id: str, ts: float, event: dict[str, Any]) -> list[tuple[str, tuple[Any, ...]]]:
    why = text(event.get("reason"))
    base = text(event.get("id") or entry_id)[:40]  # the event's own id: a copy of it sent twice is one row
    listed = event.get("instruments") or {}
    if not isinstance(listed, dict):
        raise ValueError(f"bad instruments {show_value(listed)}")
    out: list[tuple[str, tuple[Any, ...]]] = []
    for key, info in listed.items():
        if not isinstance(info, dict) or ":" not in key:
            continue  # an instrument the feed could not name: counted in its metrics only
        seg, sid = instrument(key)
        counts = ", ".join(f"{count_of(info, k)} {k}" for k in ("quotes", "depth", "ticks", "greeks") if info.get(k))
        start = timestamp(info, "from") if info.get("from") is not None else ts
        end = max(start, timestamp(info, "to") if info.get("to") is not None else start)
        out.append((INSERT_GAP, (f"{base}:{key}", seg, sid, None, "dropped", start, end,
                                 f"dropped {counts}: {why}"[:REASON_CHARS])))
    return out


async def apply_event(cur: aiomysql.Cursor, entry_id: str, event: dict[str, Any]) -> int:
    """Run one event's statements on ``cur`` (no commit); returns rows changed."""
    changed = 0
    for sql, args in rows_for_event(entry_id, event):
        n = await cur.execute(sql, args)
        if sql is CLOSE_UNIVERSE_OUT:
            ts, seg, sid, _ = args
            # closed by this event (now, or on an earlier delivery of it): no marker
            await cur.execute(CLOSED_AT, (seg, sid, ts))
            if await cur.fetchone():
                changed += int(n or 0)
                continue
            why = text(event.get("reason"))[:REASON_CHARS]
            n = await cur.execute(INSERT_GAP, (f"{entry_id}:{seg}:{sid}", seg, sid, None, "universe_in", ts, ts, why))
        changed += int(n or 0)
    return changed


def _gaps(rows: Sequence[Sequence[Any]]) -> list[Gap]:
    return [
        Gap(seg=r[0], sid=None if r[1] is None else int(r[1]), conn=None if r[2] is None else int(r[2]), kind=r[3],
            start_ts=float(r[4]), end_ts=None if r[5] is None else float(r[5]), reason=r[6])
        for r in rows
    ]


async def _select(pool: aiomysql.Pool, sql: str, args: tuple[Any, ...]) -> list[Gap]:
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(sql, args)
        rows = await cur.fetchall()
        await conn.commit()  # end the read snapshot so the next call sees new rows
    return _gaps(rows)


async def gaps_between(pool: aiomysql.Pool, seg: str, sid: int, start: float, end: float) -> list[Gap]:
    """Gaps touching ``[start, end]`` (true epoch seconds) for one instrument, feed-wide ones included."""
    return await _select(pool, SELECT_GAPS, (end, start, seg, sid))


async def all_gaps_between(
    pool: aiomysql.Pool, start: float, end: float, *, feed_only: bool = False, limit: int = ALL_GAPS_LIMIT
) -> list[Gap]:
    """Gaps touching ``[start, end]`` of every instrument and of the whole feed, newest first, at most ``limit``.

    Zero-length ``universe_in`` markers are left out (an instrument entering is not a hole); ``feed_only``
    keeps the feed-wide gaps alone (disconnects and stalls)."""
    return await _select(pool, SELECT_FEED_GAPS if feed_only else SELECT_ALL_GAPS, (end, start, limit))


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
        attempt = 0
        pending_first = True
        while not stopping.is_set():
            try:
                await self.ensure_group()
                # own pending entries first (delivered before a crash or an outage), then new ones
                start = "0" if pending_first else ">"
                reply = await self.client.xreadgroup(
                    GAPS_GROUP, self.consumer, {self.keys.events: start}, count=READ_COUNT,
                    block=None if pending_first else BLOCK_MS,
                )
                entries = _entries(reply)
                if pending_first and not entries:
                    pending_first = False
                    continue
                if entries:
                    await self._apply(entries)
                attempt = 0
            except Exception as exc:
                self.failures += 1
                attempt += 1
                pending_first = True
                self.log.warning("gaps_retry", error=clip(exc) or type(exc).__name__,
                                 attempt=attempt)
                delay = backoff_s(attempt, base_s=0.2, cap_s=5.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), delay)

    async def _crash_gap(self, cur: aiomysql.Cursor, eid: bytes, event: dict[str, Any]) -> None:
        """A ``connected`` whose connection's previous lifecycle event was also ``connected``: the feed ended
        without a ``disconnected`` (SIGKILL, crash). The gap runs from the last entry the feed published
        before this event (stream ids are Redis milliseconds) to this event."""
        conn_no = conn_number(event)
        previous: bytes | None = None
        for pid, fields in await self.client.xrevrange(self.keys.events, max=b"(" + eid, count=LOOKBACK_EVENTS):
            try:
                ev = orjson.loads(fields.get(b"d", b"{}"))
                if not isinstance(ev, dict) or conn_number(ev) != conn_no:
                    continue
            except (orjson.JSONDecodeError, ValueError):  # a bad event before this one says nothing of it
                continue
            if ev.get("type") == "disconnected":
                return
            if ev.get("type") == "connected":
                previous = pid
                break
        if previous is None:
            return
        last_ms = int(previous.split(b"-")[0])
        ts = timestamp(event)
        # bounded by this connection's own time: the new session may publish before its event is flushed
        bound = f"({int(ts * 1000)}-0"
        for kind in ("quotes", "ticks", "depth"):
            got = await self.client.xrevrange(self.keys.stream(kind), max=bound, min=previous, count=1)
            if got:
                last_ms = max(last_ms, int(got[0][0].split(b"-")[0]))
        start = min(last_ms / 1000.0, ts)
        await cur.execute(INSERT_GAP, (f"{eid.decode()}:crash", None, None, conn_no, "disconnect", start, ts,
                                       "feed ended without a disconnect (killed or crashed)"))

    async def _apply(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        """One transaction for the entries, then dead letters and the acks in one MULTI."""
        failed: list[tuple[bytes, bytes | None, str]] = []
        async with self.pool.acquire() as conn:
            try:
                async with conn.cursor() as cur:
                    for eid, fields in entries:
                        reason = await self._apply_one(cur, eid, fields.get(b"d"))
                        if reason is not None:
                            failed.append((eid, fields.get(b"d"), reason))
                await conn.commit()
            except BaseException:
                await conn.rollback()
                raise
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

    async def _apply_one(self, cur: aiomysql.Cursor, eid: bytes, raw: bytes | None) -> str | None:
        """Apply one entry's event in a savepoint of its own; the one-line reason when it cannot be used."""
        try:
            if raw is None:
                raise ValueError("entry has no 'd' field")
            if len(raw) > EVENT_MAX_BYTES:
                raise ValueError(f"entry of {len(raw):,} bytes is over the {EVENT_MAX_BYTES:,}-byte cap")
            event = orjson.loads(raw)
            if not isinstance(event, dict):
                raise ValueError("event is not an object")
            if not rows_for_event(eid.decode(), event):  # also checks every value
                return None
        except ValueError as exc:  # orjson.JSONDecodeError is one
            return clip(f"{type(exc).__name__}: {exc}", 300)
        await cur.execute("SAVEPOINT gap_event")
        try:
            if event.get("type") == "connected":
                await self._crash_gap(cur, eid, event)
            self.rows_changed += await apply_event(cur, eid.decode(), event)
            return None
        except pymysql.err.MySQLError as exc:
            if not (exc.args and exc.args[0] in ROW_ERROR_CODES):
                raise  # the server's condition, not this event's: the batch is retried
            await cur.execute("ROLLBACK TO SAVEPOINT gap_event")
            return f"rejected by MySQL: {exc.args[0]} {clip(exc.args[-1])}"
        except (RedisError, OSError):
            raise
        except Exception as exc:  # a failure of ours on one event: dead-lettered with its trace, not retried
            self.log.error("gaps_event_failed", entry=eid.decode(), error=clip(f"{type(exc).__name__}: {exc}", 300),
                           exc_info=exc)  # fmt: skip
            await cur.execute("ROLLBACK TO SAVEPOINT gap_event")
            return f"internal error: {type(exc).__name__}"


async def run_gap_recorder(
    settings: Settings, consumer: str, stopping: asyncio.Event, *, started: Callable[[GapRecorder], None] | None = None
) -> None:
    """The writer's hook: a Redis client and a one-connection pool of its own, a :class:`GapRecorder`
    until ``stopping`` (its own client: the writer sets raw reply callbacks on its). ``started`` receives the
    recorder (the writer reports its counters)."""
    from shared.bus import connect_redis
    from shared.db import create_pool
    from shared.errors import MySQLUnavailable, SchemaMismatch

    log = get_logger("gaps")
    attempt = 0
    pool: aiomysql.Pool | None = None
    while pool is None and not stopping.is_set():
        try:
            pool = await create_pool(settings, minsize=1, maxsize=1)
        except (MySQLUnavailable, SchemaMismatch, OSError) as exc:
            attempt += 1
            log.warning("gaps_pool_retry", error=clip(exc), attempt=attempt)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), backoff_s(attempt, base_s=0.5, cap_s=10.0))
    if pool is None:
        return
    client = await connect_redis(settings, check=False)
    try:
        recorder = GapRecorder(client, pool, Keys(settings.key_prefix), consumer,
                               deadletter_maxlen=settings.writer_deadletter_maxlen,
                               payload_max=settings.writer_entry_max_bytes)  # fmt: skip
        if started is not None:
            started(recorder)
        await recorder.run(stopping)
    finally:
        await client.aclose()
        pool.close()
        await pool.wait_closed()
