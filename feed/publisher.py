"""Events -> Redis: pipelined XADD (MAXLEN ~) per event plus one PUBLISH per stream and batch.

The socket reader never waits for Redis: it appends encoded events to an in-memory buffer (O(1)) and this
publisher drains it in batches on its own task. While Redis is down the buffer grows to
``publish_buffer_max`` events; past that the oldest events spill in order to spool files on disk
(:mod:`feed.spool`), and when Redis answers again everything is written back oldest first (spool, then
memory). Nothing is dropped while the disk takes the spool.

When the spool cannot be written either (disk full, I/O error), the events stay in memory (they leave the
buffer only once their file is written), ``spool_failing`` is raised (heartbeat field, ``/health`` problem,
the monitor's ``spool_failing`` alert) and the write is retried with backoff, never on every frame. Past
``publish_memory_max`` events the buffer sheds (:mod:`feed.shed`): superseded quotes and depth first, then
the oldest events; drops are counted per kind and reported through ``on_event`` as a ``dropped`` event,
which the gap ledger turns into one ``dropped`` gap per instrument.

:meth:`spill_for_exit` puts whatever is still held (the pending batch and the buffer) into the spool when
the feed stops, cleanly or because this publisher died; a spool file that was being sent when the publisher
died of an unexpected error is quarantined, so a poison file cannot crash every restart.

The hot path talks RESP directly: commands are assembled as bytes (a constant prefix per stream plus the
payload), sent with one write on the publisher's own connection (:mod:`feed.resp`) and their replies parsed
in one pass by hiredis, so no per-command argument packing or per-reply await happens in Python (a redis-py
pipeline of one-field XADDs does ~72k/s here).

A batch that fails part way is sent again whole: Redis may then hold a few entries twice. That is safe by
contract: ticks carry their natural key (instrument, day, cumulative volume) and quotes/depth are upserts
guarded by time, so consumers store them once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
import uuid
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from feed.resp import RespConnection, RespError
from feed.shed import shed
from feed.spool import Spool
from shared.backoff import backoff_s
from shared.keys import Keys
from shared.logs import clip, get_logger
from shared.settings import Settings

__all__ = [
    "KIND_DEPTH", "KIND_DEPTH20", "KIND_QUOTES", "KIND_TICKS", "Publisher", "command_prefixes", "resp_batch",
    "resp_batch_py",
]

_NativeBatch = Callable[[list[tuple[int, bytes]], list[bytes], list[bytes] | None], tuple[bytes, list[int]] | None]
_native_batch: _NativeBatch | None
try:  # optional native path (feed/_fastfeed.c): the same bytes; absent in a build without a compiler
    from feed import _fastfeed

    _native_batch = _fastfeed.resp_batch
except (ImportError, AttributeError):  # pragma: no cover - depends on the build
    _native_batch = None

KIND_QUOTES, KIND_TICKS, KIND_DEPTH, KIND_GREEKS, KIND_DEPTH20 = 0, 1, 2, 3, 4
_KIND_NAMES = ("quotes", "ticks", "depth", "greeks", "depth20")
# upserted per instrument: may be superseded (a 20/200-level book by the next book of its instrument)
_LATEST_STATE = frozenset({KIND_QUOTES, KIND_DEPTH, KIND_GREEKS, KIND_DEPTH20})


def _stream_names(keys: Keys) -> tuple[str, ...]:
    """The stream (and channel) of each kind, in kind order."""
    return (keys.quotes, keys.ticks, keys.depth, keys.greeks, keys.depth20)


def _nothing() -> None:
    return None


def _bulk(b: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(b), b)


def command_prefixes(streams: tuple[str, ...], maxlens: tuple[int, ...]) -> tuple[list[bytes], list[bytes]]:
    """Each kind's XADD (``MAXLEN ~``, up to the field name ``d``) and PUBLISH command prefix, in kind order:
    what :func:`resp_batch` puts before each payload and each channel's array."""
    xadd = [
        b"*8\r\n$4\r\nXADD\r\n" + _bulk(stream.encode()) + b"$6\r\nMAXLEN\r\n$1\r\n~\r\n"
        + _bulk(str(maxlen).encode()) + b"$1\r\n*\r\n$1\r\nd\r\n"
        for stream, maxlen in zip(streams, maxlens, strict=True)
    ]
    return xadd, [b"*3\r\n$7\r\nPUBLISH\r\n" + _bulk(stream.encode()) for stream in streams]


