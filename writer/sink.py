"""MySQL side of the writer: one transaction per batch, errors sorted into "retry later" and "bad row".

Trade summaries and one-minute candles stay exactly-once with no extra round trip in the common case: the
tick insert reports how many rows it really inserted (a replayed natural key counts 0). All new -> the
batch's own summary and candle increments are applied; none new (a redelivery) -> nothing; some new (a
partial overlap, e.g. batches cut differently after a crash, or a feed re-publishing trades) -> the
transaction is rolled back and redone with a locking read of the batch's keys first, inserting and
incrementing by exactly the absent trades. Recomputing the touched summaries and candles from ``dhan_ticks``
is only the last resort: bench/writer_summary.py measured it at 4x an increment with 2,000 trades per
instrument in the day, 380x with 100,000. Connections run at REPEATABLE READ (pinned here), so those locking
reads take gap locks.

Why the count is right with two writers (a failover, or a stalled writer whose entries were reclaimed, both
holding the same trades): the insert of a key another transaction inserted and has not committed waits for
its row lock, then counts 0 if that transaction committed and 1 if it rolled back. A trade is therefore
counted by exactly the one transaction that inserted it, whatever the interleaving, and its candle and
summary increments commit or roll back with that insert. The increments add and merge commutatively, so two
writers' batches may commit in either order; rows are sent in key order, and a deadlock between them is a
transient error retried with the batch.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from datetime import date
from typing import Any

import aiomysql
import pymysql

from shared.db import ROW_ERROR_CODES, check_schema, close_pool, create_pool
from shared.logs import clip
from shared.schema import ensure_partitions
from shared.settings import Settings
from writer import sql
from writer.batch import Batch, fold_summary
from writer.candle_rows import candle_rows

__all__ = ["MySQLSink", "PartitionError", "RowError", "TransientError", "WriteResult"]

# Server gone, connection lost or killed, too many connections, shutting down, lock wait timeout,
# deadlock, query interrupted, read-only: the same batch can succeed later.
_TRANSIENT_CODES = frozenset({1040, 1053, 1205, 1213, 1290, 1317, 1836, 1927, 2003, 2006, 2013, 2014, 2055})
# A value in one of the rows can never be stored (shared.db.ROW_ERROR_CODES): find it by bisecting the
# batch, dead-letter it.
_ER_ACCESS_DENIED_TABLE = 1142
_RECOMPUTE_KEYS_PER_STATEMENT = 500
_ISOLATION = "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"


class TransientError(Exception):
    """The batch could not be written now; keep its entries pending and retry with backoff."""


class RowError(Exception):
    """A row of the batch can never be written (data too long, out of range...): bisect to find it."""


class PartitionError(Exception):
    """Partition maintenance failed; ``missing_pmax``: ticks past the last partition cannot be stored."""

    def __init__(self, message: str, *, missing_pmax: bool = False) -> None:
        super().__init__(message)
        self.missing_pmax = missing_pmax


@dataclass(slots=True)
class WriteResult:
    ticks: int = 0  # tick rows inserted (replays excluded)
    tick_replays: int = 0
    summary: int = 0
    summary_mode: str = "none"  # "increment" | "partial" | "recompute" | "none" (candles follow the same)
    candles: int = 0  # candle rows upserted (or instrument-days recomputed)
    quotes: int = 0
    depth: int = 0
    greeks: int = 0
    depth20: int = 0
    depth20_history: int = 0  # rows sent (a replayed interval is sent too, and changes nothing)
    oi_close: int = 0


def _classify(exc: BaseException) -> Exception:
    code = exc.args[0] if isinstance(exc, pymysql.err.MySQLError) and exc.args else None
    text = str(exc.args[1] if isinstance(exc, pymysql.err.MySQLError) and len(exc.args) > 1 else exc)
    text = clip(text) or type(exc).__name__
    label = f"MySQL {code}: {text}" if code is not None else f"{type(exc).__name__}: {text}"
    if code in ROW_ERROR_CODES:
        return RowError(label)
    # Everything else (server gone, timeouts, but also a missing table or a revoked grant) is a condition of
    # the database, not of one entry: keep the entries and retry, loudly, rather than dead-letter a stream.
    return TransientError(label)


class MySQLSink:
    """Writes :class:`Batch` objects; owns the aiomysql pool. ``start``/``stop``; ``stop`` is idempotent."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool: aiomysql.Pool | None = None
        self._prepared: weakref.WeakSet[Any] = weakref.WeakSet()
        self.waiting = 0
        self.timeout_s = settings.writer.commit_timeout_s

    async def open(self) -> None:
        self._pool = await create_pool(self._settings, minsize=1, maxsize=self._settings.writer.pool_size)
        try:
            await check_schema(self._pool)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await close_pool(pool)

    def pool_stats(self) -> dict[str, int]:
        pool = self._pool
        if pool is None:
            return {"pool_size": 0, "pool_in_use": 0, "pool_waiting": self.waiting}
        return {
            "pool_size": pool.size,
            "pool_in_use": pool.size - pool.freesize,
            "pool_waiting": self.waiting,
        }

    async def _acquire(self) -> Any:
        if self._pool is None:
            raise TransientError("MySQL pool is not open")
        self.waiting += 1
        try:
            conn = await self._pool.acquire()
        except (pymysql.err.MySQLError, OSError, TimeoutError) as exc:
            raise _classify(exc) from exc
        finally:
            self.waiting -= 1
        if conn not in self._prepared:
            try:
                async with conn.cursor() as cur:
                    await cur.execute(_ISOLATION)
            except (pymysql.err.MySQLError, OSError) as exc:
                conn.close()
                await self._pool.release(conn)
                raise _classify(exc) from exc
            self._prepared.add(conn)
        return conn

    async def write(self, batch: Batch) -> WriteResult:
        """One transaction for the whole batch; raises :class:`TransientError` or :class:`RowError`."""
        conn = await self._acquire()
        assert self._pool is not None
        ok = False
        try:
            result = await asyncio.wait_for(self._write(conn, batch), self.timeout_s)
            ok = True
            return result
        except (pymysql.err.MySQLError, OSError, TimeoutError) as exc:
            raise _classify(exc) from exc
        finally:
            if not ok:
                await self._discard(conn)
            await self._pool.release(conn)

    async def _discard(self, conn: Any) -> None:
        """After a failure: roll back if the connection still answers, else drop it from the pool."""
        if conn.closed:
            return
        try:
            await asyncio.wait_for(conn.rollback(), 5.0)
        except (pymysql.err.MySQLError, OSError, TimeoutError):
            conn.close()

    async def _write(self, conn: Any, batch: Batch) -> WriteResult:
        result = WriteResult()
        async with conn.cursor() as cur:  # autocommit is off: the first statement opens the transaction
            if batch.ticks:
                inserted = await self._insert(cur, sql.tick_insert, batch.ticks)
                if inserted == len(batch.ticks):  # all new: the batch's own increments
                    await self._insert(cur, sql.summary_increment, batch.summary)
                    await self._insert(cur, sql.candle_upsert, batch.candles)
                    result.summary, result.summary_mode = len(batch.summary), "increment"
                    result.candles = len(batch.candles)
                elif inserted:  # partly a replay: start over with only the trades not stored yet
                    await conn.rollback()
                    inserted = await self._write_new_ticks(cur, batch, result)
                result.ticks = inserted
                result.tick_replays = len(batch.ticks) - inserted
            for stmt, rows, name in (
                (sql.quote_upsert, batch.quotes, "quotes"),
                (sql.depth_upsert, batch.depth, "depth"),
                (sql.greeks_upsert, batch.greeks, "greeks"),
                (sql.depth20_upsert, batch.depth20, "depth20"),
                (sql.depth20_history_insert, batch.depth20_history, "depth20_history"),
                (sql.oi_close_upsert, batch.oi_close, "oi_close"),
            ):
                await self._insert(cur, stmt, rows)
                setattr(result, name, len(rows))
        await conn.commit()
        return result

    @staticmethod
    async def _insert(cur: Any, stmt: sql.Statement, rows: list[str]) -> int:
        affected = 0
        for text in sql.render_statements(stmt, rows):
            affected += await cur.execute(text)
        return int(affected)

    async def _write_new_ticks(self, cur: Any, batch: Batch, result: WriteResult) -> int:
        """Lock the batch's tick keys, insert the absent ones and increment the summaries and candles by exactly
        those.

        A few primary-key lookups (measured in bench/writer_summary.py: a recompute scans the whole day of
        every touched instrument and grows with it). If the insert still meets a stored key (impossible
        under the locks, kept as a guard), the touched summaries and candles are recomputed from dhan_ticks
        instead.
        """
        await cur.execute(sql.existing_ticks([item[0] for item in batch.tick_items]))
        stored = {
            (f"'{seg}'", int(sid), f"'{day.isoformat()}'", int(cum)) for seg, sid, day, cum in await cur.fetchall()
        }
        items = [item for item in batch.tick_items if item[0] not in stored]
        inserted = await self._insert(cur, sql.tick_insert, [item[5] for item in items])
        summary, keys = fold_summary(items)
        if inserted == len(items):
            candles = candle_rows(items)
            await self._insert(cur, sql.summary_increment, summary)
            await self._insert(cur, sql.candle_upsert, candles)
            result.summary, result.summary_mode, result.candles = len(summary), "partial", len(candles)
            return inserted
        for start in range(0, len(keys), _RECOMPUTE_KEYS_PER_STATEMENT):
            chunk = keys[start : start + _RECOMPUTE_KEYS_PER_STATEMENT]
            await cur.execute(sql.summary_recompute(chunk))
            for text in sql.candle_recompute(chunk):
                await cur.execute(text)
        result.summary, result.summary_mode, result.candles = len(keys), "recompute", len(keys)
        return inserted

    async def ensure_partitions(self, today: date, months_ahead: int, lock_timeout_s: int = 30) -> list[str]:
        """Monthly partitions of ``dhan_ticks``, ``dhan_depth20_history`` and ``dhan_candles_1m`` ahead
        (see :func:`shared.schema.ensure_partitions`).

        Raises ``PermissionError`` when this user may not ALTER, :class:`PartitionError` when maintenance
        failed for another reason (lock held, no ``pmax``, an unexpected partition layout, MySQL).
        """
        conn = await self._acquire()
        assert self._pool is not None
        try:
            added = await ensure_partitions(conn, today=today, months_ahead=months_ahead, lock_timeout_s=lock_timeout_s)
            await conn.commit()
            return added
        except pymysql.err.MySQLError as exc:
            await self._discard(conn)
            if exc.args and exc.args[0] == _ER_ACCESS_DENIED_TABLE:
                raise PermissionError(str(exc.args[-1])) from None
            raise PartitionError(str(_classify(exc))) from exc
        except RuntimeError as exc:  # no pmax: splitting cannot work until the table is fixed
            await self._discard(conn)
            raise PartitionError(str(exc), missing_pmax=True) from exc
        except (TimeoutError, ValueError, OSError) as exc:
            await self._discard(conn)
            raise PartitionError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            await self._pool.release(conn)
