"""The volume-profile chart's previous sessions: its Days control, the sessions loaded, their lines.

Yesterday's POC, VAH and VAL run across the whole chart (dashed, labelled ``yPOC``/``yVAH``/``yVAL``); each
naked POC of an earlier session (:class:`~viz.models.prior_sessions.PriorSessions`) runs from the left edge to
the end of the period column whose trade first reached it today, or to the right edge while it stays naked
(dotted, labelled with its session's date). The levels follow the chart's row size and value-area rule: a
change of either rebuilds them (:meth:`PriorLevels.rebuild`, called by the window's own rebuild) and touches
them again with the session's trades so far; live trades touch them as they arrive (:meth:`PriorLevels.add`).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import date
from typing import Any

import aiomysql

from viz.data.catalog import Instrument
from viz.data.prior import fetch_prior_days
from viz.models import fmt
from viz.models.prior_sessions import PriorDay, PriorSessions
from viz.widgets.prior_marks import LevelLine, LevelMarks
from viz.widgets.profile_layers import ROW_FILL
from viz.windows.prior_days import PriorDays

__all__ = ["PriorLevels"]

LEFT_EDGE = -0.2  # the chart's left edge (x of the first period column's left side, less its margin)


async def _load(pool: aiomysql.Pool, inst: Instrument, days: list[date]) -> list[PriorDay]:
    return await fetch_prior_days(pool, inst.seg, inst.sid, days, inst.tick_size)


class PriorLevels:
    """Owned by the volume-profile chart (``window.model``, ``window.ticks``, ``window.plot``)."""

    def __init__(self, window: Any) -> None:
        self._w = window
        self.days: PriorDays[PriorDay] = PriorDays(window, _load, self._loaded)
        self._loaded_for: tuple[str, list[PriorDay]] | None = None  # (instrument key, its sessions)
        self.sessions: PriorSessions | None = None
        self._marks: LevelMarks | None = None  # made on the first paint (the plot exists by then)

    def _loaded(self, days: list[PriorDay]) -> None:
        inst = self._w.instrument
        self._loaded_for = (inst.key, days) if inst is not None else None
        self.rebuild()

    def rebuild(self) -> None:
        """New levels for the chart's row size and rule, touched by the session's trades so far."""
        w, loaded = self._w, self._loaded_for
        if w.model is None or w.instrument is None or loaded is None or loaded[0] != w.instrument.key:
            self.sessions = None
            return
        self.sessions = PriorSessions(loaded[1], w.model.ticks_per_row, method=w.model.method,
                                      fraction=w.model.fraction)
        if len(w.ticks):
            self.sessions.touch(w.ticks.price, w.ticks.exchange_ts)

    def add(self, events: Sequence[dict[str, Any]]) -> None:
        if self.sessions is not None and events:
            self.sessions.touch([e["ltp"] for e in events], [e["exchange_ts"] for e in events])

    def lines(self, period_starts: Sequence[int], x_right: float, decimals: int,
              label_x: float | None = None) -> list[LevelLine]:
        """The lines to draw: period columns ``k`` start at the exchange times ``period_starts``; labels end at
        ``label_x`` (default ``x_right``), or earlier where a line ends earlier."""
        label_x = x_right if label_x is None else label_x
        sessions = self.sessions
        if sessions is None:
            return []
        out = []
        mid, top = sessions.row * ROW_FILL / 2, sessions.row * ROW_FILL  # drawn where the chart marks its own
        y = sessions.yesterday
        if y is not None:
            for price, at, kind, name in ((y.poc, mid, "poc", "yPOC"), (y.vah, top, "value", "yVAH"),
                                          (y.val, 0.0, "value", "yVAL")):
                out.append(LevelLine(price + at, LEFT_EDGE, x_right, kind, f"{name} {fmt.price(price, decimals)}",
                                     label_x))
        for line in sessions.naked_lines():
            end = x_right
            if isinstance(line.touched_at, int):  # a trade of today (PriorSessions touches with exchange times)
                end = float(max(1, bisect.bisect_right(period_starts, line.touched_at)))  # its column's end
            out.append(LevelLine(line.price + mid, LEFT_EDGE, end, "naked",
                                 f"nPOC {line.day:%d %b} {fmt.price(line.price, decimals)}", min(end, label_x)))
        return out

    def y_range(self, low: float, high: float) -> tuple[float, float]:
        """Today's price range ``low..high`` widened to hold yesterday's value area and the naked POCs within
        one such range of it (the view follows them too)."""
        sessions = self.sessions
        if sessions is None:
            return low, high
        span = high - low
        near = [line.price for line in sessions.naked_lines()
                if line.touched_at is None and low - span <= line.price <= high + span]
        y = sessions.yesterday
        if y is not None:
            near += [y.val, y.vah]
        if not near:
            return low, high
        return min(low, *near), max(high, max(near) + sessions.row)

    def set_visible(self, on: bool) -> None:
        if self._marks is not None:
            self._marks.set_visible(on)

    def paint(self, period_starts: Sequence[int], x_right: float, label_x: float) -> None:
        w = self._w
        if self._marks is None:
            self._marks = LevelMarks(w.plot)
        decimals = fmt.display_decimals(w.instrument.tick_size) if w.instrument is not None else 2
        self._marks.set_lines(self.lines(period_starts, x_right, decimals, label_x), w.theme)
