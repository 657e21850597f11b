"""Time in one place: our receive time, Dhan's shifted exchange epoch, IST for the edges.

Dhan's LTT (and every exchange time in the v2 binary feed) is IST wall-clock time counted as if it were UTC:
the value is the true epoch plus 5 h 30 min. We keep it verbatim as ``exchange_ts`` and convert here only.
The simulator produces its exchange times with :func:`to_dhan_epoch`, the same convention as Dhan.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

__all__ = [
    "IST",
    "IST_OFFSET_S",
    "Clock",
    "day_bounds",
    "dhan_epoch_to_ist",
    "dhan_epoch_to_utc_epoch",
    "ist_now",
    "ist_trading_day",
    "system_clock",
    "to_dhan_epoch",
]

IST_OFFSET_S = 19_800  # +05:30
IST = timezone(timedelta(seconds=IST_OFFSET_S), "IST")

Clock = Callable[[], float]
"""A source of epoch seconds (float); injected so tests and replays control time."""

system_clock: Clock = time.time


def dhan_epoch_to_utc_epoch(exchange_ts: int) -> int:
    """Dhan's shifted epoch (IST wall time as if UTC) -> true Unix epoch seconds."""
    return exchange_ts - IST_OFFSET_S


def to_dhan_epoch(utc_epoch: float) -> int:
    """True Unix epoch -> Dhan's shifted whole-second epoch (what the simulator puts on the wire)."""
    return int(utc_epoch) + IST_OFFSET_S


def dhan_epoch_to_ist(exchange_ts: int) -> datetime:
    """Dhan's shifted epoch -> aware IST datetime (for ``*_ist`` columns and the UI)."""
    return datetime.fromtimestamp(exchange_ts, UTC).replace(tzinfo=IST)


def ist_now(clock: Clock = system_clock) -> datetime:
    return datetime.fromtimestamp(clock(), IST)


def ist_trading_day(utc_epoch: float) -> date:
    """Calendar day in IST of a true epoch (the trading day for NSE and MCX sessions)."""
    return datetime.fromtimestamp(utc_epoch, IST).date()


def day_bounds(day: date) -> tuple[float, float]:
    """True epoch seconds of an IST day's midnight and of the next one: the day is ``[start, end)``."""
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=IST)
    return midnight.timestamp(), (midnight + timedelta(days=1)).timestamp()
