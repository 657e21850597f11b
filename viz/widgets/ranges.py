"""Sticky view ranges: move a chart's range only when the data leaves it (or it has grown far too loose).

pyqtgraph re-renders an axis (tick layout and every label) whenever its range changes, which costs several
milliseconds per axis; re-fitting the range to the data on every frame would pay that 30 times a second.
A sticky range keeps headroom, so growth inside it costs nothing until the data reaches the edge.
"""

from __future__ import annotations

import pyqtgraph as pg

__all__ = ["stick_view", "sticky_range"]


def sticky_range(
    current: tuple[float, float],
    lo: float,
    hi: float,
    *,
    headroom: float = 0.1,
    slack: float = 3.0,
    floor: float | None = None,
) -> tuple[float, float] | None:
    """The new ``(lo, hi)`` to show ``[lo, hi]``, or None to keep ``current``.

    Kept while the data is inside it and ``current`` is at most ``slack`` times the data's span; else the
    data's span plus ``headroom`` on each side (never below ``floor`` when given, e.g. 0 for volumes).
    """
    span = max(hi - lo, abs(hi) * 1e-6, 1e-9)
    c_lo, c_hi = current
    if c_lo <= lo and hi <= c_hi and (c_hi - c_lo) <= slack * span * (1 + 2 * headroom):
        return None
    new_lo, new_hi = lo - span * headroom, hi + span * headroom
    if floor is not None:
        new_lo = max(floor, new_lo)
    return new_lo, new_hi


def stick_view(
    plot: pg.PlotItem,
    *,
    x: tuple[float, float] | None = None,
    y: tuple[float, float] | None = None,
    headroom: float = 0.1,
    x_floor: float | None = None,
    y_floor: float | None = None,
) -> bool:
    """Apply :func:`sticky_range` to a plot's x and/or y; True when the view moved."""
    (cx, cy) = plot.getViewBox().viewRange()
    moved = False
    if x is not None:
        nx = sticky_range((cx[0], cx[1]), *x, headroom=headroom, floor=x_floor)
        if nx is not None:
            plot.setXRange(*nx, padding=0)
            moved = True
    if y is not None:
        ny = sticky_range((cy[0], cy[1]), *y, headroom=headroom, floor=y_floor)
        if ny is not None:
            plot.setYRange(*ny, padding=0)
            moved = True
    return moved
