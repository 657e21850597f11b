"""The time axis of the volume-profile chart: one column per session period, labelled with its start (IST),
and the session profile's column after them; no ticks in TPO mode (letters run along x there)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg

from viz.models import fmt
from viz.models.periods import Period

__all__ = ["PeriodAxis"]


class PeriodAxis(pg.AxisItem):  # type: ignore[misc]
    """``periods`` gives the chart's periods now, ``session_x`` the session profile's column, ``tpo_on``
    whether the chart shows TPO letters (then the axis has no ticks)."""

    def __init__(self, periods: Callable[[], list[Period]], session_x: Callable[[], float],
                 tpo_on: Callable[[], bool]) -> None:
        super().__init__("bottom")
        self._periods = periods
        self._session_x = session_x
        self._tpo_on = tpo_on

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        periods = self._periods()
        out = []
        for v in values:
            k = int(np.floor(v + 1e-9))
            if 0 <= k < len(periods) and abs(v - k) < 1e-6:
                out.append(fmt.ist_time(periods[k].start_ts)[:5])
            elif periods and abs(v - self._session_x()) < 1e-6:
                out.append("   Session profile")
            else:
                out.append("")
        return out

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:
        if self._tpo_on():
            return []
        n = len(self._periods())
        if not n:
            return []
        visible = max(1.0, maxVal - minVal)
        step = max(1, int(np.ceil(visible / max(size / 70.0, 1.0))))
        ticks = [float(k) for k in range(0, n, step) if minVal - 1 <= k <= maxVal + 1]
        return [(float(step), [*ticks, self._session_x()])]
