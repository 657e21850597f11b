"""Candles and volume bars as path layers (see :mod:`viz.widgets.paths`), plus a time axis for bar indexes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtGui import QColor

from viz.models.bars import Bars
from viz.models.fmt import ist_time
from viz.widgets.paths import rect_paths, segments_path
from viz.widgets.theme import Theme

__all__ = ["BODY_WIDTH", "IndexTimeAxis", "candle_layers", "volume_layers"]

BODY_WIDTH = 0.7


def candle_layers(
    x: Any, bars: Bars, theme: Theme, *, width: float = BODY_WIDTH, alpha: int = 255, start: int = 0
) -> list[tuple[Any, Any, Any]]:
    """Wicks and bodies of ``bars[start:]`` at positions ``x`` (same length as the slice); up/down colours."""
    o, h, lo, c = bars.open[start:], bars.high[start:], bars.low[start:], bars.close[start:]
    x = np.asarray(x, dtype=np.float64)
    up = c >= o
    layers: list[tuple[Any, Any, Any]] = []
    half = width / 2.0
    for mask, name in ((up, "up"), (~up, "down")):
        if not mask.any():
            continue
        colour = QColor(getattr(theme, name))
        colour.setAlpha(alpha)
        xm = x[mask]
        layers.append((segments_path(xm, lo[mask], xm, h[mask]), pg.mkPen(colour, width=1), None))
        top, bottom = np.maximum(o[mask], c[mask]), np.minimum(o[mask], c[mask])
        layers.append((rect_paths(xm - half, bottom, xm + half, top), pg.mkPen(colour, width=1), colour))
    return layers


def volume_layers(
    x: Any, bars: Bars, theme: Theme, *, width: float = BODY_WIDTH, alpha: int = 255, start: int = 0
) -> list[tuple[Any, Any, Any]]:
    """Volume columns stacked buy (bottom), sell, unclassified."""
    x = np.asarray(x, dtype=np.float64)
    buy, sell = bars.buy[start:].astype(np.float64), bars.sell[start:].astype(np.float64)
    other = bars.volume[start:].astype(np.float64) - buy - sell
    half = width / 2.0
    layers: list[tuple[Any, Any, Any]] = []
    base = np.zeros(len(x))
    for values, name in ((buy, "buy"), (sell, "sell"), (other, "neutral")):
        m = values > 0
        if m.any():
            colour = QColor(getattr(theme, name))
            colour.setAlpha(alpha)
            layers.append((rect_paths(x[m] - half, base[m], x[m] + half, base[m] + values[m]), None, colour))
        base = base + values
    return layers


class IndexTimeAxis(pg.AxisItem):  # type: ignore[misc]
    """Bottom axis of an index-based chart labelled with each index's exchange time (IST)."""

    def __init__(self, times: Callable[[], Any], **kwargs: Any) -> None:
        super().__init__("bottom", **kwargs)
        self._times = times

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        ts = self._times()
        out = []
        for v in values:
            i = round(v)
            out.append(ist_time(int(ts[i])) if 0 <= i < len(ts) else "")
        return out
