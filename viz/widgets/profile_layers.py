"""Horizontal volume-profile bars as path layers: buy, sell and unclassified stacked per row.

Rows inside the value area are drawn in full colour and rows outside it faded, so the value area reads at
a glance. ``x_left``/``scale`` place the bars (the profile chart squeezes each period into its column).
Rectangles are collected per style first (:func:`profile_rects`), so many profiles become one path per
style (:func:`rects_layers`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from PyQt6.QtGui import QColor

from viz.models.profile import Profile, ProfileStats
from viz.widgets.paths import rects_path
from viz.widgets.theme import Theme

__all__ = ["ROW_FILL", "RectGroups", "merge_rects", "profile_layers", "profile_rects", "rects_layers"]

ROW_FILL = 0.86  # share of a row's height the bar covers (a thin gap between rows)
OUTSIDE_ALPHA = 95
RectGroups = dict[tuple[str, int], list[tuple[Any, Any, Any, Any]]]  # (colour name, alpha) -> [(x0,y0,x1,y1)]


def profile_rects(
    profile: Profile, stats: ProfileStats, *, x_left: float = 0.0, scale: float = 1.0, out: RectGroups | None = None
) -> RectGroups:
    groups: RectGroups = {} if out is None else out
    if len(profile.price) == 0:
        return groups
    y0 = profile.price
    y1 = profile.price + profile.row_size * ROW_FILL
    lo, hi = stats.va_rows
    rows = np.arange(len(y0))
    inside = (rows >= lo) & (rows <= hi) if lo >= 0 else np.zeros(len(y0), bool)
    left = np.zeros(len(y0), np.float64)
    for values, colour in ((profile.buy, "buy"), (profile.sell, "sell"), (profile.other, "neutral")):
        width = values.astype(np.float64) * scale
        for mask, alpha in ((inside, 255), (~inside, OUTSIDE_ALPHA)):
            m = mask & (width > 0)
            if m.any():
                groups.setdefault((colour, alpha), []).append(
                    (x_left + left[m], y0[m], x_left + left[m] + width[m], y1[m])
                )
        left += width
    return groups


def merge_rects(parts: list[tuple[Any, Any, Any, Any]]) -> tuple[Any, Any, Any, Any]:
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(4))  # type: ignore[return-value]


def rects_layers(
    groups: Mapping[tuple[str, int], list[tuple[Any, Any, Any, Any]]], theme: Theme
) -> list[tuple[Any, Any, Any]]:
    layers: list[tuple[Any, Any, Any]] = []
    for (colour, alpha), parts in sorted(groups.items(), key=lambda kv: -kv[0][1]):
        c = QColor(getattr(theme, colour))
        c.setAlpha(alpha)
        layers.append((rects_path(*merge_rects(parts)), None, c))
    return layers


def profile_layers(
    profile: Profile, stats: ProfileStats, theme: Theme, *, x_left: float = 0.0, scale: float = 1.0
) -> list[tuple[Any, Any, Any]]:
    """Layers for :class:`PathsItem`: one path per (side, inside/outside value area)."""
    return rects_layers(profile_rects(profile, stats, x_left=x_left, scale=scale), theme)
