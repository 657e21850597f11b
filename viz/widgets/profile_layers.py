"""Horizontal volume-profile bars as path layers: buy, sell and unclassified stacked per row.

Rows inside the value area are drawn in full colour and rows outside it faded, so the value area reads at
a glance. ``x_left``/``scale`` place the bars (the profile chart squeezes each period into its column).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PyQt6.QtGui import QColor

from viz.models.profile import Profile, ProfileStats
from viz.widgets.paths import rects_path
from viz.widgets.theme import Theme

__all__ = ["profile_layers"]

ROW_FILL = 0.86  # share of a row's height the bar covers (a thin gap between rows)
OUTSIDE_ALPHA = 95


def profile_layers(profile: Profile, stats: ProfileStats, theme: Theme, *, x_left: float = 0.0,
                   scale: float = 1.0, split: bool = True) -> list[tuple[Any, Any, Any]]:
    """Layers for :class:`PathsItem`: one path per (side, inside/outside value area)."""
    if len(profile.price) == 0:
        return []
    y0 = profile.price
    y1 = profile.price + profile.row_size * ROW_FILL
    lo, hi = stats.va_rows
    rows = np.arange(len(y0))
    inside = (rows >= lo) & (rows <= hi) if lo >= 0 else np.zeros(len(y0), bool)
    parts = ((profile.buy, "buy"), (profile.sell, "sell"), (profile.other, "neutral")) if split else (
        (profile.total, "va"),)
    layers: list[tuple[Any, Any, Any]] = []
    left = np.zeros(len(y0), np.float64)
    for values, colour in parts:
        width = values.astype(np.float64) * scale
        for mask, alpha in ((inside, 255), (~inside, OUTSIDE_ALPHA)):
            m = mask & (width > 0)
            if m.any():
                c = QColor(getattr(theme, colour))
                c.setAlpha(alpha)
                layers.append((rects_path(x_left + left[m], y0[m], x_left + left[m] + width[m], y1[m]), None, c))
        left += width
    return layers
