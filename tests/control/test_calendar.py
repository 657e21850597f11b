"""Trading calendar and the scheduler's plan (pure): weekends, holidays, MCX half days, US-hours close."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from control.scheduler.plan import make_plan, parse_services
from shared.calendar import TradingCalendar
from shared.clock import IST
from shared.errors import ConfigError


def at(y: int, mo: int, d: int, h: int, mi: int = 0) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=IST).timestamp()


@pytest.fixture(scope="module")
def cal() -> TradingCalendar:
    return TradingCalendar.load()


def test_nse_regular_day(cal: TradingCalendar) -> None:
    (w,) = cal.windows(date(2026, 11, 25), "NSE")  # a Wednesday
    assert (w.open.hour, w.open.minute, w.close.hour, w.close.minute) == (9, 15, 15, 30)
    assert cal.status(at(2026, 11, 25, 9, 5), "NSE").status == "pre_open"
    assert cal.status(at(2026, 11, 25, 9, 15), "NSE").status == "open"
    assert cal.status(at(2026, 11, 25, 15, 29), "NSE").status == "open"
    st = cal.status(at(2026, 11, 25, 15, 30), "NSE")
    assert (st.status, st.reason) == ("closed", "after close")
    assert st.next_change == datetime(2026, 11, 26, 9, 0, tzinfo=IST)


def test_weekend_and_holiday(cal: TradingCalendar) -> None:
    assert cal.windows(date(2026, 11, 28), "NSE") == []          # Saturday
    st = cal.status(at(2026, 11, 28, 11), "NSE")
    assert (st.status, st.reason) == ("closed", "weekend")
    assert st.next_change == datetime(2026, 11, 30, 9, 0, tzinfo=IST)
    st = cal.status(at(2026, 12, 25, 11), "NSE")
    assert st.status == "closed" and st.reason == "holiday: Christmas"
    assert not cal.is_open(at(2026, 1, 26, 11), ("NSE", "MCX"))   # Republic Day: both closed


def test_special_sunday_session(cal: TradingCalendar) -> None:
    assert cal.status(at(2026, 2, 1, 10), "NSE").status == "open"   # Budget day, a Sunday
    assert cal.windows(date(2026, 2, 1), "MCX") == []


def test_mcx_half_days_and_us_hours_close(cal: TradingCalendar) -> None:
    (holi,) = cal.windows(date(2026, 3, 3), "MCX")                 # morning closed, evening open
    assert holi.open.hour == 17 and "Holi" in holi.name
    assert cal.status(at(2026, 3, 3, 11), "MCX").status == "closed"
    assert cal.status(at(2026, 3, 3, 18), "MCX").status == "open"
    (ny,) = cal.windows(date(2026, 1, 1), "MCX")                   # evening closed
    assert (ny.open.hour, ny.close.hour) == (9, 17)
    (summer,) = cal.windows(date(2026, 7, 1), "MCX")
    (winter,) = cal.windows(date(2026, 11, 25), "MCX")
    assert (summer.close.hour, summer.close.minute) == (23, 30)
    assert (winter.close.hour, winter.close.minute) == (23, 55)
    assert cal.status(at(2026, 11, 25, 23, 40), "MCX").status == "open"


def test_year_coverage(cal: TradingCalendar) -> None:
    assert cal.covers(2026) and not cal.covers(2027)


def test_plan_nse_day(cal: TradingCalendar) -> None:
    plan = make_plan(cal, at(2026, 11, 25, 8, 54), ("NSE",), "08:55", 300)
    assert not plan.running and plan.start == datetime(2026, 11, 25, 8, 55, tzinfo=IST)
    assert plan.stop == datetime(2026, 11, 25, 15, 35, tzinfo=IST)
    assert make_plan(cal, at(2026, 11, 25, 8, 55), ("NSE",), "08:55", 300).running
    assert make_plan(cal, at(2026, 11, 25, 15, 34), ("NSE",), "08:55", 300).running
    after = make_plan(cal, at(2026, 11, 25, 15, 35), ("NSE",), "08:55", 300)
    assert not after.running and after.start == datetime(2026, 11, 26, 8, 55, tzinfo=IST)
    # Friday after close -> Monday
    fri = make_plan(cal, at(2026, 11, 27, 16), ("NSE",), "08:55", 300)
    assert fri.start == datetime(2026, 11, 30, 8, 55, tzinfo=IST)
    assert "next start Mon 30 Nov 08:55 IST" in fri.describe()


def test_plan_with_mcx_runs_past_midnight(cal: TradingCalendar) -> None:
    # start no later than 5 min before MCX's 09:00 open; the stop is 00:00 after a 23:55 close + 5 min
    plan = make_plan(cal, at(2026, 11, 25, 12), ("NSE", "MCX"), "08:55", 300)
    assert plan.running and plan.start == datetime(2026, 11, 25, 8, 55, tzinfo=IST)
    assert plan.stop == datetime(2026, 11, 26, 0, 0, tzinfo=IST)
    late = make_plan(cal, at(2026, 11, 25, 23, 58), ("NSE", "MCX"), "08:55", 300)
    assert late.running
    assert make_plan(cal, at(2026, 11, 25, 9, 0), ("MCX",), "09:30", 0).start == \
        datetime(2026, 11, 25, 8, 55, tzinfo=IST)


def test_bad_calendar_is_one_line_config_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "h.json"
    bad.write_text('{"sessions": {"NSE": {"open": "9"}}}')
    with pytest.raises(ConfigError) as err:
        TradingCalendar.load(bad)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError):
        TradingCalendar.load(tmp_path / "missing.json")


def test_parse_services() -> None:
    assert parse_services(" feed, writer,,feed ") == ("feed", "writer")
