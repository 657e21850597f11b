"""Gap ledger bands on pyqtgraph plots: one translucent, fixed vertical region per gap (see viz.models.gaps).

Feed outages and stalls are shaded in the theme's error colour, an instrument out of the universe in its
neutral colour; a gap still open is drawn stronger. The first plot carries a small kind label at the top of
each band, and every band's tooltip describes the gap. Items are kept and reused; a repaint with the same
bands touches nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyqtgraph as pg

from viz.models.gaps import Band
from viz.widgets.theme import Theme

__all__ = ["GapBands"]

BAND_Z = -20  # under candles, curves and profiles
FILL_ALPHA = 38
OPEN_FILL_ALPHA = 95
EDGE_ALPHA = 120
OPEN_EDGE_ALPHA = 230
LABEL_AT = 0.97  # label position along the band's left edge, 0 = bottom of the view, 1 = top


def _colour_name(kind: str) -> str:
    return "neutral" if kind.startswith("universe") else "error"


class GapBands:
    """The bands of one chart, drawn on each of ``plots`` (sharing an x axis); labels on the first."""

    def __init__(self, *plots: pg.PlotItem) -> None:
        self.plots = plots
        self.items: list[list[pg.LinearRegionItem]] = [[] for _ in plots]
        self.labels: list[pg.InfLineLabel] = []
        self._drawn: tuple[object, ...] = ()

    def set_bands(self, bands: Sequence[Band], theme: Theme) -> None:
        key = (tuple(bands), theme.name)
        if key == self._drawn:
            return
        self._drawn = key
        for p, plot in enumerate(self.plots):
            items = self.items[p]
            while len(items) < len(bands):
                items.append(self._new_item(plot, labelled=p == 0))
            for item, band in zip(items, bands, strict=False):
                self._style(item, band, theme)
                item.setRegion((band.x0, band.x1))
                item.setToolTip(band.text)
                item.setVisible(True)
            for item in items[len(bands):]:
                item.setVisible(False)
        for label, band in zip(self.labels, bands, strict=False):
            label.setFormat(band.kind + (" (OPEN)" if band.is_open else ""))
            label.setColor(theme.color("muted" if band.kind.startswith("universe") else "error"))

    def _new_item(self, plot: pg.PlotItem, *, labelled: bool) -> pg.LinearRegionItem:
        item = pg.LinearRegionItem(movable=False)
        item.setZValue(BAND_Z)
        plot.addItem(item, ignoreBounds=True)  # a gap never stretches the chart's range
        if labelled:
            # along the band's left edge, inside it, ending near the top of the view
            label = pg.InfLineLabel(item.lines[0], text="", position=LABEL_AT, rotateAxis=(1, 0), anchors=[(1, 0)] * 2)
            self.labels.append(label)
        return item

    @staticmethod
    def _style(item: pg.LinearRegionItem, band: Band, theme: Theme) -> None:
        name = _colour_name(band.kind)
        fill = theme.color(name, OPEN_FILL_ALPHA if band.is_open else FILL_ALPHA)
        edge = pg.mkPen(theme.color(name, OPEN_EDGE_ALPHA if band.is_open else EDGE_ALPHA), width=1)
        item.setBrush(pg.mkBrush(fill))
        for line in item.lines:
            line.setPen(edge)