def resp_batch_py(
    chunk: list[tuple[int, bytes]], xadd: list[bytes], pub: list[bytes] | None
) -> tuple[bytes, list[int]]:
    """The commands of one batch and the events per kind: one XADD per event, in order (``xadd[kind]``, the
    command up to its field name, then the payload), then per kind with events, in kind order, one PUBLISH
    (``pub[kind]``) of the JSON array of its payloads; no PUBLISH when ``pub`` is None. The reference of
    ``feed._fastfeed.resp_batch``, which the publisher uses when it is built."""
    parts: list[bytes] = []
    per_kind: list[list[bytes]] = [[] for _ in xadd]
    for kind, payload in chunk:
        parts.append(xadd[kind])
        parts.append(b"$%d\r\n" % len(payload))
        parts.append(payload)
        parts.append(b"\r\n")
        per_kind[kind].append(payload)
    if pub is not None:
        for kind, payloads in enumerate(per_kind):
            if payloads:
                parts.append(pub[kind])
                parts.append(_bulk(b"[" + b",".join(payloads) + b"]"))
    return b"".join(parts), [len(p) for p in per_kind]


def resp_batch(
    chunk: list[tuple[int, bytes]], xadd: list[bytes], pub: list[bytes] | None
) -> tuple[bytes, list[int]]:
    """:func:`resp_batch_py`, in C when the native module is built and the chunk is plain (kinds in range,
    payloads bytes): 0.06 against 1.04 us an event (``bench/publish_batch.py``, 16x)."""
    if _native_batch is not None:
        out = _native_batch(chunk, xadd, pub)
        if out is not None:
            return out
    return resp_batch_py(chunk, xadd, pub)


