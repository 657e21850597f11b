"""Hostile holiday calendars (``DHAN_SCHEDULER_HOLIDAYS_FILE``): a bounded read, every entry checked when the
file is loaded (not on the day it is looked up), a one-line ConfigError naming the file."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from shared.calendar import DEFAULT_FILE, MAX_FILE_BYTES, TradingCalendar
from shared.errors import ConfigError
from tests.child import clean_env, run_dhan


def shipped() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEFAULT_FILE.read_text())
    return data


def _with(**changes: Any) -> bytes:
    return json.dumps({**shipped(), **changes}).encode()


SPECIAL = {"NSE": {"2026-02-01": {"name": "Budget"}}}  # no open/close: windows() would raise on that Sunday
HOSTILE: dict[str, bytes] = {
    "larger than the cap": json.dumps(shipped()).encode() + b" " * MAX_FILE_BYTES,  # valid, padded
    "nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "year 1e400": _with(years=[1e400]),  # json reads Infinity; int() of it overflows
    "year 10**30": _with(years=[10**30]),
    "special session without times": _with(special_sessions=SPECIAL),
    "holiday without a name": _with(holidays={"NSE": {"2026-01-26": {"closed": "all"}}}),
    "holiday closed at noon": _with(holidays={"MCX": {"2026-01-26": {"name": "X", "closed": "noon"}}}),
    "NSE without a close": _with(sessions={"NSE": {"open": "09:15"}, "MCX": shipped()["sessions"]["MCX"]}),
    "a list": b"[1, 2, 3]",
    "not UTF-8": b'{"about": "\xff\xfe"}',
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_calendar_is_a_one_line_config_error_at_load(tmp_path: Path, case: str) -> None:
    path = tmp_path / "holidays.json"
    path.write_bytes(HOSTILE[case])
    with pytest.raises(ConfigError) as err:
        TradingCalendar.load(path)
    text = str(err.value)
    assert str(path) in text and "\n" not in text and len(text) < 400, text


def test_paths_that_are_no_calendar_file_are_one_line(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)  # open() would wait for a writer forever
    for path in (fifo, tmp_path, tmp_path / "missing.json"):
        with pytest.raises(ConfigError, match="cannot read the holiday calendar") as err:
            TradingCalendar.load(path)
        assert "\n" not in str(err.value)


def test_the_shipped_calendar_and_its_special_session_still_load() -> None:
    cal = TradingCalendar.load()
    assert [w.name for w in cal.windows(date(2026, 2, 1), "NSE")] == ["Union Budget (Sunday session)"]
    assert cal.holiday(date(2026, 1, 26), "MCX") == "Republic Day"


@pytest.mark.parametrize("case", ["nested 100,000 deep", "year 1e400", "special session without times"])
def test_dhan_scheduler_show_with_a_hostile_file_is_one_line(tmp_path: Path, case: str) -> None:
    path = tmp_path / "holidays.json"
    path.write_bytes(HOSTILE[case])
    done = run_dhan(["scheduler", "--show"], cwd=tmp_path, env=clean_env(DHAN_SCHEDULER_HOLIDAYS_FILE=str(path)))
    assert done.one_line_error() and done.code == 2 and "holiday calendar" in done.err, done
