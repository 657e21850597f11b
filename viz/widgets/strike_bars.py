"""Calls and puts side by side at each strike (OI, change in OI, GEX): two colours of bars in one item."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg

from viz.models import fmt
from viz.widgets.paths import PathsItem, rect_paths

__all__ = ["CompactAxis", "StrikeBars", "strike_step"]

F64 = npt.NDArray[np.float64]


def strike_step(strikes: F64) -> float:
    """The smallest gap between listed strikes (1 when fewer than two)."""
    gaps = np.diff(np.unique(strikes))
    return float(gaps.min()) if len(gaps) else 1.0


class CompactAxis(pg.AxisItem):  # type: ignore[misc]
    """Tick labels in Indian units (12.3K, 4.56L, 1.23Cr) instead of 1e+06."""

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [fmt.compact(v * scale) for v in values]


class StrikeBars:
    """Bars from 0 at each strike: ``left`` (calls) just below the strike, ``right`` (puts) just above; NaN
    draws nothing. With ``right`` None one bar per strike, centred, its colour by sign."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.item = PathsItem()
        plot.addItem(self.item)
        self.colours = ("#26a69a", "#ef5350")
        self._drawn: tuple[bytes, ...] = ()

    def set_colours(self, left: str, right: str) -> None:
        self.colours = (left, right)
        self._drawn = ()

    def set_data(self, strikes: F64, left: F64, right: F64 | None = None) -> bool:
        """Draw; False when nothing changed since the last call (the cached picture stays)."""
        key = (strikes.tobytes(), left.tobytes(), b"" if right is None else right.tobytes(),
               "".join(self.colours).encode())
        if key == self._drawn:
            return False
        self._drawn = key
        w = strike_step(strikes) * 0.8
        layers = []
        if right is None:
            for colour, pick in zip(self.colours, (left >= 0, left < 0), strict=True):
                ok = pick & ~np.isnan(left)
                x = strikes[ok]
                layers.append((rect_paths(x - w / 2, np.zeros(len(x)), x + w / 2, left[ok]), None, colour))
        else:
            for colour, values, x0 in ((self.colours[0], left, strikes - w / 2), (self.colours[1], right, strikes)):
                ok = ~np.isnan(values)
                layers.append((rect_paths(x0[ok], np.zeros(int(ok.sum())), x0[ok] + w / 2, values[ok]), None, colour))
        self.item.set_layers(layers)
        return True
