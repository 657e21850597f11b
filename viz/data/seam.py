"""History (MySQL) -> live (Redis) with no gap and no double count.

Recipe for ticks, per instrument and session day:

1. Note where the writer stands on the ticks stream, atomically (one MULTI/EXEC): the oldest entry pending
   in group ``writer`` (inclusive), or, with nothing pending, the group's last-delivered id (exclusive).
   Every entry before that position is acknowledged, and the writer acknowledges only after its MySQL
   commit, so every trade before it is in ``dhan_ticks``.
2. Read the day's trades from MySQL (ordered by cumulative volume, the natural key).
3. Read the stream from the position to its end (XRANGE, the "catch-up"), then follow it (XREAD BLOCK
   from the last id read). A catch-up trade is dropped when its (instrument, day, cumulative volume) is
   already in the history or already taken; live trades are dropped when their cumulative volume is not
   above the largest one taken (the stream holds one instrument's trades in volume order; a repeat can
   only come from a publisher resending a batch).

Why membership rather than "not above the history's maximum" during catch-up: with several writer
consumers, a later batch can be committed while an earlier one is still pending, so the history is not
always a prefix; a pending trade below the history's maximum is then missing from MySQL and must be kept.
With one consumer both rules agree. Catch-up trades below the history's maximum are merged in volume order.
Anything committed after step 2 was added to the stream before step 3 began, so it is in the catch-up
range: after the catch-up, no live trade can be in MySQL's history (hence the simpler live rule).

A trade of a later day starts a new session (the model resets); a trade of an earlier day is ignored.

Latest-state streams (quotes, depth, greeks) use the same position, the stored rows, then the stream from
the position: applying an entry twice is harmless because the models only move forward in (exchange
time, volume, receive time). With no writer group the newest entries of the stream seed the view.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import aiomysql
import numpy as np
import orjson
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from shared.keys import Keys
from viz.data import history
from viz.data.live import StreamEntry, read_range, read_tail, sid_needle
from viz.models.ticks import SIDE_CODES, TickSeries, rule_of

__all__ = [
    "StreamPosition",
    "TickLoad",
    "TickSeam",
    "catch_up_latest",
    "date_day",
    "load_ticks",
    "resume_id",
    "writer_position",
]

_EPOCH = date(1970, 1, 1)
LATEST_FALLBACK_ENTRIES = 20_000


def date_day(d: date) -> int:
    """Day number of a date on Dhan's clock (exchange_ts // 86400 of the same day)."""
    return (d - _EPOCH).days


@dataclass(frozen=True, slots=True)
class StreamPosition:
    """Where the writer stands: read from ``entry_id`` (``inclusive``) or after it."""

    entry_id: bytes
    inclusive: bool


async def writer_position(redis: aioredis.Redis, stream: str, group: str = Keys.WRITER_GROUP) -> StreamPosition | None:
    """The writer group's position on ``stream`` (see the module docstring); None without such a group."""
    pipe = redis.pipeline(transaction=True)
    pipe.xpending(stream, group)
    pipe.xinfo_groups(stream)
    try:
        pending, groups = await pipe.execute()
    except ResponseError as exc:
        if "NOGROUP" in str(exc) or "no such key" in str(exc).lower():
            return None
        raise
    if pending and pending.get("pending"):
        return StreamPosition(pending["min"], True)
    for g in groups:
        name = g["name"].decode() if isinstance(g["name"], bytes) else g["name"]
        if name == group:
            return StreamPosition(g["last-delivered-id"], False)
    return None


def _before(entry_id: bytes) -> bytes:
    """The largest possible id below ``entry_id`` (XREAD is exclusive)."""
    ms, _, seq = entry_id.partition(b"-")
    s = int(seq or 0)
    if s > 0:
        return b"%d-%d" % (int(ms), s - 1)
    return b"%d-%d" % (int(ms) - 1, 2**64 - 1) if int(ms) > 0 else b"0-0"


def resume_id(pos: StreamPosition | None, last_read: bytes | None) -> bytes:
    """Exclusive id to follow from after a catch-up that read up to ``last_read`` (None: read nothing)."""
    if last_read is not None:
        return last_read
    if pos is None:
        return b"0-0"
    return _before(pos.entry_id) if pos.inclusive else pos.entry_id


