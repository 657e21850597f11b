"""Closed bars drawn in blocks of ``BLOCK`` bars, each block its own cached item: a frame redraws stale blocks only.

A chart's closed bars change at the right edge (a bar closes) and hardly ever elsewhere. Drawn as one cached
item, every bar close re-rendered the whole visible picture (the tick chart's worst frames in
bench/viz_frames.py). Here bar ``i`` belongs to block ``i // BLOCK`` and a block is drawn again only when its
signature changed: the values it shows (a late trade revising a closed bar, history prepended in front of
today's bars, another bar size), how many of its bars are closed (the last block grows), or its context
(theme, body width, which lines are shown). :class:`BlockBook` is that bookkeeping (no Qt), :class:`BlockItems`
keeps one cached :class:`~viz.widgets.paths.PathsItem` per shown block on a plot.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF

from viz.widgets.paths import PathsItem
from viz.widgets.theme import cache_item

__all__ = ["BLOCK", "BlockBook", "BlockItems", "block_sign", "blocks_between"]

BLOCK = 32


def blocks_between(first: int, last: int, block: int = BLOCK) -> range:
    """The blocks holding bars ``first .. last - 1`` (none when that is empty)."""
    if last <= first:
        return range(0)
    return range(first // block, (last - 1) // block + 1)


def block_sign(context: Hashable, arrays: Sequence[Any], a: int, b: int) -> tuple[Any, ...]:
    """What block ``[a, b)`` of ``arrays`` shows, comparable with ``==``: the context, the span and the values'
    bytes (NaN equals NaN here, unlike in a numeric comparison)."""
    return (context, a, b, *(np.ascontiguousarray(values[a:b]).tobytes() for values in arrays))


class BlockBook:
    """The signature each shown block was drawn with; :meth:`plan` says which to draw again and which to drop."""

    def __init__(self) -> None:
        self._signs: dict[int, Any] = {}

    def plan(self, signs: Mapping[int, Any]) -> tuple[list[int], list[int]]:
        """``signs``: every block to show now and its signature. Returns ``(draw, drop)``: the blocks that are
        new or changed, and the blocks drawn before that are no longer shown. Remembers ``signs`` as drawn."""
        draw = [k for k, sign in signs.items() if k not in self._signs or self._signs[k] != sign]
        drop = [k for k in self._signs if k not in signs]
        self._signs = dict(signs)
        return draw, drop

    def reset(self) -> None:
        self._signs.clear()

    def __len__(self) -> int:
        return len(self._signs)


class _Group(pg.GraphicsObject):  # type: ignore[misc]
    """An item with no picture of its own, holding the blocks: they stack where it was added, as one item did."""

    def __init__(self) -> None:
        super().__init__()
        self.setFlag(self.GraphicsItemFlag.ItemHasNoContents)

    def boundingRect(self) -> QRectF:
        return QRectF(self.childrenBoundingRect())

    def paint(self, *args: Any) -> None:
        pass


class BlockItems:
    """One cached :class:`PathsItem` per shown block, the children of one item on ``plot``."""

    def __init__(self, plot: pg.PlotItem, *, z: float | None = None, ignore_bounds: bool = False) -> None:
        self.group = _Group()
        if z is not None:
            self.group.setZValue(z)
        plot.addItem(self.group, ignoreBounds=ignore_bounds)
        self.book = BlockBook()
        self.items: dict[int, PathsItem] = {}

    def show(self, signs: Mapping[int, Any], build: Callable[[int], Sequence[Any]]) -> list[int]:
        """Show the blocks of ``signs``; ``build(k)`` gives the layers of block ``k`` (called for stale blocks
        only). Returns the blocks drawn."""
        draw, drop = self.book.plan(signs)
        if draw or drop:
            self.group.prepareGeometryChange()
        for k in drop:
            gone = self.items.pop(k)
            scene = gone.scene()
            if scene is not None:
                scene.removeItem(gone)
            else:
                gone.setParentItem(None)
        for k in draw:
            item = self.items.get(k)
            if item is None:
                item = self.items[k] = cache_item(PathsItem())
                item.setParentItem(self.group)
            item.set_layers(build(k))
        return draw

    def clear(self) -> None:
        self.show({}, lambda k: [])

    def setVisible(self, on: bool) -> None:
        self.group.setVisible(on)

    def isVisible(self) -> bool:
        return bool(self.group.isVisible())

    def boundingRect(self) -> QRectF:
        """All shown blocks' bounds together."""
        return QRectF(self.group.childrenBoundingRect())
