"""``dhan verify``'s candle check: ``dhan_candles_1m`` equals its recomputation from ``dhan_ticks``.

For each (instrument, trading day) of the journal, the stored one-minute rows are compared with
:data:`shared.candles_sql.CANDLES_FROM_TICKS` (every column from ``minute_ts`` on but the readable
``minute_ist``): a row missing, extra or different on either side makes the instrument-day a mismatch, reported
with its first differing minute. The writer keeps the table in the ticks' transaction, so a mismatch means rows
changed behind its back (or a writer bug); ``--repair`` recomputes those instrument-days
(``writer.sql.candle_recompute``), as it does for every instrument-day whose ticks it refilled.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from control.audit.journal_scan import TickKey, day_text
from shared.candles_sql import CANDLE_COLUMNS, CANDLE_TABLE, CANDLES_FROM_TICKS

__all__ = ["STORED_CANDLES", "CandleCheck", "check_candles"]

STORED_CANDLES = (
    f"SELECT {', '.join(CANDLE_COLUMNS[3:4] + CANDLE_COLUMNS[5:])} FROM {CANDLE_TABLE} "
    "WHERE exchange_segment = %(segment)s AND security_id = %(security_id)s AND trade_date = %(trade_date)s "
    "ORDER BY minute_ts"
)


class CandleCheck:
    """Counts of :func:`check_candles`: instrument-days checked, those that differ (keys and examples)."""

    __slots__ = ("bad_keys", "checked", "examples", "minutes")

    def __init__(self) -> None:
        self.checked = 0
        self.minutes = 0  # stored one-minute rows compared
        self.bad_keys: list[TickKey] = []
        self.examples: list[str] = []


def _first_difference(stored: list[tuple[Any, ...]], expected: list[tuple[Any, ...]]) -> str:
    by_minute = {r[0]: r for r in stored}
    want = {r[0]: r for r in expected}
    for minute in sorted(by_minute.keys() | want.keys()):
        if by_minute.get(minute) != want.get(minute):
            return f"minute_ts {minute}: stored {by_minute.get(minute)}, recomputed {want.get(minute)}"
    return "no difference"


async def check_candles(cur: Any, keys: Iterable[TickKey], examples_max: int = 10) -> CandleCheck:
    """Compare the stored candles of each ``(segment, security id, day number)`` with the recomputation."""
    out = CandleCheck()
    for seg, sid, day in keys:
        params = {"segment": seg, "security_id": sid, "trade_date": day_text(day)}
        await cur.execute(CANDLES_FROM_TICKS, params)
        expected = [tuple(r) for r in await cur.fetchall()]
        await cur.execute(STORED_CANDLES, params)
        stored = [tuple(r) for r in await cur.fetchall()]
        out.checked += 1
        out.minutes += len(stored)
        if stored != expected:
            out.bad_keys.append((seg, sid, day))
            if len(out.examples) < examples_max:
                out.examples.append(f"{seg}:{sid} {day_text(day)} {_first_difference(stored, expected)}")
    return out
