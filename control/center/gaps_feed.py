"""Today's gap ledger for the Control Center's Gaps tab (Qt-free).

:class:`GapFeed` reads every instrument's and the whole feed's gaps of the current IST day from
``dhan_gaps`` (:func:`shared.gaps.all_gaps_between`) every ``GAPS_EVERY_S``, on a one-connection pool of its
own; the Control Center's refresh (once a second) never waits for it. When MySQL cannot be reached or the
schema is missing, the last list stays and ``error`` says why (logged once per change). :func:`gap_rows`
turns the list into the table's text, newest first.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiomysql
import pymysql

from shared.clock import IST, day_bounds, ist_trading_day
from shared.db import check_schema, close_pool, create_pool
from shared.errors import MySQLUnavailable, SchemaMismatch
from shared.gaps import Gap, all_gaps_between
from shared.logs import get_logger
from shared.settings import Settings

__all__ = ["GAPS_EVERY_S", "GapFeed", "GapRow", "fmt_duration", "gap_rows"]

GAPS_EVERY_S = 5.0
_FAILURES = (MySQLUnavailable, SchemaMismatch, pymysql.err.MySQLError, OSError, TimeoutError)


def fmt_duration(seconds: float) -> str:
    """``0.4 s``, ``45 s``, ``2 min 05 s``, ``1 h 02 min`` (tenths under 10 s: a reconnect takes about one)."""
    if seconds < 9.95:
        return f"{max(0.0, seconds):.1f} s"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _hms(ts: float) -> str:
    return datetime.fromtimestamp(ts, IST).strftime("%H:%M:%S")


@dataclass(frozen=True, slots=True)
class GapRow:
    kind: str
    instrument: str
    connection: str
    start: str
    end: str
    duration: str
    reason: str
    is_open: bool

    def cells(self) -> tuple[str, ...]:
        return (self.kind, self.instrument, self.connection, self.start, self.end, self.duration, self.reason)


def gap_rows(gaps: Sequence[Gap], now: float, universe: Mapping[str, Mapping[str, Any]]) -> list[GapRow]:
    """The Gaps tab's rows, newest first: instruments named from the universe (``symbol (SEG:ID)``), a NULL
    segment as "whole feed", an open gap's end as ``OPEN`` and its duration counted to ``now``."""
    rows = []
    for g in sorted(gaps, key=lambda g: g.start_ts, reverse=True):
        if g.seg is None:
            where = "whole feed"
        else:
            key = f"{g.seg}:{g.sid}"
            symbol = (universe.get(key) or {}).get("symbol")
            where = f"{symbol} ({key})" if symbol else key
        end = g.end_ts if g.end_ts is not None else now
        rows.append(GapRow(
            kind=g.kind, instrument=where, connection="" if g.conn is None else f"conn {g.conn}",
            start=_hms(g.start_ts), end="OPEN" if g.end_ts is None else _hms(g.end_ts),
            duration=fmt_duration(end - g.start_ts) + (" so far" if g.end_ts is None else ""),
            reason=g.reason or "", is_open=g.end_ts is None,
        ))
    return rows


class GapFeed:
    """Follows ``dhan_gaps`` for today; ``gaps`` newest first, ``version`` bumps when they change."""

    def __init__(self, settings: Settings, *, every_s: float = GAPS_EVERY_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.every_s = every_s
        self.clock = clock
        self.gaps: list[Gap] = []
        self.version = 0
        self.checked_at: float | None = None
        self.error = ""
        self.log = get_logger("gaps_feed")
        self._pool: aiomysql.Pool | None = None

    def open_count(self) -> int:
        return sum(1 for g in self.gaps if g.end_ts is None)

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            await self.refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.every_s)

    async def refresh(self) -> None:
        """One read of today's gaps; a failure is kept in ``error`` and the pool reopened next time."""
        now = self.clock()
        try:
            if self._pool is None:
                pool = await create_pool(self.settings, minsize=0, maxsize=1)
                self._pool = pool
                await check_schema(pool)
            gaps = await all_gaps_between(self._pool, *day_bounds(ist_trading_day(now)))
        except _FAILURES as exc:
            await self.close()
            text = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            if text != self.error:
                self.log.warning("gaps_feed_failed", error=text)
            self.error = text
            return
        if self.error:
            self.log.info("gaps_feed_recovered")
        self.error = ""
        self.checked_at = now
        if gaps != self.gaps:
            self.gaps = gaps
            self.version += 1

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await close_pool(pool)
