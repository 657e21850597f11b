"""Closed bars drawn in blocks (viz.widgets.blocks): which blocks a frame draws again, and the VWAP lines' blocks."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np

from viz.widgets.blocks import BLOCK, BlockBook, block_sign, blocks_between
from viz.widgets.vwap_overlay import _joined, _shape, line_blocks


def _bars(n: int, seed: int = 1) -> list[Any]:
    rng = np.random.default_rng(seed)
    close = 26_000 + np.cumsum(rng.normal(0, 1, n))
    return [close - 0.5, close + 1.0, close - 1.0, close, rng.integers(1, 500, n)]


def _signs(arrays: list[Any], first: int, last: int, closed: int, context: Any = ("dark", 0.7)) -> dict[int, Any]:
    return {k: block_sign(context, arrays, k * BLOCK, min(k * BLOCK + BLOCK, closed))
            for k in blocks_between(first, last)}


def test_blocks_between() -> None:
    assert blocks_between(0, 0) == range(0)
    assert blocks_between(5, 4) == range(0)
    assert list(blocks_between(0, 1)) == [0]
    assert list(blocks_between(0, BLOCK)) == [0]
    assert list(blocks_between(0, BLOCK + 1)) == [0, 1]
    assert list(blocks_between(BLOCK - 1, 3 * BLOCK)) == [0, 1, 2]


def test_plan_draws_new_and_changed_blocks_only() -> None:
    arrays = _bars(200)
    book = BlockBook()
    draw, drop = book.plan(_signs(arrays, 40, 150, 150))
    assert draw == [1, 2, 3, 4] and drop == []
    assert book.plan(_signs(arrays, 40, 150, 150)) == ([], [])  # nothing changed: nothing drawn
    # a bar closes: only the last (partial) block grows
    assert book.plan(_signs(arrays, 40, 151, 151)) == ([4], [])
    # ten more bars close and the view moves right past a block boundary: the last block (now full) and the new
    # one drawn, the one left behind dropped
    assert book.plan(_signs(arrays, 64, 161, 161)) == ([4, 5], [1])
    # the view moves back left: the block left behind is drawn again, those out of view dropped
    assert book.plan(_signs(arrays, 30, 100, 161)) == ([0, 1], [4, 5])


def test_late_trade_revising_a_closed_bar_redraws_its_block() -> None:
    arrays = _bars(200)
    book = BlockBook()
    book.plan(_signs(arrays, 0, 150, 150))
    revised = [a.copy() for a in arrays]
    revised[1][70] += 2.5  # bar 70's high, in block 2
    assert book.plan(_signs(revised, 0, 150, 150)) == ([2], [])
    revised[4][3] += 1  # bar 3's volume, block 0
    assert book.plan(_signs(revised, 0, 150, 150)) == ([0], [])


def test_nan_values_compare_equal() -> None:
    y = np.full(40, np.nan)
    book = BlockBook()
    book.plan({0: block_sign("c", [y], 0, 32)})
    assert book.plan({0: block_sign("c", [y.copy()], 0, 32)}) == ([], [])


def test_context_change_redraws_every_block() -> None:
    arrays = _bars(100)
    book = BlockBook()
    book.plan(_signs(arrays, 0, 100, 100))
    # another body width (or theme): the same values drawn otherwise
    assert book.plan(_signs(arrays, 0, 100, 100, ("dark", 0.5)))[0] == [0, 1, 2, 3]


def test_history_prepended_at_the_seam_redraws_shifted_blocks() -> None:
    today = _bars(100, seed=2)
    book = BlockBook()
    book.plan(_signs(today, 0, 100, 100))
    prior = _bars(40, seed=3)
    both = [np.concatenate((p, t)) for p, t in zip(prior, today, strict=True)]
    draw, drop = book.plan(_signs(both, 0, 140, 140))
    assert draw == [0, 1, 2, 3, 4] and drop == []  # every index moved by 40 bars
    # prepending a whole number of blocks still moves every bar to another block
    book2 = BlockBook()
    book2.plan(_signs(today, 0, 100, 100))
    prior = _bars(BLOCK, seed=4)
    both = [np.concatenate((p, t)) for p, t in zip(prior, today, strict=True)]
    assert book2.plan(_signs(both, 0, 132, 132))[0] == [0, 1, 2, 3, 4]


def test_line_blocks_group_by_position() -> None:
    xs = np.arange(20, 100, dtype=np.float64)
    cuts = line_blocks(xs)
    assert [k for k, _, _ in cuts] == [0, 1, 2, 3]
    assert [(a, b) for _, a, b in cuts] == [(0, 12), (12, 44), (44, 76), (76, 80)]
    assert line_blocks(np.zeros(0)) == []


def test_line_blocks_joined_cover_the_whole_line() -> None:
    """The blocks' polylines, each run on to the next block's first point, are the one line cut at the joins."""
    xs = np.arange(7, 130, dtype=np.float64)
    ys = np.sin(xs / 9.0)
    for step in (False, True):
        whole_x, whole_y = _shape(xs, ys, step)
        pieces = []
        for _, i0, i1 in line_blocks(xs):
            join = slice(i1, min(i1 + 1, len(xs)))
            pieces.append(_joined(_shape(xs[i0:i1], ys[i0:i1], step), xs[join], ys[join]))
        # consecutive pieces meet: each one ends where the next begins
        for (ax, ay), (bx, by) in pairwise(pieces):
            assert (ax[-1], ay[-1]) == (bx[0], by[0])
        # together (the shared join points once) they are the whole line
        cat_x = np.concatenate([pieces[0][0], *(p[0][1:] for p in pieces[1:])])
        cat_y = np.concatenate([pieces[0][1], *(p[1][1:] for p in pieces[1:])])
        np.testing.assert_array_equal(cat_x, whole_x)
        np.testing.assert_array_equal(cat_y, whole_y)


def test_block_items_build_stale_blocks_only(qt_state: Any) -> None:
    import pyqtgraph as pg

    from viz.widgets.blocks import BlockItems
    from viz.widgets.paths import rects_path

    view = pg.GraphicsLayoutWidget()
    plot = view.addPlot()
    blocks = BlockItems(plot, z=5)
    arrays = _bars(150)
    built: list[int] = []

    def build(k: int) -> list[Any]:
        built.append(k)
        a, b = k * BLOCK, min(k * BLOCK + BLOCK, 150)
        x = np.arange(a, b, dtype=np.float64)
        return [(rects_path(x - 0.35, arrays[2][a:b], x + 0.35, arrays[1][a:b]), None, "#00ff00")]

    assert blocks.show(_signs(arrays, 0, 100, 100), build) == [0, 1, 2, 3] and built == [0, 1, 2, 3]
    assert all(item.parentItem() is blocks.group for item in blocks.items.values())
    assert blocks.group.zValue() == 5 and blocks.boundingRect().left() == -0.35
    built.clear()
    blocks.show(_signs(arrays, 0, 100, 100), build)
    assert built == []
    dropped = blocks.items[0]
    blocks.show(_signs(arrays, 40, 101, 101), build)
    assert built == [3] and 0 not in blocks.items and dropped.scene() is None
    assert blocks.boundingRect().left() == BLOCK - 0.35
    blocks.setVisible(False)
    assert not blocks.isVisible() and not blocks.items[1].isVisible()
    blocks.clear()
    assert blocks.items == {} and blocks.boundingRect().isEmpty()


def test_vwap_blocks_keep_when_the_clip_start_moves(qt_state: Any) -> None:
    """The window clips the lines to the view: a later first point changes the first block only, not the blocks
    after it (their points' indexes in the clipped arrays all moved)."""
    import pyqtgraph as pg
    from PyQt6.QtCore import QSettings

    from viz.widgets.vwap_overlay import VwapLayer

    view = pg.GraphicsLayoutWidget()
    layer = VwapLayer(view.addPlot(), QSettings(), "test", lambda: None, lambda x: None)
    xs = np.arange(0, 150, dtype=np.float64)
    ys = 26_000 + np.sin(xs / 7.0)
    pen = pg.mkPen("#ff9f43")

    def paint(first: int, last: int) -> list[int]:
        return layer._paint_closed(xs[first:last], [("VWAP", ys[first:last], pen, "#ff9f43")], ("c",), False)

    assert paint(10, 140) == [0, 1, 2, 3, 4]
    assert paint(22, 140) == [0]  # the clip moved inside block 0
    assert paint(22, 141) == [4]  # a bar closed: the last block
    assert paint(40, 141) == [1]  # block 0 left behind, block 1 now starts at 40
    assert sorted(layer.item.items) == [1, 2, 3, 4]
    ys[100] += 1.0  # a revised value (a late trade) at bar 100: block 3
    assert paint(40, 141) == [3]
    ys[96] += 1.0  # the first point of block 3 is also the join of block 2's line
    assert paint(40, 141) == [2, 3]
