"""viz.models.heat_colours, pure: the heatmap's colour index kept column by column in the map's ring."""

from __future__ import annotations

import random

import numpy as np

from tests.viz.test_depth_models import _book
from viz.models.heat_colours import HeatColours, colour_index
from viz.models.liquidity import LiquidityMap, colour_scale

# 254 / sqrt(SCALE) == 1: a size's colour index is floor(sqrt(size)) + 1 (at most 255), 0 for no size
SCALE = 254 * 254


def test_colour_index_by_hand() -> None:
    sizes = np.array([[0, 1, 100], [2500, SCALE, 10 * SCALE]], np.float32)
    assert colour_index(sizes, SCALE).tolist() == [[0, 2, 11], [51, 255, 255]]


def test_columns_are_coloured_one_at_a_time_across_the_ring() -> None:
    m = LiquidityMap(tick=1.0, col_s=1.0, cols=3)
    colours = HeatColours(m, relevel=1e9)  # the first scale is kept: every column is coloured with it
    assert colours.frame((99, 101)) is None
    m.add_book(_book(10.0, [(100.0, SCALE, 1)], [(101.0, SCALE, 1)]))
    heat = colours.frame((99, 101))  # rows: ticks 99, 100, 101
    assert heat is not None and heat.scale == SCALE and heat.index.tolist() == [[0, 255, 255]]
    m.add_book(_book(11.0, [(100.0, 100, 1)], [(101.0, 2500, 1)]))
    heat = colours.frame((99, 101))
    assert heat is not None and heat.index.tolist() == [[0, 255, 255], [0, 11, 51]]
    # column 12 stays empty; column 13 lands in slot 1 and column 10 leaves: columns 11, 12, 13 are slots
    # 2, 0, 1 (the picture wraps around the ring's end)
    m.add_book(_book(13.2, [(99.0, 1, 1)], [(101.0, 10 * SCALE, 1)]))
    heat = colours.frame((99, 101))
    assert heat is not None and heat.index.tolist() == [[0, 11, 51], [0, 0, 0], [2, 0, 255]]
    assert (heat.t0, heat.tick_lo, heat.x.tolist()) == (11.0, 99, [11.5, 12.5, 13.5])
    assert heat.best_bid[[0, 2]].tolist() == [100.0, 99.0] and np.isnan(heat.best_bid[1])
    assert colours.recoloured == 1  # the first frame only
    before = heat.index.copy()
    m.add_book(_book(14.0, [(100.0, 1, 1)], [(101.0, 1, 1)]))
    colours.frame((99, 101))
    assert heat.index.tolist() == before.tolist()  # a frame given out is not written into afterwards


def test_other_rows_a_grown_grid_or_a_long_gap_colour_everything_again() -> None:
    m = LiquidityMap(tick=1.0, col_s=1.0, cols=4)
    colours = HeatColours(m, relevel=1e9)
    for t in range(3):
        m.add_book(_book(float(t), [(100.0, 100 * (t + 1), 1)], [(101.0, 400, 1)]))
        colours.frame((99, 102))
    assert colours.recoloured == 1
    heat = colours.frame((100, 101))  # the view moved: other rows
    assert colours.recoloured == 2 and heat is not None and heat.index.shape == (3, 2)
    image = m.image((100, 101))
    assert image is not None and heat.scale == image.scale == colour_scale(image.image)
    assert heat.index.tolist() == colour_index(image.image, image.scale).tolist()
    m.add_book(_book(3.0, [(100.0, 100, 1)], [(500.0, 1, 1)]))  # far beyond the grid: it is re-allocated
    colours.frame((100, 101))
    assert colours.recoloured == 3
    m.add_book(_book(20.0, [(100.0, 100, 1)], [(101.0, 100, 1)]))  # more than the ring's columns later
    heat = colours.frame((100, 101))
    assert colours.recoloured == 4 and heat is not None and heat.index.shape == (1, 2)


def test_the_scale_colours_everything_again_only_when_it_moved_more_than_relevel() -> None:
    m = LiquidityMap(tick=1.0, col_s=1.0, cols=100)
    colours = HeatColours(m)  # relevel 2 %
    for t in range(10):
        m.add_book(_book(float(t), [(100.0, 10_000, 1)], [(101.0, 10_000, 1)]))
        colours.frame((100, 101))
    m.add_book(_book(10.0, [(100.0, 10_100, 1)], [(101.0, 10_100, 1)]))  # the scale moves 1 %: kept
    heat = colours.frame((100, 101))
    assert heat is not None and colours.recoloured == 1 and heat.scale == 10_000.0
    assert heat.index[-1].tolist() == [255, 255]  # coloured with the kept scale (at its top)
    for t in (11.0, 12.0):  # the scale moves 10 %: all columns again, with the new scale
        m.add_book(_book(t, [(100.0, 11_000, 1)], [(101.0, 11_000, 1)]))
    heat = colours.frame((100, 101))
    image = m.image((100, 101))
    assert heat is not None and image is not None and colours.recoloured == 2
    assert heat.scale == image.scale == 11_000.0
    assert heat.index.tolist() == colour_index(image.image, image.scale).tolist()
    assert heat.index[0].tolist() == [243, 243]  # sqrt(10000 / 11000) * 254 + 1


def test_kept_colours_equal_a_whole_colouring_through_many_wraps() -> None:
    rng = random.Random(3)
    m = LiquidityMap(tick=1.0, col_s=1.0, cols=7)
    colours = HeatColours(m, relevel=1e9)
    t, mid = 0.0, 100
    for _ in range(60):
        t += rng.choice((0.4, 1.0, 1.0, 2.0, 3.0))  # some columns get two books, some none
        mid += rng.choice((-1, 0, 1))
        bids = [(float(mid - i), rng.randint(1, 5000), 1) for i in range(3)]
        asks = [(float(mid + 1 + i), rng.randint(1, 5000), 1) for i in range(3)]
        m.add_book(_book(t, bids, asks))
        heat, image = colours.frame((90, 110)), m.image((90, 110))
        assert heat is not None and image is not None
        assert (heat.t0, heat.tick_lo) == (image.t0, image.tick_lo)
        assert heat.index.tolist() == colour_index(image.image, heat.scale).tolist()
    assert colours.recoloured == 1
