"""When the scheduled services run (pure): the trading day's window from the calendar and two settings.

A trading day's run window starts at ``start_at`` (08:55 IST by default) or five minutes before the day's
first session opens, whichever is earlier, and ends ``stop_after_s`` after its last session closes (so the
writer can drain what the feed published last). Days without a session have no window. The window of the day
before is looked at too, because an MCX evening session plus the grace can end after midnight.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from shared.calendar import TradingCalendar
from shared.clock import IST

__all__ = ["LEAD_MIN_S", "Plan", "make_plan", "parse_services"]

LEAD_MIN_S = 300.0      # start at least this long before the first open
_HORIZON_DAYS = 15


@dataclass(frozen=True, slots=True)
class Plan:
    """``running``: the services should run now. ``start``/``stop``: the current or next window."""

    running: bool
    start: datetime | None
    stop: datetime | None

    def describe(self) -> str:
        if self.start is None or self.stop is None:
            return f"no trading day within {_HORIZON_DAYS} days"
        fmt = "%a %d %b %H:%M IST"
        if self.running:
            return f"running until {self.stop.strftime(fmt)}"
        return f"next start {self.start.strftime(fmt)}, stop {self.stop.strftime(fmt)}"


def make_plan(cal: TradingCalendar, now_utc: float, exchanges: tuple[str, ...], start_at: str,
              stop_after_s: float) -> Plan:
    now = datetime.fromtimestamp(now_utc, IST)
    hh, mm = start_at.split(":")
    start_time = time(int(hh), int(mm))
    for offset in range(-1, _HORIZON_DAYS):
        day = now.date() + timedelta(days=offset)
        span = cal.day_span(day, exchanges)
        if span is None:
            continue
        first_open, last_close = span
        start = min(datetime.combine(day, start_time, IST), first_open - timedelta(seconds=LEAD_MIN_S))
        stop = last_close + timedelta(seconds=stop_after_s)
        if now < stop:
            return Plan(start <= now, start, stop)
    return Plan(False, None, None)


def parse_services(text: str) -> tuple[str, ...]:
    """``"feed, writer"`` -> ``("feed", "writer")`` (order kept, blanks and repeats dropped)."""
    out: list[str] = []
    for part in text.split(","):
        name = part.strip()
        if name and name not in out:
            out.append(name)
    return tuple(out)
