"""Events -> Redis: pipelined XADD (MAXLEN ~) per event plus one PUBLISH per stream and batch.

The socket reader never waits for Redis: it appends encoded events to an in-memory buffer (O(1)) and this
publisher drains it in batches on its own task. While Redis is down the buffer grows to
``publish_buffer_max`` events; past that the oldest events spill in order to spool files on disk, and when
Redis answers again everything is written back oldest first (spool, then memory). Nothing is dropped.

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
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from feed.resp import RespConnection, RespError
from shared.backoff import backoff_s
from shared.keys import Keys
from shared.logs import clip, get_logger
from shared.settings import Settings

__all__ = ["KIND_DEPTH", "KIND_QUOTES", "KIND_TICKS", "Publisher"]

KIND_QUOTES, KIND_TICKS, KIND_DEPTH, KIND_GREEKS = 0, 1, 2, 3
_KIND_NAMES = ("quotes", "ticks", "depth", "greeks")
_REC = struct.Struct("<BI")


def _nothing() -> None:
    return None


def _bulk(b: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(b), b)


class Publisher:
    """Buffers encoded events and writes them to Redis in order; survives Redis outages without loss."""

    def __init__(self, settings: Settings, client: aioredis.Redis, *, publish: bool = True,
                 write_ahead: Callable[[], None] | None = None) -> None:
        self.settings = settings
        # called before events leave this process (a send to Redis, a spool file): the feed's journal puts
        # their frames in its write-ahead file first (feed/journal.py)
        self._write_ahead = write_ahead or _nothing
        self.keys = Keys(settings.key_prefix)
        self._client = client
        self._publish = publish
        self.log = get_logger("feed.publisher")
        self._buf: collections.deque[tuple[int, bytes]] = collections.deque()
        self._wake = asyncio.Event()
        self._conn: RespConnection | None = None
        maxlens = (settings.stream_maxlen_quotes, settings.stream_maxlen_ticks, settings.stream_maxlen_depth,
                   settings.stream_maxlen_greeks)
        self._xadd_prefix = [
            b"*8\r\n$4\r\nXADD\r\n" + _bulk(self.keys.stream(name).encode()) + b"$6\r\nMAXLEN\r\n$1\r\n~\r\n"
            + _bulk(str(maxlen).encode()) + b"$1\r\n*\r\n$1\r\nd\r\n"
            for name, maxlen in zip(_KIND_NAMES, maxlens, strict=True)
        ]
        self._pub_prefix = [
            b"*3\r\n$7\r\nPUBLISH\r\n" + _bulk(self.keys.stream(name).encode()) for name in _KIND_NAMES
        ]
        self._spool_dir = Path(settings.spool_dir)
        self._spool_files: collections.deque[Path] = collections.deque()
        self._spool_seq = 0
        self._pending: list[tuple[int, bytes]] | None = None  # batch taken but not yet confirmed written
        self._pending_spool: Path | None = None  # the spool file _pending came from, if any
        # counters
        self.published = [0, 0, 0, 0]
        self.batches = 0
        self.errors = 0
        self.spilled = 0
        self.outage_started: float | None = None
        self.last_latency_s = 0.0
        self._recover_spool()

    # --- producer side (sync, called by the socket reader) ---
    def add(self, kind: int, payloads: list[bytes]) -> None:
        buf = self._buf
        for p in payloads:
            buf.append((kind, p))
        if len(buf) > self.settings.publish_buffer_max:
            self._spill()
        self._wake.set()

    @property
    def buffered(self) -> int:
        return len(self._buf) + (len(self._pending) if self._pending else 0)

    @property
    def spooled_files(self) -> int:
        return len(self._spool_files)

    # --- spool ---
    def _recover_spool(self) -> None:
        """Spool files left by a previous run are sent first (they are older than anything new)."""
        if self._spool_dir.is_dir():
            for f in sorted(self._spool_dir.glob("spool-*.bin")):
                self._spool_files.append(f)
            if self._spool_files:
                self.log.warning("spool_recovered", files=len(self._spool_files))

    def _spill(self) -> None:
        """Move the oldest half of the memory buffer to a new spool file (keeps global order)."""
        n = max(1, len(self._buf) - self.settings.publish_buffer_max // 2)
        path = self._write_spool(n)
        self.spilled += n
        self.log.warning("buffer_spilled", events=n, file=path.name, spool_files=len(self._spool_files))

    def _write_spool(self, n: int) -> Path:
        """Move the ``n`` oldest buffered events into a new spool file (fsynced, renamed into place)."""
        self._write_ahead()
        self._spool_dir.mkdir(parents=True, exist_ok=True)
        self._spool_seq += 1
        path = self._spool_dir / f"spool-{time.time_ns():020d}-{self._spool_seq:06d}.bin"
        tmp = path.with_suffix(".tmp")
        popleft = self._buf.popleft
        parts: list[bytes] = []
        for _ in range(n):
            kind, payload = popleft()
            parts.append(_REC.pack(kind, len(payload)))
            parts.append(payload)
        with open(tmp, "wb") as fh:
            fh.write(b"".join(parts))
            fh.flush()
            os.fsync(fh.fileno())
        tmp.rename(path)
        self._spool_files.append(path)
        return path

    @staticmethod
    def _read_spool(path: Path) -> list[tuple[int, bytes]]:
        data = path.read_bytes()
        out: list[tuple[int, bytes]] = []
        off, n = 0, len(data)
        while off + _REC.size <= n:
            kind, size = _REC.unpack_from(data, off)
            off += _REC.size
            if off + size > n:
                break  # torn tail (crash while writing): the .tmp rename makes this unlikely
            out.append((kind, data[off : off + size]))
            off += size
        return out

    # --- consumer side ---
    def _next_batch(self) -> list[tuple[int, bytes]] | None:
        if self._pending is not None:
            return self._pending
        limit = self.settings.publish_batch_max
        if self._spool_files:
            # The head spool file is sent whole, in chunks of the batch size, before any memory event.
            path = self._spool_files[0]
            self._pending = self._read_spool(path)
            self._pending_spool = path
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
            conn = RespConnection(self.settings.redis_url.get_secret_value())
            await conn.connect()
            self._conn = conn
        return self._conn

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def _write(self, batch: list[tuple[int, bytes]]) -> None:
        self._write_ahead()
        limit = self.settings.publish_batch_max
        conn = await self._connection()
        for start in range(0, len(batch), limit):
            chunk = batch[start : start + limit]
            parts: list[bytes] = []
            per_kind: list[list[bytes]] = [[], [], [], []]
            xp = self._xadd_prefix
            for kind, payload in chunk:
                parts.append(xp[kind])
                parts.append(b"$%d\r\n" % len(payload))
                parts.append(payload)
                parts.append(b"\r\n")
                per_kind[kind].append(payload)
            replies = len(chunk)
            if self._publish:
                for kind, payloads in enumerate(per_kind):
                    if payloads:
                        parts.append(self._pub_prefix[kind])
                        parts.append(_bulk(b"[" + b",".join(payloads) + b"]"))
                        replies += 1
            conn.write(b"".join(parts))
            for reply in await conn.read_replies(replies):
                if isinstance(reply, hiredis.ReplyError):
                    raise RespError(str(reply))
            for kind, payloads in enumerate(per_kind):
                self.published[kind] += len(payloads)

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
                                     buffered=self.buffered, spool_files=len(self._spool_files))
                if stopping.is_set() and attempt >= 3:
                    self._spill_pending_for_exit()
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), delay)
                continue
            self.last_latency_s = time.perf_counter() - t0
            self.batches += 1
            if self._pending_spool is not None:
                self._pending_spool.unlink(missing_ok=True)
                self._spool_files.popleft()
            self._pending = None
            if self.outage_started is not None:
                self.log.info("redis_write_recovered", after_s=round(time.time() - self.outage_started, 2),
                              attempts=attempt)
                self.outage_started = None
            attempt = 0

    def _spill_pending_for_exit(self) -> None:
        """Shutting down with Redis unreachable: keep every unsent event on disk for the next run."""
        if self._pending is not None and self._pending_spool is None:
            for item in reversed(self._pending):
                self._buf.appendleft(item)
        self._pending = None
        if self._buf:
            self._write_spool(len(self._buf))
        self.log.warning("shutdown_with_unsent_events", spool_files=len(self._spool_files))

    async def close(self) -> None:
        await self._drop_connection()

    def metrics(self) -> dict[str, Any]:
        return {
            "published_quotes": self.published[0],
            "published_ticks": self.published[1],
            "published_depth": self.published[2],
            "buffered": self.buffered,
            "spool_files": len(self._spool_files),
            "spilled_total": self.spilled,
            "redis_errors": self.errors,
            "redis_down": int(self.outage_started is not None),
            "publish_batch_ms": round(self.last_latency_s * 1000, 3),
        }
