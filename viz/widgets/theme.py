"""Dark and light themes: one palette of named colours for Qt widgets and the charts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import pyqtgraph as pg
from PyQt6.QtGui import QColor, QPalette
from PyQt6.QtWidgets import QApplication, QGraphicsItem, QGraphicsView

ItemT = TypeVar("ItemT", bound=QGraphicsItem)

__all__ = ["DARK", "LIGHT", "THEMES", "Theme", "apply_app_theme", "cache_item", "chart_view", "style_plot"]


@dataclass(frozen=True, slots=True)
class Theme:
    name: str
    bg: str
    panel: str
    fg: str
    muted: str
    grid: str
    up: str
    down: str
    buy: str
    sell: str
    neutral: str
    poc: str
    va: str
    value_line: str
    accent: str
    flash_up: str
    flash_down: str
    highlight: str
    error: str
    ok: str

    def color(self, name: str, alpha: int = 255) -> QColor:
        c = QColor(getattr(self, name))
        c.setAlpha(alpha)
        return c


DARK = Theme(
    name="dark",
    bg="#121417",
    panel="#1b1f24",
    fg="#d7dae0",
    muted="#8a919c",
    grid="#2a2f36",
    up="#26a69a",
    down="#ef5350",
    buy="#2bb673",
    sell="#e5534b",
    neutral="#6b7280",
    poc="#ffd54f",
    va="#3d6fb6",
    value_line="#90caf9",
    accent="#4fc3f7",
    flash_up="#1e6b45",
    flash_down="#7a2626",
    highlight="#3b3416",
    error="#ff6b6b",
    ok="#4caf50",
)
LIGHT = Theme(
    name="light",
    bg="#ffffff",
    panel="#f3f4f6",
    fg="#1f2328",
    muted="#5f6670",
    grid="#e2e5e9",
    up="#0e8a6d",
    down="#d03b37",
    buy="#1f9d57",
    sell="#d64541",
    neutral="#9aa1ab",
    poc="#c77c00",
    va="#9cc1f0",
    value_line="#1e63c4",
    accent="#0277bd",
    flash_up="#b8ecd0",
    flash_down="#f7c4c2",
    highlight="#fff3c4",
    error="#c62828",
    ok="#2e7d32",
)
THEMES = {"dark": DARK, "light": LIGHT}


def apply_app_theme(app: QApplication, theme: Theme) -> None:
    """Fusion style with the theme's palette for every widget of the process."""
    app.setStyle("Fusion")
    p = QPalette()
    bg, panel, fg = QColor(theme.bg), QColor(theme.panel), QColor(theme.fg)
    for role, color in (
        (QPalette.ColorRole.Window, panel),
        (QPalette.ColorRole.WindowText, fg),
        (QPalette.ColorRole.Base, bg),
        (QPalette.ColorRole.AlternateBase, panel),
        (QPalette.ColorRole.Text, fg),
        (QPalette.ColorRole.Button, panel),
        (QPalette.ColorRole.ButtonText, fg),
        (QPalette.ColorRole.ToolTipBase, panel),
        (QPalette.ColorRole.ToolTipText, fg),
        (QPalette.ColorRole.Highlight, QColor(theme.accent)),
        (QPalette.ColorRole.HighlightedText, QColor(theme.bg)),
        (QPalette.ColorRole.PlaceholderText, QColor(theme.muted)),
    ):
        p.setColor(role, color)
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor(theme.muted))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor(theme.muted))
    app.setPalette(p)


def chart_view(view: pg.GraphicsView) -> pg.GraphicsView:
    """Repaint a chart's whole viewport on change instead of pyqtgraph's minimal dirty region.

    Most of a chart changes on a data frame anyway; one rectangle is cheaper to clip against than the
    minimal mode's region of many small ones.
    """
    view.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
    return view


def cache_item(item: ItemT) -> ItemT:
    """Keep a rarely changing item (axis, label, legend) as a pixmap between its own updates.

    Replaying an axis's text every frame cost ~7 ms per axis on the raster engine; a cached axis is a blit
    until its range moves (bench/viz_frames.py: a volume-profile frame 20-45 ms -> ~2.5 ms).
    """
    item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    return item


def style_plot(plot: pg.PlotItem, theme: Theme) -> None:
    """Axis colours, grid and axis caching of a pyqtgraph plot for ``theme``."""
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(theme.muted))
        axis.setTextPen(pg.mkPen(theme.fg))
        cache_item(axis)
    if plot.legend is not None:
        backdrop = QColor(theme.bg)
        backdrop.setAlpha(200)  # lines pass under the legend, not through its text
        plot.legend.setBrush(pg.mkBrush(backdrop))
        plot.legend.setLabelTextColor(theme.fg)
        plot.legend.setZValue(1000)  # above the curves
        cache_item(plot.legend)
    plot.showGrid(x=True, y=True, alpha=0.18)
