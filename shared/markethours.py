"""Market sessions in IST (NSE equity/F&O, MCX). Weekends closed; exchange holidays are the scheduler's.

Used where "in market hours" changes behaviour (the feed's stall watchdog; alert rules). The scheduler
adds the holiday calendar on top of these session times.
"""

from __future__ import annotations

from datetime import datetime, time

from shared.clock import IST

__all__ = ["SESSIONS", "is_market_open"]

SESSIONS: dict[str, tuple[time, time]] = {
    "NSE": (time(9, 0), time(15, 30)),   # pre-open 09:00-09:08, normal 09:15-15:30
    "MCX": (time(9, 0), time(23, 30)),
}
SEGMENT_EXCHANGE = {
    "IDX_I": "NSE", "NSE_EQ": "NSE", "NSE_FNO": "NSE", "NSE_CURRENCY": "NSE",
    "BSE_EQ": "NSE", "BSE_FNO": "NSE", "BSE_CURRENCY": "NSE", "MCX_COMM": "MCX",
}


def is_market_open(utc_epoch: float, exchanges: tuple[str, ...] = ("NSE",)) -> bool:
    now = datetime.fromtimestamp(utc_epoch, IST)
    if now.weekday() >= 5:
        return False
    t = now.time()
    return any(SESSIONS[e][0] <= t < SESSIONS[e][1] for e in exchanges if e in SESSIONS)
