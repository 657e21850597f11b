"""Fast chart primitives: many rectangles or segments as one QPainterPath built from numpy arrays.

pyqtgraph's ``BarGraphItem`` paints one ``drawRect`` per bar from Python (tens of milliseconds for a few
thousand rows). Here each colour is one path made by ``arrayToQPath`` in C, painted with one ``drawPath``,
and the item caches the whole drawing in a ``QPicture`` that is rebuilt only when its data changes
(a repaint that only moves the view replays the picture).

Filled rectangles are the exception: the raster engine fills one path of many rectangles in time that grows with
the area the whole path spans (150 volume columns: ~5-7 ms, bench/viz_frames.py's worst tick-chart and OI
frames), while the same rectangles as one small path each take ~0.15 ms, with the same pixels. So
:func:`rect_paths` gives a :class:`RectPaths` (one path per rectangle) that ``PathsItem`` draws path by path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen, QPicture

__all__ = ["PathsItem", "RectPaths", "place_line", "rect_paths", "rects_path", "segments_path", "set_text"]


def rects_path(x0: Any, y0: Any, x1: Any, y1: Any) -> QPainterPath:
    """Closed rectangles ``[x0, x1] x [y0, y1]`` (arrays of equal length) as one path."""
    x0, y0, x1, y1 = (np.asarray(a, dtype=np.float64) for a in (x0, y0, x1, y1))
    n = len(x0)
    if n == 0:
        return QPainterPath()
    xs = np.column_stack((x0, x1, x1, x0, x0)).ravel()
    ys = np.column_stack((y0, y0, y1, y1, y0)).ravel()
    connect = np.ones(5 * n, dtype=np.int32)
    connect[4::5] = 0  # each rectangle its own closed subpath
    path: QPainterPath = pg.arrayToQPath(xs, ys, connect=connect)
    return path


class RectPaths:
    """Rectangles as one small path each (see the module's doc); a ``PathsItem`` layer like a path."""

    def __init__(self, paths: list[QPainterPath], bounds: QRectF) -> None:
        self.paths, self._bounds = paths, bounds

    def isEmpty(self) -> bool:
        return not self.paths

    def boundingRect(self) -> QRectF:
        return QRectF(self._bounds)

    def draw(self, painter: QPainter) -> None:
        for path in self.paths:
            painter.drawPath(path)


def rect_paths(x0: Any, y0: Any, x1: Any, y1: Any) -> RectPaths:
    """Closed rectangles ``[x0, x1] x [y0, y1]`` (arrays of equal length), each its own path traced as
    :func:`rects_path` traces it (the same pixels, drawn much faster when they are many and large)."""
    x0, y0, x1, y1 = (np.asarray(a, dtype=np.float64) for a in (x0, y0, x1, y1))
    paths = []
    for a, b, c, d in zip(x0.tolist(), y0.tolist(), x1.tolist(), y1.tolist(), strict=True):
        path = QPainterPath()
        path.addRect(QRectF(a, b, c - a, d - b))
        paths.append(path)
    if not paths:
        return RectPaths([], QRectF())
    left, right = float(min(x0.min(), x1.min())), float(max(x0.max(), x1.max()))
    low, high = float(min(y0.min(), y1.min())), float(max(y0.max(), y1.max()))
    return RectPaths(paths, QRectF(left, low, right - left, high - low))


def segments_path(x0: Any, y0: Any, x1: Any, y1: Any) -> QPainterPath:
    """Separate line segments ``(x0, y0)-(x1, y1)`` as one path."""
    x0, y0, x1, y1 = (np.asarray(a, dtype=np.float64) for a in (x0, y0, x1, y1))
    if len(x0) == 0:
        return QPainterPath()
    xs = np.column_stack((x0, x1)).ravel()
    ys = np.column_stack((y0, y1)).ravel()
    path: QPainterPath = pg.arrayToQPath(xs, ys, connect="pairs")
    return path


class PathsItem(pg.GraphicsObject):  # type: ignore[misc]
    """Layers of ``(path, pen, brush)`` painted in order, cached in a QPicture until ``set_layers``."""

    def __init__(self) -> None:
        super().__init__()
        self._layers: list[tuple[QPainterPath | RectPaths, QPen, QBrush]] = []
        self._picture: QPicture | None = None
        self._bounds = QRectF()

    def set_layers(
        self,
        layers: Sequence[tuple[QPainterPath | RectPaths, QPen | QColor | str | None, QBrush | QColor | str | None]],
    ) -> None:
        self.prepareGeometryChange()
        out = []
        bounds = QRectF()
        for path, pen, brush in layers:
            if path.isEmpty():
                continue
            qpen = (
                pen
                if isinstance(pen, QPen)
                else (
                    QPen(Qt.PenStyle.NoPen) if pen is None else pg.mkPen(pen, width=1)  # mkPen: cosmetic (1 px)
                )
            )
            if brush is None:
                qbrush = QBrush(Qt.BrushStyle.NoBrush)
            else:
                qbrush = brush if isinstance(brush, QBrush) else QBrush(QColor(brush))
            out.append((path, qpen, qbrush))
            bounds = bounds.united(path.boundingRect())
        self._layers = out
        self._bounds = bounds
        self._picture = None
        self.update()

    def clear(self) -> None:
        self.set_layers([])

    def boundingRect(self) -> QRectF:
        return QRectF(self._bounds)

    def paint(self, painter: QPainter, *args: Any) -> None:
        if self._picture is None:
            picture = QPicture()
            p = QPainter(picture)
            for path, pen, brush in self._layers:
                p.setPen(pen)
                p.setBrush(brush)
                if isinstance(path, RectPaths):
                    path.draw(p)
                else:
                    p.drawPath(path)
            p.end()
            self._picture = picture
        self._picture.play(painter)


def place_line(line: pg.InfiniteLine, pos: float | None, text: str) -> None:
    """Show/move an ``InfiniteLine`` and its label, touching the label only when its text changes
    (re-laying out label text is the expensive part of moving a line)."""
    line.setVisible(pos is not None)
    if pos is None:
        return
    if line.value() != pos:
        line.setPos(pos)
    label = getattr(line, "label", None)
    if label is not None and label.cacheMode() == label.CacheMode.NoCache:
        label.setCacheMode(label.CacheMode.DeviceCoordinateCache)  # text re-rendered only when it changes
    if label is not None and getattr(line, "_label_text", None) != text:
        line._label_text = text
        label.setFormat(text)


def set_text(widget: Any, text: str) -> None:
    """``setText`` only when the text differs (a QLabel re-lays out rich text on every call)."""
    if widget.text() != text:
        widget.setText(text)
