"""Per-fault accounting of a chaos run (pure): the run's wall-clock time cut into one window per fault.

A fault's window opens just before it is injected and runs to the next fault's start; the last fault's
window closes when its recovery was confirmed. ``before first fault`` and ``after last fault`` take the rest,
so the windows tile the whole time line and every trade falls in exactly one. A trade belongs to the window
holding the journal receive time (epoch s) of the frame that carried it: the trades journaled there
(``events``), those of them missing from MySQL (``lost``) and those stored more than once (``duplicated``).
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["AFTER", "BEFORE", "WindowCounts", "count_by_window", "window_bounds", "window_index"]

BEFORE = "before first fault"
AFTER = "after last fault"


@dataclass(slots=True)
class WindowCounts:
    name: str
    start_ts: float        # epoch s, inclusive (-inf for the first window)
    end_ts: float          # epoch s, exclusive (+inf for the last)
    events: int = 0
    lost: int = 0
    duplicated: int = 0


def window_bounds(spans: Sequence[tuple[float, float]]) -> list[float]:
    """The boundaries between windows for faults given in order as ``(start_ts, recovered_ts)``: each fault's
    start, then the last fault's recovery. ValueError when a fault starts before the previous one recovered
    or recovers before it started."""
    times = [ts for span in spans for ts in span]  # start, recovered, next start, ...
    if any(b < a for a, b in itertools.pairwise(times)):
        raise ValueError("fault windows must follow each other in time")
    return [start for start, _ in spans] + [spans[-1][1]] if spans else []


def window_index(bounds: Sequence[float], ts: float) -> int:
    """0 before the first fault, i + 1 in fault i's window, ``len(bounds)`` after the last fault."""
    return bisect_right(bounds, ts)


def count_by_window(
    faults: Sequence[str], spans: Sequence[tuple[float, float]], events_ts: Iterable[float],
    lost_ts: Iterable[float] = (), duplicated_ts: Iterable[float] = (),
) -> list[WindowCounts]:
    """``[before first fault, one per fault, after last fault]`` with the trades counted in each (see the
    module docstring); without faults, one ``whole run`` window."""
    if len(faults) != len(spans):
        raise ValueError("one span per fault")
    bounds = window_bounds(spans)
    names = [BEFORE, *faults, AFTER] if faults else ["whole run"]
    edges = [float("-inf"), *bounds, float("inf")]
    out = [WindowCounts(name, edges[i], edges[i + 1]) for i, name in enumerate(names)]
    for ts in events_ts:
        out[window_index(bounds, ts)].events += 1
    for ts in lost_ts:
        out[window_index(bounds, ts)].lost += 1
    for ts in duplicated_ts:
        out[window_index(bounds, ts)].duplicated += 1
    return out
