"""NSE/MCX trading calendar (pure): sessions per day in IST, holidays from a data file, market status.

The one model of market hours: the scheduler starts and stops services by it, the monitor's market-hours rules
and the feed's stall watchdog ask it whether the market is in session (holidays included).

The data file (``data/holidays.json``, or ``DHAN_SCHEDULER_HOLIDAYS_FILE``) holds session times per exchange,
the years it covers, holidays and special sessions (a Sunday budget session). NSE: pre-open 09:00-09:15,
regular 09:15-15:30. MCX: 09:00 to 23:30, or 23:55 while New York is on standard time (MCX follows US
hours); a holiday may close only its morning (to 17:00) or only its evening session. A year the file does not
list is treated as weekends-only and :meth:`TradingCalendar.covers` says so.
"""

from __future__ import annotations

import errno
import json
import stat
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from shared.clock import IST
from shared.errors import ConfigError
from shared.settings import Settings

__all__ = [
    "DEFAULT_FILE", "EXCHANGES", "EXPIRY_TIME_IST", "MarketStatus", "TradingCalendar", "Window", "default_calendar",
    "session_exchanges", "year_fraction",
]

DEFAULT_FILE = Path(__file__).parent / "data" / "holidays.json"
EXCHANGES = ("NSE", "MCX")
_NEW_YORK = ZoneInfo("America/New_York")
EXPIRY_TIME_IST = time(15, 30)  # NSE derivatives expire at the close of their expiry day
SECONDS_PER_YEAR = 365.0 * 86400.0


# The shipped file is 2.5 KB for one year; decades of holidays stay far below. A bigger file is not a calendar.
MAX_FILE_BYTES = 1 << 20
_CLOSED = ("all", "morning", "evening")


def _hhmm(text: str) -> time:
    hh, mm = text.split(":")
    return time(int(hh), int(mm))


def _holiday(value: Any) -> dict[str, str]:
    """``"name"`` or ``{"name": ..., "closed": "all" | "morning" | "evening"}``, checked when loaded (not on
    the day it is looked up)."""
    h = value if isinstance(value, dict) else {"name": value}
    name, closed = h.get("name"), h.get("closed", "all")
    if not isinstance(name, str) or closed not in _CLOSED:
        raise ValueError(f"a holiday needs a name and closed all, morning or evening: {str(value)[:80]}")
    return {"name": name, "closed": closed}


def _special(value: Any) -> dict[str, str]:
    name = value.get("name", "special session")
    if not isinstance(name, str):
        raise ValueError(f"a special session's name must be text: {str(value)[:80]}")
    opens, closes = value["open"], value["close"]
    _hhmm(opens)  # checked when loaded, not on the day
    _hhmm(closes)
    return {"name": name, "open": opens, "close": closes}


def _year(value: Any) -> int:
    year = int(value)
    if not 1 <= year <= 9999:
        raise ValueError(f"year {year} out of range")
    return year


@dataclass(frozen=True, slots=True)
class Window:
    """One trading session of one exchange on one day (aware IST datetimes)."""

    exchange: str
    day: date
    open: datetime
    close: datetime
    name: str = "regular"
    pre_open: datetime | None = None


@dataclass(frozen=True, slots=True)
class MarketStatus:
    exchange: str
    status: str            # open | pre_open | closed
    reason: str            # "regular session", "weekend", a holiday's name, "after close", ...
    next_change: datetime | None


