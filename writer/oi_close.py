"""Rows of ``dhan_oi_close`` (007_oi_close.sql): each IST day's closing OI per instrument, from the quotes.

Every quote the writer stores that carries an OI also upserts its instrument's row for the IST day of its
receive time, forward-only in receive time (``writer.sql.oi_close_upsert``), in the same transaction as the
quote: the row follows the day's latest OI and, once the day is over, holds its close. Receive time rather
than exchange time: a quote's exchange time is its last trade's, days old for an option that has not traded.
"""

from __future__ import annotations

import time
from typing import Any

from shared.clock import IST_OFFSET_S
from writer.values import ts6

__all__ = ["oi_close_row"]


def oi_close_row(key: tuple[str, int], ev: dict[str, Any]) -> str:
    """The row of a quote already rendered (its segment literal and id in ``key``; oi and recv_ts checked)."""
    recv = ev["recv_ts"]
    t = time.gmtime(int(recv) + IST_OFFSET_S)
    return f"({key[0]},{key[1]:d},'{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}',{ev['oi']:d},{ts6(recv)})"
