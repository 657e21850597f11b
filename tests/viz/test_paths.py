"""Rectangles as one path each (viz.widgets.paths.rect_paths): the same pixels and bounds as the one-path form."""

from __future__ import annotations

from typing import Any

import numpy as np


def _render(layers: list[Any], sx: float, sy: float) -> Any:
    """The layers drawn by a PathsItem into an image through a chart-like transform (y up, scaled)."""
    from PyQt6.QtGui import QImage, QPainter, QTransform

    from viz.widgets.paths import PathsItem

    item = PathsItem()
    item.set_layers(layers)
    image = QImage(1210, 240, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    painter = QPainter(image)
    transform = QTransform()
    transform.translate(3.0, 230.0)
    transform.scale(sx, sy)
    painter.setTransform(transform)
    item.paint(painter)
    painter.end()
    bits = image.constBits()
    assert bits is not None
    bits.setsize(image.sizeInBytes())
    return np.frombuffer(bits, np.uint8).copy()


def test_rect_paths_draw_the_pixels_of_one_path(qt_state: Any) -> None:
    import pyqtgraph as pg

    from viz.widgets.paths import rect_paths, rects_path

    rng = np.random.default_rng(7)
    n = 60
    x = np.arange(n, dtype=np.float64)
    lo = rng.uniform(-400, 1_000, n)
    hi = lo + rng.uniform(-300, 4_000, n)  # some rectangles upside down (a negative change)
    hi[5] = lo[5]  # a flat one (a doji body)
    args = (x - 0.37, lo, x + 0.37, hi)
    for sx, sy in ((640 / 61.3, -220 / 5_200.0), (8.0, -0.04), (10.37, -0.0313)):
        for pen in (None, pg.mkPen("#ef5350", width=1)):
            one = _render([(rects_path(*args), pen, "#26a69a")], sx, sy)
            each = _render([(rect_paths(*args), pen, "#26a69a")], sx, sy)
            assert one.any() and np.array_equal(one, each)
    # volume-like columns from 0, as the tick chart draws them
    v = rng.uniform(1_000, 5_000, 150)
    xs = np.arange(150, dtype=np.float64)
    cols = (xs - 0.35, np.zeros(150), xs + 0.35, v)
    one = _render([(rects_path(*cols), None, "#26a69a")], 1200 / 150, -200 / 5_000)
    assert np.array_equal(one, _render([(rect_paths(*cols), None, "#26a69a")], 1200 / 150, -200 / 5_000))


def test_rect_paths_bounds_and_empty(qt_state: Any) -> None:
    from viz.widgets.paths import rect_paths, rects_path

    args = ([1.0, 4.0, 2.5], [10.0, -3.0, 7.0], [1.5, 4.6, 2.0], [2.0, 8.0, 12.0])
    assert rect_paths(*args).boundingRect() == rects_path(*args).boundingRect()
    assert len(rect_paths(*args).paths) == 3 and not rect_paths(*args).isEmpty()
    empty = rect_paths([], [], [], [])
    assert empty.isEmpty() and empty.boundingRect().isEmpty()