class TickSeam:
    """The dedupe state of one instrument's session across history, catch-up and live (pure)."""

    def __init__(self, seg: str, sid: int, day: int, history_ticks: TickSeries) -> None:
        self.seg, self.sid, self.day = seg, sid, day
        self.ticks = history_ticks
        self._history_cum = np.sort(history_ticks.cum_volume)
        self._caught: list[tuple[int, float, int, int, int, int]] = []
        self._caught_cum: set[int] = set()
        self.max_cum = int(self._history_cum[-1]) if len(self._history_cum) else -1
        self.catching_up = True
        self.dropped = 0

    def matches(self, ev: dict[str, Any]) -> bool:
        return ev.get("sid") == self.sid and ev.get("seg") == self.seg

    def _new_day(self, day: int) -> None:
        self.day = day
        self.ticks = TickSeries()
        self._history_cum = np.zeros(0, np.int64)
        self._caught, self._caught_cum = [], set()
        self.max_cum = -1

    def offer_catch_up(self, ev: dict[str, Any]) -> bool:
        """A trade read in the catch-up range: kept (True) unless the history or catch-up has it."""
        day = ev["exchange_ts"] // 86_400
        if day < self.day:
            self.dropped += 1
            return False
        if day > self.day:
            self._new_day(day)
        cum = int(ev["volume"])
        hc = self._history_cum
        i = int(np.searchsorted(hc, cum))
        if (i < len(hc) and hc[i] == cum) or cum in self._caught_cum:
            self.dropped += 1
            return False
        self._caught_cum.add(cum)
        self._caught.append(
            (cum, float(ev["ltp"]), int(ev["qty"]), SIDE_CODES.get(ev.get("side"), 0), int(ev["exchange_ts"]),
             rule_of(ev.get("rule")))
        )
        return True

    def finish_catch_up(self) -> TickSeries:
        """History plus the kept catch-up trades in cumulative-volume order; the seam turns live."""
        caught = sorted(self._caught)
        if caught:
            if caught[0][0] > self.max_cum:
                self.ticks.extend(*zip(*caught, strict=True))
            else:  # out-of-order commits (several writer consumers): merge by volume
                merged = TickSeries(len(self.ticks) + len(caught))
                old = self.ticks
                cols = [
                    np.concatenate((getattr(old, n), np.asarray(c)))
                    for n, c in zip(
                        ("cum_volume", "price", "qty", "side", "exchange_ts", "rule"), zip(*caught, strict=True),
                        strict=True,
                    )
                ]
                order = np.argsort(cols[0], kind="stable")
                merged.extend(*(c[order] for c in cols))
                self.ticks = merged
            self.max_cum = max(self.max_cum, caught[-1][0])
        self._caught, self._caught_cum, self._history_cum = [], set(), np.zeros(0, np.int64)
        self.catching_up = False
        return self.ticks

    def offer_live(self, ev: dict[str, Any]) -> str:
        """``"add"`` (append it), ``"new_day"`` (reset the view, then append), or ``"drop"``."""
        day = ev["exchange_ts"] // 86_400
        if day < self.day:
            self.dropped += 1
            return "drop"
        verdict = "add"
        if day > self.day:
            self._new_day(day)
            verdict = "new_day"
        cum = int(ev["volume"])
        if cum <= self.max_cum:
            self.dropped += 1
            return "drop"
        self.max_cum = cum
        return verdict


@dataclass(slots=True)
class TickLoad:
    seam: TickSeam
    ticks: TickSeries
    resume_id: bytes
    history_rows: int
    caught_up: int
    position: StreamPosition | None


_ASK_WRITER = StreamPosition(b"", False)


async def load_ticks(
    redis: aioredis.Redis,
    pool: aiomysql.Pool,
    keys: Keys,
    seg: str,
    sid: int,
    today: date,
    *,
    position: StreamPosition | None = _ASK_WRITER,
) -> TickLoad:
    """Steps 1-3 of the recipe for one instrument: history plus catch-up, and where live reading resumes.

    The session is ``today``; when MySQL holds nothing for today but an earlier day, that last session is
    shown (a trade of a later day then starts the new session). ``position``: step 1 already taken.
    """
    pos = await writer_position(redis, keys.ticks) if position is _ASK_WRITER else position
    trade_date = today
    last = await history.latest_trade_date(pool, seg, sid)
    if last is not None and last < today:
        trade_date = last
    hist = await history.fetch_ticks(pool, seg, sid, trade_date)
    history_rows = len(hist)
    seam = TickSeam(seg, sid, date_day(trade_date), hist)
    needle = sid_needle(sid)
    last_read: bytes | None = None
    caught = 0
    start, inclusive = (pos.entry_id, pos.inclusive) if pos is not None else (b"0-0", False)
    async for entries in read_range(redis, keys.ticks, start, inclusive=inclusive):
        last_read = entries[-1][0]
        for _, payload in entries:
            if payload is None or needle not in payload:
                continue
            try:
                ev = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            if seam.matches(ev) and seam.offer_catch_up(ev):
                caught += 1
    ticks = seam.finish_catch_up()
    return TickLoad(seam, ticks, resume_id(pos, last_read), history_rows, caught, pos)


async def catch_up_latest(
    redis: aioredis.Redis,
    stream: str,
    pos: StreamPosition | None,
    apply: Callable[[list[StreamEntry]], None],
    *,
    fallback_entries: int = LATEST_FALLBACK_ENTRIES,
) -> bytes:
    """Apply a latest-state stream from the writer's position (or its newest entries); returns the resume id."""
    if pos is None:
        entries = await read_tail(redis, stream, fallback_entries)
        if entries:
            apply(entries)
            return entries[-1][0]
        return b"0-0"
    last_read: bytes | None = None
    async for entries in read_range(redis, stream, pos.entry_id, inclusive=pos.inclusive):
        apply(entries)
        last_read = entries[-1][0]
    return resume_id(pos, last_read)
