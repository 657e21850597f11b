"""The gap ledger on the charts (Qt-free): a status-line summary and the x ranges of the shaded bands.

Charts draw time on an index axis (tick bars, period columns) or on a plain time axis (market breadth).
:class:`Slots` says where time sits on such an axis: slot ``i`` covers Dhan exchange times ``[t0[i], t1[i])``
drawn over ``[x0[i], x1[i]]``. A time inside a slot maps linearly into it; a time between two slots (no data
then, the usual place of an outage) maps to the seam between them; a time before the first or after the last
slot maps to that edge. :func:`gap_bands` turns gaps into :class:`Band` ranges and widens each to at least
``min_width``, so a hole between two bars is a narrow band at their seam instead of nothing.

Gaps are stored in true epoch seconds (``shared.gaps``); charts count Dhan's exchange time (IST wall clock
as if UTC), so times are shifted by ``IST_OFFSET_S`` here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.clock import IST, IST_OFFSET_S
from shared.gaps import Gap

__all__ = [
    "Band",
    "Slots",
    "bar_slots",
    "describe_gap",
    "gap_bands",
    "gap_summary",
    "holes",
    "period_slots",
    "span_slots",
]

F64 = npt.NDArray[np.float64]


def _hms(ts: float) -> str:
    return datetime.fromtimestamp(ts, IST).strftime("%H:%M:%S")


def holes(gaps: Sequence[Gap]) -> list[Gap]:
    """Gaps that are holes: zero-length ``universe_in`` markers (an instrument entering) are not."""
    return [g for g in gaps if g.kind != "universe_in"]


def gap_summary(gaps: Sequence[Gap], now: float, since: float | None = None) -> str:
    """``""`` without gaps; else e.g. ``"GAPS today: 2 (47 s), last disconnect 10:31:05-10:31:20"``.

    Zero-length ``universe_in`` markers (an instrument entering the window) are not holes and are skipped;
    a gap still open says so, since data is missing right now. Seconds are counted from ``since`` (today's
    midnight) when given, so a gap open since an earlier day adds only today's part."""
    found = holes(gaps)
    if not found:
        return ""
    total_s = sum(
        max(0.0, (g.end_ts if g.end_ts is not None else now) - max(g.start_ts, since or g.start_ts)) for g in found
    )
    last = max(found, key=lambda g: g.start_ts)
    end = _hms(last.end_ts) if last.end_ts is not None else "now (OPEN)"
    return f"GAPS today: {len(found)} ({total_s:,.0f} s), last {last.kind} {_hms(last.start_ts)}-{end}"


def describe_gap(gap: Gap, now: float) -> str:
    """One line for a band's tooltip: kind, IST times, length, connection and reason."""
    end = _hms(gap.end_ts) if gap.end_ts is not None else "now (OPEN)"
    length_s = max(0.0, (gap.end_ts if gap.end_ts is not None else now) - gap.start_ts)
    where = "whole feed" if gap.seg is None else f"{gap.seg}:{gap.sid}"
    text = f"{gap.kind} {_hms(gap.start_ts)}-{end} ({length_s:,.0f} s), {where}"
    if gap.conn is not None:
        text += f", conn {gap.conn}"
    return text + (f": {gap.reason}" if gap.reason else "")


@dataclass(frozen=True, slots=True)
class Slots:
    """Where Dhan exchange time sits on a chart's x axis (see the module docstring); ``t0`` ascending."""

    t0: F64
    t1: F64
    x0: F64
    x1: F64

    def __len__(self) -> int:
        return len(self.t0)

    def x_of(self, t: float) -> float:
        """The x of exchange time ``t``: inside a slot, linear; between two, their seam; outside, the edge."""
        i = int(np.searchsorted(self.t0, t, side="right")) - 1  # the last slot starting at or before t
        if i < 0:
            return float(self.x0[0])
        if t < self.t1[i]:
            span = float(self.t1[i] - self.t0[i])
            frac = (t - float(self.t0[i])) / span if span > 0 else 0.0
            return float(self.x0[i] + frac * (self.x1[i] - self.x0[i]))
        if i + 1 < len(self.t0):
            return float(self.x1[i] + self.x0[i + 1]) / 2.0
        return float(self.x1[i])


def _f64(values: Any) -> F64:
    return np.asarray(values, dtype=np.float64)


def bar_slots(start_ts: Any, end_ts: Any) -> Slots:
    """Bars at x = 0, 1, ... (drawn ±0.5) from their first and last trade's exchange second.

    A trade stamped second ``T`` happened in ``[T, T + 1)``, so a bar covers up to its last second's end.
    Trades arrive in order but exchange seconds may step back by one; starts are made non-decreasing."""
    t0 = np.maximum.accumulate(_f64(start_ts)) if len(start_ts) else _f64(start_ts)
    t1 = np.maximum(_f64(end_ts) + 1.0, t0)
    x = np.arange(len(t0), dtype=np.float64)
    return Slots(t0, t1, x - 0.5, x + 0.5)


def period_slots(start_ts: Any, period_s: int) -> Slots:
    """Period columns at ``[k, k + 1)``: column ``k`` covers ``[start_ts[k], start_ts[k] + period_s)``."""
    t0 = _f64(start_ts)
    x = np.arange(len(t0), dtype=np.float64)
    return Slots(t0, t0 + float(period_s), x, x + 1.0)


def span_slots(t_first: float, t_last: float) -> Slots:
    """A plain time axis (x = exchange time) over the data's span ``[t_first, t_last]``."""
    t = _f64([t_first]), _f64([max(t_first, t_last)])
    return Slots(t[0], t[1], t[0], t[1])


@dataclass(frozen=True, slots=True)
class Band:
    """A gap's shaded x range on one chart; ``is_open``: still missing now (drawn stronger)."""

    x0: float
    x1: float
    kind: str
    is_open: bool
    text: str


def gap_bands(
    gaps: Sequence[Gap], slots: Slots, now: float, *, min_width: float, open_tail: float = 0.0
) -> list[Band]:
    """The bands of ``gaps`` (true epoch seconds) on an axis laid out by ``slots``, oldest first.

    An open gap runs to ``now``; when that is past the last slot it reaches ``open_tail`` further right (the
    room a chart keeps after its newest bar). Without slots (no data drawn) there is nothing to place."""
    if not len(slots):
        return []
    right = float(slots.x1[-1])
    out = []
    for g in sorted(holes(gaps), key=lambda g: g.start_ts):
        end = g.end_ts if g.end_ts is not None else max(now, g.start_ts)
        x0 = slots.x_of(g.start_ts + IST_OFFSET_S)
        x1 = slots.x_of(end + IST_OFFSET_S)
        if g.end_ts is None and x1 >= right:
            x1 = right + open_tail
        if x1 - x0 < min_width:
            mid = (x0 + x1) / 2.0
            x0, x1 = mid - min_width / 2.0, mid + min_width / 2.0
        out.append(Band(x0, x1, g.kind, g.end_ts is None, describe_gap(g, now)))
    return out