class TradingCalendar:
    """Sessions and holidays of NSE and MCX; every method is a pure function of its arguments."""

    def __init__(self, data: dict[str, Any]) -> None:
        try:
            self.sessions = {ex: {k: _hhmm(v) for k, v in s.items()} for ex, s in data["sessions"].items()}
            self.years = {_year(y) for y in data.get("years", [])}
            self.holidays: dict[str, dict[date, dict[str, str]]] = {
                ex: {date.fromisoformat(d): _holiday(v) for d, v in days.items()}
                for ex, days in data.get("holidays", {}).items()
            }
            self.special: dict[str, dict[date, dict[str, str]]] = {
                ex: {date.fromisoformat(d): _special(v) for d, v in days.items()}
                for ex, days in data.get("special_sessions", {}).items()
            }
        except (KeyError, ValueError, TypeError, AttributeError, OverflowError) as exc:
            raise ConfigError(f"holiday calendar is malformed: {type(exc).__name__}: {str(exc)[:200]}") from None
        for ex in EXCHANGES:
            if not {"open", "close"} <= self.sessions.get(ex, {}).keys():
                raise ConfigError(f"holiday calendar has no session times (open, close) for {ex}")

    @classmethod
    def load(cls, path: Path | None = None) -> TradingCalendar:
        """The calendar in ``path`` (default: the shipped one); a one-line ConfigError naming the file when it
        cannot be read, is larger than MAX_FILE_BYTES, or is not a calendar."""
        path = Path(path or DEFAULT_FILE)
        try:
            if not stat.S_ISREG(path.stat().st_mode):  # a directory, or a FIFO that open() would wait on
                raise OSError(errno.EINVAL, "not a regular file")
            with path.open("rb") as fh:
                raw = fh.read(MAX_FILE_BYTES + 1)
            if len(raw) > MAX_FILE_BYTES:
                raise ValueError(f"larger than {MAX_FILE_BYTES >> 10} KiB")
            data = json.loads(raw)
        except OSError as exc:
            raise ConfigError(f"cannot read the holiday calendar {path}: {exc.strerror or exc}") from None
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError; nesting too deep
            raise ConfigError(f"cannot read the holiday calendar {path}: {str(exc)[:200]}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"holiday calendar {path} is malformed: a JSON object expected")
        try:
            return cls(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    def covers(self, year: int) -> bool:
        return year in self.years

    def holiday(self, day: date, exchange: str) -> str | None:
        h = self.holidays.get(exchange, {}).get(day)
        return h["name"] if h else None

    def _at(self, day: date, t: time) -> datetime:
        return datetime.combine(day, t, IST)

    def _mcx_close(self, day: date) -> time:
        s = self.sessions["MCX"]
        noon_ny = datetime.combine(day, time(12), _NEW_YORK)
        winter = not noon_ny.dst()
        return s.get("close_us_winter", s["close"]) if winter else s["close"]

    def windows(self, day: date, exchange: str) -> list[Window]:
        """The sessions of ``exchange`` on ``day`` (empty on weekends and full holidays)."""
        special = self.special.get(exchange, {}).get(day)
        if special is not None:
            return [Window(exchange, day, self._at(day, _hhmm(special["open"])),
                           self._at(day, _hhmm(special["close"])), special.get("name", "special session"))]
        if day.weekday() >= 5:
            return []
        s = self.sessions[exchange]
        hol = self.holidays.get(exchange, {}).get(day)
        closed = hol["closed"] if hol else ""
        name = hol["name"] if hol else ""
        if closed == "all":
            return []
        if exchange == "NSE":
            pre = self._at(day, s["pre_open"]) if "pre_open" in s else None
            return [Window("NSE", day, self._at(day, s["open"]), self._at(day, s["close"]), "regular", pre)]
        close = self._mcx_close(day)
        evening = s.get("evening_open", time(17, 0))
        if closed == "morning":
            return [Window("MCX", day, self._at(day, evening), self._at(day, close),
                           f"evening only ({name})")]
        if closed == "evening":
            return [Window("MCX", day, self._at(day, s["open"]), self._at(day, evening),
                           f"morning only ({name})")]
        return [Window("MCX", day, self._at(day, s["open"]), self._at(day, close))]

    def day_span(self, day: date, exchanges: tuple[str, ...]) -> tuple[datetime, datetime] | None:
        """First open (pre-open counts) and last close over ``exchanges`` on ``day``; None when all closed."""
        ws = [w for ex in exchanges for w in self.windows(day, ex)]
        if not ws:
            return None
        return min(w.pre_open or w.open for w in ws), max(w.close for w in ws)

    def status(self, now_utc: float, exchange: str) -> MarketStatus:
        now = datetime.fromtimestamp(now_utc, IST)
        today = now.date()
        for w in self.windows(today, exchange):
            if w.pre_open is not None and w.pre_open <= now < w.open:
                return MarketStatus(exchange, "pre_open", "pre-open session", w.open)
            if w.open <= now < w.close:
                return MarketStatus(exchange, "open", f"{w.name} session", w.close)
        nxt = self.next_open(now_utc, exchange)
        if today.weekday() >= 5 and not self.windows(today, exchange):
            reason = "weekend"
        elif (name := self.holiday(today, exchange)) and not self.windows(today, exchange):
            reason = f"holiday: {name}"
        elif any(w.close <= now for w in self.windows(today, exchange)):
            reason = "after close"
        else:
            reason = "before open"
        return MarketStatus(exchange, "closed", reason, nxt)

    def next_open(self, now_utc: float, exchange: str, horizon_days: int = 15) -> datetime | None:
        now = datetime.fromtimestamp(now_utc, IST)
        for i in range(horizon_days):
            for w in self.windows(now.date() + timedelta(days=i), exchange):
                start = w.pre_open or w.open
                if start > now:
                    return start
        return None

    def is_open(self, now_utc: float, exchanges: tuple[str, ...]) -> bool:
        """True while any of ``exchanges`` is in its regular session (not pre-open)."""
        return any(self.status(now_utc, ex).status == "open" for ex in exchanges)

    def in_session(self, now_utc: float, exchanges: tuple[str, ...]) -> bool:
        """True while any of ``exchanges`` is in pre-open or its regular session: when data is expected."""
        return any(self.status(now_utc, ex).status in ("open", "pre_open") for ex in exchanges)


def session_exchanges(settings: Settings) -> tuple[str, ...]:
    """The exchanges whose sessions matter: NSE, and MCX when its futures are subscribed (``mcx_enabled``)."""
    return EXCHANGES if settings.universe.mcx_enabled else ("NSE",)


def year_fraction(expiry: date, at_utc_epoch: float, *, expiry_time: time = EXPIRY_TIME_IST) -> float:
    """Years from ``at_utc_epoch`` to the expiry day's close (15:30 IST for NSE); never negative."""
    end = datetime.combine(expiry, expiry_time, tzinfo=IST).timestamp()
    return max(0.0, (end - at_utc_epoch) / SECONDS_PER_YEAR)


_DEFAULT: TradingCalendar | None = None


def default_calendar() -> TradingCalendar:
    """The shipped calendar, read once per process (for code not handed one, e.g. a connection in a test)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = TradingCalendar.load(None)
    return _DEFAULT
