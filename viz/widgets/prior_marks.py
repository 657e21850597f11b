"""Marks of previous sessions on a chart: level lines with labels (volume profile) and day separators (tick chart).

Both draw only when what they show changed (a key compared before touching any item), so a frame costs a
comparison. Lines are one :class:`~viz.widgets.paths.PathsItem` (a cached picture); labels are a small pool
of ``TextItem``\\ s, re-texted only when their text changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyqtgraph as pg
from PyQt6.QtCore import Qt

from viz.widgets.paths import PathsItem, segments_path
from viz.widgets.theme import Theme

__all__ = ["DayMarks", "LevelLine", "LevelMarks"]

Z_BEHIND = -5  # under the bars and profiles


@dataclass(frozen=True, slots=True)
class LevelLine:
    """A horizontal line from ``x0`` to ``x1`` at price ``y``; ``kind``: "poc", "value" or "naked"; its label
    ends at ``label_x`` (right-aligned, just above the line)."""

    y: float
    x0: float
    x1: float
    kind: str
    label: str
    label_x: float


class _Labels:
    """A pool of text items on ``plot``, shown as needed."""

    def __init__(self, plot: Any, anchor: tuple[float, float]) -> None:
        self._plot, self._anchor = plot, anchor
        self._items: list[pg.TextItem] = []
        self._used = 0

    def set_visible(self, on: bool) -> None:
        """Hide all, or show those in use again."""
        for item in self._items[: self._used] if on else self._items:
            item.setVisible(on)

    def show(self, texts: Sequence[tuple[str, float, float, str]]) -> None:
        """``(text, x, y, colour)`` each."""
        while len(self._items) < len(texts):
            item = pg.TextItem(anchor=self._anchor)
            item.setZValue(Z_BEHIND + 1)
            self._plot.addItem(item)
            self._items.append(item)
        for item, (text, x, y, colour) in zip(self._items, texts, strict=False):
            if item.toPlainText() != text:
                item.setText(text)
            item.setColor(colour)
            item.setPos(x, y)
            item.setVisible(True)
        for item in self._items[len(texts):]:
            item.setVisible(False)
        self._used = len(texts)


class LevelMarks:
    """Yesterday's POC/VAH/VAL and naked POCs as lines across a price chart, each with its label."""

    def __init__(self, plot: Any) -> None:
        self.item = PathsItem()
        self.item.setZValue(Z_BEHIND)
        plot.addItem(self.item)
        self._labels = _Labels(plot, (1, 1))
        self._key: tuple[Any, ...] | None = None

    def set_visible(self, on: bool) -> None:
        self.item.setVisible(on)
        self._labels.set_visible(on)

    def set_lines(self, lines: Sequence[LevelLine], theme: Theme) -> None:
        key = (tuple(lines), theme.name)
        if key == self._key:
            return
        self._key = key
        styles = {
            "poc": pg.mkPen(theme.poc, width=1.5, style=Qt.PenStyle.DashLine),
            "value": pg.mkPen(theme.value_line, width=1, style=Qt.PenStyle.DashLine),
            "naked": pg.mkPen(theme.poc, width=1, style=Qt.PenStyle.DotLine),
        }
        layers = []
        for kind, pen in styles.items():
            mine = [line for line in lines if line.kind == kind]
            if mine:
                layers.append((segments_path([m.x0 for m in mine], [m.y for m in mine], [m.x1 for m in mine],
                                             [m.y for m in mine]), pen, None))
        self.item.set_layers(layers)
        colours = {"poc": theme.poc, "value": theme.value_line, "naked": theme.poc}
        self._labels.show([(line.label, line.label_x, line.y, colours[line.kind]) for line in lines])


class DayMarks:
    """A vertical separator at each session's first bar, labelled with its day (on the first plot)."""

    def __init__(self, *plots: Any) -> None:
        self._plots = plots
        self._lines: list[list[pg.InfiniteLine]] = [[] for _ in plots]
        self._key: tuple[Any, ...] | None = None

    def set_marks(self, marks: Sequence[tuple[float, str]], theme: Theme) -> None:
        """``marks``: ``(x, day label)``, x at the left edge of the session's first bar."""
        key = (tuple(marks), theme.name)
        if key == self._key:
            return
        self._key = key
        pen = pg.mkPen(theme.muted, width=1, style=Qt.PenStyle.DashLine)
        for k, (plot, lines) in enumerate(zip(self._plots, self._lines, strict=True)):
            while len(lines) < len(marks):
                line = pg.InfiniteLine(angle=90, movable=False)
                line.setZValue(Z_BEHIND)
                if k == 0:
                    line.label = pg.InfLineLabel(line, text="", position=0.97, anchors=[(0, 0), (0, 0)])
                plot.addItem(line)
                lines.append(line)
            for line, (x, text) in zip(lines, marks, strict=False):
                line.setPen(pen)
                line.setPos(x)
                line.setVisible(True)
                if k == 0:
                    line.label.setFormat(text)
                    line.label.setColor(theme.muted)
            for line in lines[len(marks):]:
                line.setVisible(False)
