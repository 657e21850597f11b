"""Gap ledger, reading side: the intervals without data in ``dhan_gaps`` (schema 002), as the charts and the
Control Center ask for them.

The writer fills the table from the feed's lifecycle events (writer/gaps.py, writer/gap_rows.py): feed-wide
gaps (segment and id NULL) of kind ``disconnect`` or ``stall`` per connection; per instrument ``universe_out``
(left the subscribed universe), a zero-length ``universe_in`` marker (entered it with no band to close) and
``dropped`` (the feed shed its events). ``end_ts`` NULL: still open.
:func:`gaps_between` (one instrument, feed-wide gaps included) is the query the charts call;
:func:`all_gaps_between` (every instrument and the feed, newest first) is the Control Center's Gaps tab's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiomysql

__all__ = ["ALL_GAPS_LIMIT", "Gap", "all_gaps_between", "gaps_between"]

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
