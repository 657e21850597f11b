"""The liquidity heatmap's state, pure: resting size by (time column, price row), and trades as bubbles.

Time is cut into columns of ``col_s`` seconds (Dhan-clock seconds, see :mod:`viz.models.ladder`); each
column keeps the first book that falls in it, like ``dhan_depth20_history`` keeps the first book of each
sampling interval, so the picture drawn from history and the one drawn live are the same picture. Books
older than the newest column are ignored (the seam's catch-up may offer some twice). At most ``cols``
columns are kept: the heatmap spans ``cols * col_s`` seconds and scrolls.

:meth:`LiquidityMap.image` packs the columns into one array for an image item: ``[column, price row]`` with
row 0 at the lowest price present, plus the colour scale's top (a high percentile of the non-zero sizes, so
one huge order does not wash out the rest).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from viz.models.ladder import Book, tick_index

__all__ = ["Bubbles", "Heat", "LiquidityMap", "colour_scale", "focus_range", "trade_bubbles"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
SCALE_PERCENTILE = 98.0


def colour_scale(sizes: F32) -> float:
    """The colour scale's top for ``sizes``: their ``SCALE_PERCENTILE`` percentile without the empty cells, at
    least 1."""
    nonzero = sizes[sizes > 0]
    scale = float(np.percentile(nonzero, SCALE_PERCENTILE)) if len(nonzero) else 1.0
    return max(scale, 1.0)


class Touch(Protocol):
    """The best bid and ask per column (what :func:`focus_range` needs of a picture)."""

    @property
    def tick(self) -> float: ...
    @property
    def best_bid(self) -> F64: ...
    @property
    def best_ask(self) -> F64: ...


@dataclass(frozen=True, slots=True)
class Heat:
    image: F32  # [column, price row]
    t0: float  # left edge of column 0 (Dhan-clock seconds)
    col_s: float
    tick_lo: int  # tick index of row 0
    tick: float
    scale: float  # colour-scale top (size)
    best_bid: F64  # per column, NaN where unknown (for the touch lines)
    best_ask: F64

    @property
    def x(self) -> F64:
        """Middle of each column."""
        return np.asarray(self.t0 + (np.arange(self.image.shape[0]) + 0.5) * self.col_s, np.float64)


class LiquidityMap:
    """Columns of resting size in a ring of ``cols`` slots (column ``c`` in slot ``c % cols``) over a grid of
    price rows that grows when a book reaches past it; :meth:`add_book` returns whether the book opened a
    new column. Adding a column writes one slot: the cost of a frame does not grow with the span."""

    GROW_ROWS = 64  # rows added beyond a book that falls outside the grid (fewer re-allocations)

    def __init__(self, tick: float, col_s: float, cols: int) -> None:
        if tick <= 0 or col_s <= 0 or cols < 1:
            raise ValueError("a liquidity map needs a positive tick, column width and column count")
        self.tick, self.col_s, self.cols = tick, col_s, cols
        self.version = 0  # bumped on every change (the window redraws the image only then)
        self.layout = 0  # bumped when the grid is cleared or re-allocated (its rows move): caches start again
        self.clear()

    def clear(self) -> None:
        self._grid: F32 = np.zeros((self.cols, 0), np.float32)  # [slot, row]
        self._lo = 0  # tick index of grid row 0
        self._best: F64 = np.full((self.cols, 2), np.nan)  # best bid, best ask per slot
        self._filled = np.zeros(self.cols, bool)  # the slot's column has a book
        self._first: int | None = None  # oldest kept column with a book
        self._newest: int | None = None
        self.version += 1
        self.layout += 1

    def __len__(self) -> int:
        return int(self._filled.sum())

    @property
    def newest_column(self) -> int | None:
        return self._newest

    @property
    def first_column(self) -> int | None:
        return self._first

    @property
    def grid(self) -> F32:
        """Resting size by ``[ring slot, grid row]`` (column ``c`` in slot ``c % cols``; slots of no kept column
        are zero); row 0 is the tick index :attr:`grid_lo`. Read only."""
        return self._grid

    @property
    def grid_lo(self) -> int:
        return self._lo

    def touch(self) -> F64:
        """Best bid and ask of the kept columns, oldest first: ``[column, 0 bid | 1 ask]``, NaN where unknown."""
        if self._first is None or self._newest is None:
            return np.zeros((0, 2), np.float64)
        return self._best[np.arange(self._first, self._newest + 1) % self.cols]

    def rows_in(self, prices: tuple[float, float] | None) -> tuple[int, int]:
        """Grid rows ``[lo, hi)`` of the prices ``prices`` (clipped to the grid), or of the lowest to the
        highest price with size in a kept column when None."""
        rows = self._grid.shape[1]
        if prices is not None:
            lo_row = max(0, int(np.floor(prices[0] / self.tick)) - self._lo)
            return lo_row, min(rows, int(np.ceil(prices[1] / self.tick)) - self._lo + 1)
        used = np.flatnonzero(self._grid.any(axis=0)) if rows else np.zeros(0, np.int64)
        return (int(used[0]), int(used[-1]) + 1) if len(used) else (0, 0)

    def _fit(self, lo: int, hi: int) -> None:
        """Grow the grid's rows to hold ticks ``lo..hi``."""
        rows = self._grid.shape[1]
        if rows and self._lo <= lo and hi < self._lo + rows:
            return
        new_lo = min(lo, self._lo) if rows else lo
        new_hi = max(hi, self._lo + rows - 1) if rows else hi
        new_lo, new_hi = new_lo - self.GROW_ROWS, new_hi + self.GROW_ROWS
        grid = np.zeros((self.cols, new_hi - new_lo + 1), np.float32)
        if rows:
            grid[:, self._lo - new_lo : self._lo - new_lo + rows] = self._grid
        self._grid, self._lo = grid, new_lo
        self.layout += 1

    def _empty(self, col: int) -> None:
        slot = col % self.cols
        self._grid[slot] = 0.0
        self._best[slot] = np.nan
        self._filled[slot] = False

    def add_book(self, book: Book) -> bool:
        col = int(book.t // self.col_s)
        newest = self._newest
        if newest is not None and col <= newest:
            return False  # the column has its first book already (or the book is older than the view)
        ticks = np.concatenate((tick_index(book.bid_px, self.tick), tick_index(book.ask_px, self.tick)))
        if len(ticks):
            self._fit(int(ticks.min()), int(ticks.max()))
        # the columns skipped since the newest (no book in them) and the one reused now start empty
        skipped = range(col - self.cols + 1 if newest is None else max(newest + 1, col - self.cols + 1), col + 1)
        for c in skipped if len(skipped) < self.cols else range(self.cols):
            self._empty(c)
        slot = col % self.cols
        if len(ticks):
            np.add.at(self._grid[slot], ticks - self._lo, np.concatenate((book.bid_qty, book.ask_qty)))
        self._best[slot] = (
            book.best_bid if book.best_bid is not None else np.nan,
            book.best_ask if book.best_ask is not None else np.nan,
        )
        self._filled[slot] = True
        self._newest = col
        first = col if self._first is None else max(self._first, col - self.cols + 1)
        while not self._filled[first % self.cols]:
            first += 1
        self._first = first
        self.version += 1
        return True

    def span(self) -> tuple[float, float] | None:
        """Time span of the kept columns (left edge of the first, right edge of the last)."""
        if self._first is None or self._newest is None:
            return None
        return self._first * self.col_s, (self._newest + 1) * self.col_s

    def image(self, prices: tuple[float, float] | None = None) -> Heat | None:
        """The kept columns, oldest first; rows from the lowest to the highest price with size (or the rows
        of ``prices``, clipped to the grid)."""
        if self._first is None or self._newest is None:
            return None
        first = self._first
        slots = np.arange(first, self._newest + 1) % self.cols
        best = self._best[slots]
        lo_row, hi_row = self.rows_in(prices)
        if hi_row <= lo_row:
            return Heat(np.zeros((len(slots), 1), np.float32), first * self.col_s, self.col_s, self._lo + lo_row,
                        self.tick, 1.0, best[:, 0], best[:, 1])  # fmt: skip
        image = self._grid[slots, lo_row:hi_row]
        return Heat(image, first * self.col_s, self.col_s, self._lo + lo_row, self.tick, colour_scale(image),
                    best[:, 0], best[:, 1])  # fmt: skip


def focus_range(heat: Touch, last_cols: int, pad_ticks: int) -> tuple[float, float] | None:
    """Prices to show: where the touch went in the last ``last_cols`` columns, ``pad_ticks`` beyond on each
    side. A book covers a few points around the price while the price travels tens of points in ten minutes:
    fitting the whole history would squash the book to a line."""
    bids, asks = heat.best_bid[-last_cols:], heat.best_ask[-last_cols:]
    touch = np.concatenate((bids[np.isfinite(bids)], asks[np.isfinite(asks)]))
    if not len(touch):
        return None
    pad = pad_ticks * heat.tick
    return float(touch.min()) - pad, float(touch.max()) + pad


@dataclass(frozen=True, slots=True)
class Bubbles:
    x: F64  # middle of the column (Dhan-clock seconds)
    y: F64  # volume-weighted price of the column's trades of that side
    qty: I64
    size: F64  # pixels across
    side: Any  # int8 side codes (viz.models.ticks)


def trade_bubbles(exchange_ts: I64, price: F64, qty: I64, side: Any, t0: float, col_s: float, cols: int, *,
                  max_px: float = 22.0, min_px: float = 3.0) -> Bubbles:  # fmt: skip
    """The trades of the heatmap's columns as one bubble per column and side (a busy future trades 15 times a
    second: one bubble a trade would bury the heatmap). A bubble sits at the volume-weighted price; its area
    is proportional to the quantity, the largest ``max_px`` across. A trade's exchange time has whole
    seconds: it counts in the middle of its second.
    """
    start = int(np.searchsorted(exchange_ts, t0 - 1.0, side="left"))  # exchange times only grow (per day)
    col = np.floor((exchange_ts[start:] + 0.5 - t0) / col_s).astype(np.int64)
    keep = (col >= 0) & (col < cols)
    col, p, q = col[keep], price[start:][keep], qty[start:][keep].astype(np.int64)
    sd = np.asarray(side[start:][keep], np.int64)
    group = col * 3 + sd  # side codes are 0, 1, 2
    uniq, inverse = np.unique(group, return_inverse=True)
    total = np.bincount(inverse, weights=q.astype(np.float64), minlength=len(uniq))
    turnover = np.bincount(inverse, weights=p * q, minlength=len(uniq))
    counted = total > 0
    uniq, total, turnover = uniq[counted], total[counted], turnover[counted]
    x = t0 + (uniq // 3 + 0.5) * col_s
    y = turnover / np.where(total > 0, total, 1.0)
    size = np.maximum(min_px, max_px * np.sqrt(total / total.max())) if len(total) else np.zeros(0, np.float64)
    return Bubbles(x, y, total.astype(np.int64), size, (uniq % 3).astype(np.int8))
