"""The heatmap's picture, pure: a colour-table index (uint8) per ring slot and price row of a
:class:`~viz.models.liquidity.LiquidityMap`, kept column by column.

Colouring the whole picture when a column opens (600 columns by a few hundred rows: the sizes copied out in
time order, a square root of every cell, a new index image) was most of the cost of the depth window's
slowest frame, once a second. :class:`HeatColours` keeps the index in the map's own ring order and colours
only the columns that opened since the last picture; the picture in time order is then two slices of bytes.
Everything is coloured again only when the rows drawn change (the view moved, the grid grew, the map was
cleared) or the colour scale (:func:`~viz.models.liquidity.colour_scale`, computed every time) has moved more
than ``relevel`` from the one the columns were coloured with: 2 % moves a cell by at most about one step of
the 255 on the square-root scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from viz.models.liquidity import F32, F64, LiquidityMap, colour_scale

__all__ = ["RELEVEL", "HeatColours", "HeatFrame", "colour_index"]

U8 = npt.NDArray[np.uint8]
RELEVEL = 0.02


def colour_index(sizes: Any, scale: float) -> U8:
    """Sizes -> colour-table index (uint8): 0 for no size, 1..255 on a square-root scale up to ``scale``.
    Indexing the table directly is pyqtgraph's fast path (no float rescaling at paint)."""
    index = np.sqrt(np.asarray(sizes, np.float32)) * np.float32(254.0 / np.sqrt(scale))
    np.minimum(index, 254.0, out=index)
    index += 1.0
    index[sizes <= 0] = 0.0
    return index.astype(np.uint8)


@dataclass(frozen=True, slots=True)
class HeatFrame:
    index: U8  # [column, price row], oldest column first: colour-table index (0 = no size); a view of
    # a C-contiguous [price row, column] array (``index.T``, what a row-major image item takes without a copy)
    t0: float  # left edge of column 0 (Dhan-clock seconds)
    col_s: float
    tick_lo: int  # tick index of row 0
    tick: float
    scale: float  # the colour scale's top (size) the columns were coloured with
    best_bid: F64  # per column, NaN where unknown
    best_ask: F64

    @property
    def x(self) -> F64:
        """Middle of each column."""
        return np.asarray(self.t0 + (np.arange(self.index.shape[0]) + 0.5) * self.col_s, np.float64)


class HeatColours:
    """The colours of one map (``liq``)."""

    def __init__(self, liq: LiquidityMap, relevel: float = RELEVEL) -> None:
        self.liq, self.relevel = liq, relevel
        self._ring: U8 = np.zeros((0, 0), np.uint8)  # [row in view, slot]: a column is written strided, the
        # picture in time order is two runs of each row
        self._key: tuple[int, int, int] | None = None  # (the map's layout, lo row, hi row) of the ring
        self._scale = 1.0
        self._newest = 0  # newest column coloured
        self.recoloured = 0  # times every column was coloured (tests, bench)

    def frame(self, prices: tuple[float, float] | None = None) -> HeatFrame | None:
        """The kept columns of the map, oldest first, in the rows of ``prices`` (clipped to the grid; None: the
        rows with size), as :meth:`LiquidityMap.image` cuts them."""
        liq = self.liq
        first, newest = liq.first_column, liq.newest_column
        if first is None or newest is None:
            return None
        n, cols = newest - first + 1, liq.cols
        lo_row, hi_row = liq.rows_in(prices)
        best = liq.touch()
        if hi_row <= lo_row:
            return HeatFrame(np.zeros((n, 1), np.uint8), first * liq.col_s, liq.col_s, liq.grid_lo + lo_row,
                             liq.tick, 1.0, best[:, 0], best[:, 1])  # fmt: skip
        sizes = liq.grid[:, lo_row:hi_row]
        self._colour(sizes, (liq.layout, lo_row, hi_row), newest, cols)
        start = first % cols
        ring = self._ring
        if start + n <= cols:
            index = ring[:, start : start + n].copy()  # the item keeps it: the ring's next column must not show
        else:
            index = np.concatenate((ring[:, start:], ring[:, : start + n - cols]), axis=1)
        return HeatFrame(index.T, first * liq.col_s, liq.col_s, liq.grid_lo + lo_row, liq.tick, self._scale,
                         best[:, 0], best[:, 1])  # fmt: skip

    def _colour(self, sizes: F32, key: tuple[int, int, int], newest: int, cols: int) -> None:
        """Colour the columns opened since the last frame (slots ``newest`` back to the last one coloured),
        or all of them when the rows, the grid or the scale changed."""
        scale = colour_scale(sizes)
        fresh = newest - self._newest
        if key != self._key or not 0 <= fresh < cols or abs(scale / self._scale - 1.0) > self.relevel:
            self._ring = np.ascontiguousarray(colour_index(sizes, scale).T)
            self._key, self._scale = key, scale
            self.recoloured += 1
        else:
            for column in range(self._newest + 1, newest + 1):
                slot = column % cols
                self._ring[:, slot] = colour_index(sizes[slot], self._scale)
        self._newest = newest
