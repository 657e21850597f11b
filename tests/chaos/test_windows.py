"""Per-fault windows of a chaos run (pure): every trade in exactly one window, by its journal receive time."""

from __future__ import annotations

import pytest

from control.chaos.windows import AFTER, BEFORE, count_by_window, window_bounds, window_index

SPANS = [(100.0, 104.0), (105.0, 109.5), (110.0, 112.0)]  # (fault start, recovery confirmed)
FAULTS = ["feed SIGKILL", "writer SIGKILL", "dhan drop"]


def test_a_window_runs_from_its_fault_to_the_next_fault_and_the_last_to_its_recovery() -> None:
    assert window_bounds(SPANS) == [100.0, 105.0, 110.0, 112.0]
    windows = count_by_window(FAULTS, SPANS, [])
    assert [(w.name, w.start_ts, w.end_ts) for w in windows] == [
        (BEFORE, float("-inf"), 100.0), ("feed SIGKILL", 100.0, 105.0), ("writer SIGKILL", 105.0, 110.0),
        ("dhan drop", 110.0, 112.0), (AFTER, 112.0, float("inf")),
    ]


def test_boundaries_belong_to_the_window_they_open() -> None:
    bounds = window_bounds(SPANS)
    assert [window_index(bounds, ts) for ts in (99.999, 100.0, 104.5, 105.0, 109.99, 110.0, 112.0, 1e12)] == [
        0, 1, 1, 2, 2, 3, 4, 4]


def test_trades_lost_and_duplicated_are_counted_where_their_frame_arrived() -> None:
    events = [50.0, 100.0, 101.0, 104.9, 105.0, 111.0, 112.0, 130.0, 131.0]
    windows = count_by_window(FAULTS, SPANS, events, lost_ts=[101.0, 104.9, 131.0], duplicated_ts=[111.0])
    assert [(w.name, w.events, w.lost, w.duplicated) for w in windows] == [
        (BEFORE, 1, 0, 0), ("feed SIGKILL", 3, 2, 0), ("writer SIGKILL", 1, 0, 0), ("dhan drop", 1, 0, 1),
        (AFTER, 3, 1, 0),
    ]
    assert sum(w.events for w in windows) == len(events)


def test_without_faults_one_window_holds_the_whole_run() -> None:
    (whole,) = count_by_window([], [], [1.0, 2.0], lost_ts=[2.0])
    assert (whole.name, whole.events, whole.lost, whole.duplicated) == ("whole run", 2, 1, 0)


def test_windows_going_back_in_time_are_refused() -> None:
    with pytest.raises(ValueError, match="follow each other"):
        window_bounds([(100.0, 104.0), (103.0, 106.0)])  # the second began before the first recovered
    with pytest.raises(ValueError, match="follow each other"):
        window_bounds([(100.0, 99.0)])
    with pytest.raises(ValueError, match="one span per fault"):
        count_by_window(["a"], [], [])