class Publisher:
    """Buffers encoded events and writes them to Redis in order; survives Redis outages without loss."""

    def __init__(self, settings: Settings, client: aioredis.Redis, keys: Keys, *, publish: bool = True,
                 write_ahead: Callable[[], None] | None = None,
                 on_event: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.settings = settings
        # called before events leave this process (a send to Redis, a spool file): the feed's journal puts
        # their frames in its write-ahead file first (feed/journal/)
        self._write_ahead = write_ahead or _nothing
        self._on_event = on_event or (lambda event: None)  # lifecycle events for dhan:events (dropped gaps)
        self.keys = keys
        self._client = client
        self._publish = publish
        self.log = get_logger("feed.publisher")
        self._buf: collections.deque[tuple[int, bytes]] = collections.deque()
        self._wake = asyncio.Event()
        self._conn: RespConnection | None = None
        maxlens = (settings.streams.maxlen_quotes, settings.streams.maxlen_ticks, settings.streams.maxlen_depth,
                   settings.streams.maxlen_greeks, settings.streams.maxlen_depth20)
        self._xadd_prefix, self._pub_prefix = command_prefixes(_stream_names(keys), maxlens)
        self.spool = Spool(settings.publish.spool_dir, len(_KIND_NAMES), self.log)
        self._pending: list[tuple[int, bytes]] | None = None  # batch taken but not yet confirmed written
        self._pending_spool: Path | None = None  # the spool file _pending came from, if any
        # the spool's disk failing: the error, write attempts, when to try again (monotonic)
        self.spool_error = ""
        self._spool_attempt = 0
        self._spool_retry_at = 0.0
        # counters
        self.published = [0] * len(_KIND_NAMES)
        self.dropped = [0] * len(_KIND_NAMES)
        self.batches = 0
        self.errors = 0
        self.spilled = 0
        self.spool_write_errors = 0
        self.lost_at_exit = 0
        self.outage_started: float | None = None
        self.last_latency_s = 0.0
        if self.spool.recover():
            self.log.warning("spool_recovered", files=len(self.spool))

    # --- producer side (sync, called by the socket reader) ---
    def add(self, kind: int, payloads: list[bytes]) -> None:
        buf = self._buf
        for p in payloads:
            buf.append((kind, p))
        if len(buf) > self.settings.publish.buffer_max:
            self._spill()
        self._wake.set()

    @property
    def buffered(self) -> int:
        return len(self._buf) + (len(self._pending) if self._pending else 0)

    @property
    def spooled_files(self) -> int:
        return len(self.spool)

    # --- spool ---
    def _spill(self) -> None:
        """Past the memory bound: the oldest events beyond half of it go to a new spool file. While the spool
        cannot be written they stay in memory (retried with backoff), and past the memory cap they shed."""
        now = time.monotonic()
        if now >= self._spool_retry_at:
            # at most half the bound per file: a backlog kept while the disk failed goes out over a few
            # calls, not in one write (and one retry) of the whole memory cap
            half = self.settings.publish.buffer_max // 2
            n = max(1, min(len(self._buf) - half, half))
            try:
                path = self._spool_oldest(n)
            except OSError as exc:
                self._spool_failed(exc, now)
            else:
                self.spilled += n
                self.log.warning("buffer_spilled", events=n, file=path.name, spool_files=len(self.spool))
                if self.spool_error:
                    self._spool_cleared("a spool file was written")
                return
        if len(self._buf) > self.settings.publish.memory_max:
            self._shed()

    def _spool_oldest(self, n: int) -> Path:
        """The ``n`` oldest buffered events into a new spool file; they leave the buffer only once it is
        written (OSError: they are all still buffered)."""
        self._write_ahead()
        path = self.spool.write(islice(self._buf, n))
        popleft = self._buf.popleft
        for _ in range(n):
            popleft()
        return path

    def _spool_failed(self, exc: OSError, now: float) -> None:
        self.spool_write_errors += 1
        self._spool_attempt += 1
        delay = backoff_s(self._spool_attempt, base_s=0.5, cap_s=10.0)
        self._spool_retry_at = now + delay
        error = exc.strerror or str(exc)
        if not self.spool_error:
            self.log.error("spool_write_failed", error=error, dir=str(self.spool.directory),
                           buffered=len(self._buf), memory_max=self.settings.publish.memory_max,
                           effect="events stay in memory; past the memory cap superseded quotes/depth are dropped")
        elif self._spool_attempt % 10 == 0:
            self.log.warning("spool_still_failing", error=error, attempt=self._spool_attempt,
                             retry_in_s=round(delay, 2), buffered=len(self._buf))
        self.spool_error = error

    def _spool_cleared(self, why: str) -> None:
        self.log.info("spool_failure_cleared", why=why, after_attempts=self._spool_attempt)
        self.spool_error = ""
        self._spool_attempt = 0
        self._spool_retry_at = 0.0

    def _shed(self) -> None:
        """Memory cap reached with nowhere to put events: drop per :mod:`feed.shed`, count, report the gap."""
        t0 = time.perf_counter()
        target = self.settings.publish.memory_max - self.settings.publish.buffer_max // 2
        kept, dropped = shed(self._buf, target, _LATEST_STATE, _KIND_NAMES)
        self._buf.clear()
        self._buf.extend(kept)
        for kind, n in dropped.by_kind.items():
            self.dropped[kind] += n
        reason = f"memory cap {self.settings.publish.memory_max:,} events, spool failing ({self.spool_error})"
        self.log.error("events_dropped", dropped=dropped.total, superseded=dropped.superseded,
                       **{_KIND_NAMES[k]: n for k, n in dropped.by_kind.items()},
                       instruments=len(dropped.instruments), kept=len(kept), reason=reason,
                       took_ms=round((time.perf_counter() - t0) * 1000, 1))
        # its own id keys the ledger's rows, so an event sent twice (a retried flush) is stored once
        self._on_event({"type": "dropped", "id": uuid.uuid4().hex, "ts": time.time(), "reason": reason,
                        "superseded": dropped.superseded, "instruments": dropped.instruments})

    def health_problem(self) -> str | None:
        if not self.spool_error:
            return None
        lost = sum(self.dropped)
        return (f"spool cannot be written ({self.spool_error}): {len(self._buf):,} events held in memory"
                + (f", {lost:,} dropped" if lost else ""))

    # --- consumer side ---
    def _next_batch(self) -> list[tuple[int, bytes]] | None:
        if self._pending is not None:
            return self._pending
        limit = self.settings.publish.batch_max
        head = self.spool.read_head() if len(self.spool) else None
        if head is not None:
            # The head spool file is sent whole, in chunks of the batch size, before any memory event.
            self._pending_spool, self._pending = head
            return self._pending
        if not self._buf:
            return None
        buf = self._buf
        n = min(limit, len(buf))
        popleft = buf.popleft
        self._pending = [popleft() for _ in range(n)]
        self._pending_spool = None
        return self._pending

    async def _connection(self) -> RespConnection:
        if self._conn is None or not self._conn.connected:
            conn = RespConnection(self.settings.redis.url.get_secret_value())
            await conn.open()
            self._conn = conn
        return self._conn

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def _write(self, batch: list[tuple[int, bytes]]) -> None:
        self._write_ahead()
        limit = self.settings.publish.batch_max
        conn = await self._connection()
        pub = self._pub_prefix if self._publish else None
        for start in range(0, len(batch), limit):
            chunk = batch[start : start + limit]
            data, counts = resp_batch(chunk, self._xadd_prefix, pub)
            replies = len(chunk) + (sum(1 for n in counts if n) if pub is not None else 0)
            conn.write(data)
            for reply in await conn.read_replies(replies):
                if isinstance(reply, hiredis.ReplyError):
                    raise RespError(str(reply))
            for kind, n in enumerate(counts):
                self.published[kind] += n

    async def run(self, stopping: asyncio.Event) -> None:
        """Drain the buffer until ``stopping`` is set and the buffer is empty (or ``drain_deadline`` hits)."""
        attempt = 0
        while True:
            batch = self._next_batch()
            if batch is None:
                if stopping.is_set():
                    return
                self._wake.clear()
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stopping.wait())
                try:
                    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
                    stopper.cancel()
                continue
            t0 = time.perf_counter()
            try:
                await self._write(batch)
            except (RespError, RedisError, OSError, ConnectionError, TimeoutError) as exc:
                self.errors += 1
                attempt += 1
                await self._drop_connection()
                if self.outage_started is None:
                    self.outage_started = time.time()
                    self.log.warning("redis_write_failed", error=clip(exc),
                                     buffered=self.buffered)
                delay = backoff_s(attempt, base_s=0.1, cap_s=5.0)
                if attempt % 10 == 0:
                    self.log.warning("redis_still_down", attempt=attempt, retry_in_s=round(delay, 2),
                                     buffered=self.buffered, spool_files=len(self.spool))
                if stopping.is_set() and attempt >= 3:
                    self.spill_for_exit()
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), delay)
                continue
            self.last_latency_s = time.perf_counter() - t0
            self.batches += 1
            if self._pending_spool is not None:
                self.spool.done(self._pending_spool)
                self._pending_spool = None
            self._pending = None
            if self.spool_error and len(self._buf) <= self.settings.publish.buffer_max:
                self._spool_cleared("Redis took the events back under the memory bound")
            if self.outage_started is not None:
                self.log.info("redis_write_recovered", after_s=round(time.time() - self.outage_started, 2),
                              attempts=attempt)
                self.outage_started = None
            attempt = 0

    def spill_for_exit(self, cause: BaseException | None = None) -> None:
        """Stopping: every event still held (the pending batch, the buffer) goes to the spool for the next
        run. ``cause``: the unexpected error this publisher died of; the spool file it was sending, if any,
        is quarantined then (it may be what killed it: a restart must not die on it again)."""
        if self._pending_spool is not None and cause is not None:
            self.spool.quarantine(self._pending_spool, f"the publisher died sending it: {type(cause).__name__}: "
                                                       f"{str(cause)[:200]}")
        elif self._pending is not None and self._pending_spool is None:
            self._buf.extendleft(reversed(self._pending))
        self._pending = None
        self._pending_spool = None
        n = len(self._buf)
        if not n:
            return
        try:
            path = self._spool_oldest(n)
        except OSError as exc:
            self.lost_at_exit = n
            self.log.error("events_lost_at_exit", events=n, dir=str(self.spool.directory),
                           error=exc.strerror or str(exc))
            return
        self.spilled += n
        self.log.warning("shutdown_with_unsent_events", events=n, file=path.name, spool_files=len(self.spool))

    async def close(self) -> None:
        await self._drop_connection()

    def metrics(self) -> dict[str, Any]:
        return {
            "published_quotes": self.published[0],
            "published_ticks": self.published[1],
            "published_depth": self.published[2],
            "published_depth20": self.published[KIND_DEPTH20],
            "buffered": self.buffered,
            "spool_files": len(self.spool),
            "spilled_total": self.spilled,
            "spool_failing": int(bool(self.spool_error)),
            "spool_error": self.spool_error,
            "spool_write_errors": self.spool_write_errors,
            "spool_quarantined": self.spool.quarantined,
            "spool_bad_records": self.spool.bad_records,
            "dropped_quotes": self.dropped[KIND_QUOTES],
            "dropped_ticks": self.dropped[KIND_TICKS],
            "dropped_depth": self.dropped[KIND_DEPTH],
            "dropped_depth20": self.dropped[KIND_DEPTH20],
            "redis_errors": self.errors,
            "redis_down": int(self.outage_started is not None),
            "publish_batch_ms": round(self.last_latency_s * 1000, 3),
        }
