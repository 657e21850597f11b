"""Market profile (TPO) drawing for the volume-profile chart's TPO mode (model: :mod:`viz.models.tpo`).

The session's profile by time: each price row lists, left to right, the letters of the 30-minute periods that
traded there (A-Z then a-z from the session open), one cell per letter (x = 0, 1, 2 ...). Cells inside the
value area are tinted, outside it faded; the POC row is gold; single prints (rows with one TPO) are marked
with a bar left of their letter. Left of the letters, the initial balance (first hour, periods A and B) is a
bar over its range, and each range extension a bar in the up or down colour beyond it, labelled with the
extending periods' letters. POC, VAH and VAL (by TPO count) are lines across, labelled at the right.

Letters are drawn in device pixels when rows are tall enough (:class:`TpoCells`); zoomed out, the cells read
as the classic block profile.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen

from shared.candles import SESSION_OPEN_S
from viz.models import fmt
from viz.models.profile import VA_METHODS, ValueAreaMethod
from viz.models.ticks import TickSeries
from viz.models.tpo import LETTERS, TpoProfile
from viz.widgets.paths import PathsItem, rects_path, segments_path
from viz.widgets.profile_layers import ROW_FILL
from viz.widgets.ranges import stick_view
from viz.widgets.theme import Theme

__all__ = ["IB_X", "TpoCells", "TpoView"]

IB_X = -1.6  # the initial-balance bar's left edge (letters start at x = 0)
_BAR_W = 0.35
_SINGLE_W = 0.18
_TEXT_MIN_PX = 9.0
_DEFAULT_OPEN_S = SESSION_OPEN_S["NSE_FNO"]
_MIN_SLOTS = 26.0  # the view spans at least this many letter cells (a young session's letters stay compact)
_SINGLE_COLOUR = {"dark": "#e040fb", "light": "#ab47bc"}


class TpoCells(pg.GraphicsObject):  # type: ignore[misc]
    """Letter cells: shapes in chart coordinates, letters in device pixels."""

    def __init__(self) -> None:
        super().__init__()
        self._layers: list[tuple[QPainterPath, QPen, Any]] = []
        self._letters: list[tuple[float, float, str]] = []  # row price, row height, letters
        self._bounds = QRectF()
        self._fg = QColor("white")
        self._font = QFont()
        self._font.setPixelSize(11)

    def set_cells(self, layers: list[tuple[QPainterPath, QPen, Any]], letters: list[tuple[float, float, str]],
                  bounds: QRectF, fg: str) -> None:
        self.prepareGeometryChange()
        self._layers, self._letters, self._bounds, self._fg = layers, letters, bounds, QColor(fg)
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(self._bounds)

    def paint(self, painter: QPainter, *args: Any) -> None:
        for path, pen, brush in self._layers:
            painter.setPen(pen)
            painter.setBrush(brush if brush is not None else Qt.BrushStyle.NoBrush)
            painter.drawPath(path)
        if not self._letters:
            return
        transform = painter.transform()
        row_px = abs(transform.m22()) * self._letters[0][1] * ROW_FILL
        cell_px = abs(transform.m11())
        if row_px < _TEXT_MIN_PX or cell_px < 7.0:
            return
        painter.save()
        painter.resetTransform()
        painter.setPen(self._fg)
        self._font.setPixelSize(int(min(13.0, row_px - 1, cell_px)))
        painter.setFont(self._font)
        centre = Qt.AlignmentFlag.AlignCenter
        for price, row, letters in self._letters:
            for i, letter in enumerate(letters):
                cell = transform.mapRect(QRectF(i, price, 1.0, row * ROW_FILL))
                painter.drawText(cell, centre, letter)
        painter.restore()


class TpoView:
    """The TPO model of the shown session and its drawing on one plot (hidden in volume mode)."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        self.cells = TpoCells()
        self.marks = PathsItem()
        for item in (self.cells, self.marks):
            item.setZValue(3)
            plot.addItem(item, ignoreBounds=True)  # the window sets the ranges in TPO mode
        self.labels = [pg.TextItem(anchor=(0, 0.5)) for _ in range(3)]  # POC, VAH, VAL right of the profile
        self.labels.append(pg.TextItem(anchor=(1, 0.5)))  # IB, left of its bar
        self.ext_labels: list[pg.TextItem] = []
        for label in self.labels:
            plot.addItem(label, ignoreBounds=True)
        self.model: TpoProfile | None = None
        self.tick_size = 0.05
        self.open_s = _DEFAULT_OPEN_S
        self._key: tuple[Any, ...] | None = None
        self.set_visible(False)  # the window shows it in TPO mode

    # --- data ---
    def set_instrument(self, segment: str, tick_size: float) -> None:
        self.tick_size = tick_size
        self.open_s = SESSION_OPEN_S.get(segment, _DEFAULT_OPEN_S)
        self.model = None

    def rebuild(self, ticks: TickSeries, day: int | None) -> None:
        """The session's TPOs from ``ticks`` (session ``day``: Dhan-epoch day number, else the first trade's)."""
        if day is None:
            day = int(ticks.exchange_ts[0]) // 86_400 if len(ticks) else None
        if day is None:
            self.model = None
            return
        self.model = TpoProfile(self.tick_size, day * 86_400 + self.open_s)
        self.model.add_many(ticks.exchange_ts, ticks.price)
        self._key = None

    def add(self, events: list[dict[str, Any]]) -> None:
        if self.model is not None:
            for ev in events:
                self.model.add(ev["exchange_ts"], ev["ltp"])

    # --- paint ---
    def set_visible(self, on: bool) -> None:
        for item in (self.cells, self.marks, *self.labels, *self.ext_labels):
            item.setVisible(on)

    def paint(self, theme: Theme, ticks_per_row: int, method: ValueAreaMethod, fraction: float = 0.70
              ) -> tuple[float, float, float, float] | None:
        """Draw the profile; returns its extent ``(x0, x1, y0, y1)`` (None without trades)."""
        model = self.model
        if model is None:
            self.cells.set_cells([], [], QRectF(), theme.fg)
            self.marks.clear()
            return None
        prices, counts = model.rows(ticks_per_row)
        if len(prices) == 0:
            return None
        row = model.tick_size * max(1, ticks_per_row)
        letters = model.letters(ticks_per_row)
        stats = model.stats(ticks_per_row, fraction, method)
        key = (tuple(letters), float(prices[0]), row, theme.name, method, fraction)
        width = float(counts.max())
        extent = (IB_X - 1.2, max(width + 5.0, _MIN_SLOTS), float(prices[0]), float(prices[-1] + row))
        if key == self._key:
            return extent
        self._key = key
        self._paint_cells(theme, prices, counts, letters, stats.va_rows, stats.poc_row, row)
        self._paint_marks(theme, model, stats, row, width)
        return extent

    def show(self, extent: tuple[float, float, float, float]) -> None:
        """Fit the plot's view to the profile's ``extent`` (from :meth:`paint`); y moves in steps."""
        x0, x1, y0, y1 = extent
        (cx, _) = self.plot.getViewBox().viewRange()
        if abs(cx[0] - x0) > 1e-6 or abs(cx[1] - x1) > 1e-6:
            self.plot.setXRange(x0, x1, padding=0)
        stick_view(self.plot, y=(y0, y1), headroom=0.05)

    def _paint_cells(self, theme: Theme, prices: Any, counts: Any, letters: list[str], va: tuple[int, int],
                     poc_row: int, row: float) -> None:
        rows = np.arange(len(prices))
        inside = (rows >= va[0]) & (rows <= va[1])
        groups: list[tuple[Any, QColor]] = [
            (inside & (rows != poc_row), theme.color("va", 200)), (~inside, theme.color("neutral", 120)),
            (rows == poc_row, theme.color("poc", 130)),
        ]
        no_pen = QPen(Qt.PenStyle.NoPen)
        layers: list[tuple[QPainterPath, QPen, Any]] = []
        for mask, colour in groups:
            r = np.flatnonzero(mask & (counts > 0))
            if len(r) == 0:
                continue
            reps = counts[r]
            xs = np.concatenate([np.arange(c, dtype=np.float64) for c in reps])
            ys = np.repeat(prices[r], reps)
            layers.append((rects_path(xs + 0.06, ys, xs + 0.94, ys + row * ROW_FILL), no_pen, colour))
        single = np.flatnonzero(counts == 1)
        if len(single):
            ys = prices[single]
            single_colour = QColor(_SINGLE_COLOUR.get(theme.name, "#e040fb"))
            layers.append((rects_path(np.full(len(ys), -_SINGLE_W - 0.05), ys, np.full(len(ys), -0.05),
                                      ys + row * ROW_FILL), no_pen, single_colour))
        text = [(float(p), row, s) for p, s in zip(prices.tolist(), letters, strict=True) if s]
        bounds = QRectF(-_SINGLE_W - 0.1, float(prices[0]), float(counts.max()) + 0.2,
                        float(prices[-1] - prices[0]) + row)
        self.cells.set_cells(layers, text, bounds, theme.fg)

    def _paint_marks(self, theme: Theme, model: TpoProfile, stats: Any, row: float, width: float) -> None:
        layers: list[tuple[QPainterPath, Any, Any]] = []
        ib = model.initial_balance()
        dp = fmt.display_decimals(model.tick_size)
        texts: list[tuple[pg.TextItem, str, float, float, str]] = []
        if ib is not None:
            top = ib.high + row * ROW_FILL
            layers.append((rects_path([IB_X], [ib.low], [IB_X + _BAR_W], [top]), None, theme.color("accent")))
            layers.append((segments_path([IB_X, IB_X], [ib.low, top], [width + 1.0, width + 1.0], [ib.low, top]),
                           pg.mkPen(theme.accent, width=1, style=Qt.PenStyle.DotLine), None))
            texts.append((self.labels[3], "IB" if ib.periods == 2 else "IB (A)", IB_X - 0.1, (ib.low + top) / 2,
                          theme.accent))
        exts = model.extensions()
        self._ext_label_pool(len(exts))
        if ib is not None:  # one bar per side, from the IB to the farthest extension
            for up, name in ((True, "up"), (False, "down")):
                side = [e.price for e in exts if e.up == up]
                if side:
                    lo, hi = (ib.high + row * ROW_FILL, max(side) + row * ROW_FILL) if up else (min(side), ib.low)
                    layers.append((rects_path([IB_X], [lo], [IB_X + _BAR_W], [hi]), None, theme.color(name, 200)))
        placed: dict[bool, list[float]] = {True: [], False: []}
        for ext, label in zip(exts, self.ext_labels, strict=False):  # a tick and a letter at each extreme
            name, arrow = ("up", "\u2191") if ext.up else ("down", "\u2193")
            y = ext.price + row * ROW_FILL if ext.up else ext.price
            if any(abs(y - other) < 1.5 * row for other in placed[ext.up]):
                continue  # too close to a label already on that side
            placed[ext.up].append(y)
            layers.append((segments_path([IB_X - 0.15], [y], [IB_X + _BAR_W], [y]), pg.mkPen(theme.fg), None))
            texts.append((label, f"{ext.letter}{arrow}", IB_X - 0.2, y, getattr(theme, name)))
        if stats.poc is not None:  # lines through the middle of the POC row, the top of VAH's, the bottom of VAL's
            marks = (("POC", stats.poc, stats.poc + row * ROW_FILL / 2, theme.poc, 2),
                     ("VAH", stats.vah, stats.vah + row * ROW_FILL, theme.value_line, 1),
                     ("VAL", stats.val, stats.val, theme.value_line, 1))
            for label, (name, value, y, colour, width_px) in zip(self.labels[:3], marks, strict=True):
                layers.append((segments_path([0.0], [y], [width + 1.0], [y]), pg.mkPen(colour, width=width_px), None))
                texts.append((label, f"{name} {fmt.price(value, dp)}", width + 1.2, y, colour))
        self.marks.set_layers(layers)
        shown = {id(t[0]) for t in texts}
        for label in (*self.labels, *self.ext_labels):
            label.setVisible(id(label) in shown)
        for label, text, x, y, colour in texts:
            label.setText(text, color=colour)
            label.setPos(x, y)

    def _ext_label_pool(self, n: int) -> None:
        while len(self.ext_labels) < n:
            label = pg.TextItem(anchor=(1, 0.5))
            self.plot.addItem(label, ignoreBounds=True)
            self.ext_labels.append(label)

    def header_html(self, head: str, ticks_per_row: int, method: ValueAreaMethod, theme: Theme) -> str:
        """The window's header in TPO mode: what the letters are, and the session's figures."""
        title = (f"{head} &middot; <b>TPO</b> market profile: 30-min periods lettered A-Z then a-z &middot; "
                 f"POC and value area 70% by TPO count ({VA_METHODS[method]})")
        model = self.model
        prices, counts = model.rows(ticks_per_row) if model is not None else (np.zeros(0), np.zeros(0))
        if model is None or not len(prices):
            return title + "<br>no trades yet"
        dp = fmt.display_decimals(model.tick_size)
        stats = model.stats(ticks_per_row, 0.70, method)
        traded = [p for p in range(len(LETTERS)) if model.period_range(p) is not None]
        ib = model.initial_balance()
        ups = " ".join(e.letter for e in model.extensions() if e.up) or "-"
        downs = " ".join(e.letter for e in model.extensions() if not e.up) or "-"
        exts = f"up {ups}, down {downs}"
        ib_text = "-" if ib is None else f"{fmt.price(ib.low, dp)}-{fmt.price(ib.high, dp)}"
        return (
            f"{title}<br><span style='color:{theme.poc}'>POC {fmt.price(stats.poc, dp)}</span> "
            f"<span style='color:{theme.value_line}'>VAH {fmt.price(stats.vah, dp)} VAL {fmt.price(stats.val, dp)}"
            f"</span> &middot; {int(counts.sum())} TPOs, periods {LETTERS[traded[0]]}-{LETTERS[traded[-1]]} &middot; "
            f"<span style='color:{theme.accent}'>initial balance {ib_text}</span> &middot; extensions: {exts} "
            f"&middot; single prints: {len(model.single_prints(ticks_per_row))} rows"
        )
