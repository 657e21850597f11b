"""Session VWAP with +-1/2/3 sigma bands and anchored VWAPs over a price chart whose x axis is bars or periods.

One :class:`VwapLayer` per chart. The window hands it the trades (:meth:`VwapLayer.rebuild` on a new session,
:meth:`VwapLayer.extend` on live trades: only the new ones are computed, :mod:`viz.models.vwap_track`) and, at
paint time, the x position and last trade index of each bar it draws. Values are taken at each bar's close.

Anchored VWAPs start at a bar the user double-clicks (the window's ``span_at(x)`` turns the click into the
bar's first and last exchange time: :meth:`VwapLayer.toggle_anchor`); double-clicking a bar that holds an
anchor removes it, and the "VWAP" menu lists every anchor with a remove action. Anchors are exchange times
kept in QSettings per instrument (``vwap-anchors/SEG:ID``), shared by the windows that draw VWAPs. An anchor
before the first trade the window holds (a bar of an earlier session shown beside today's, or an anchor saved on
an earlier day) is not drawn and cannot be placed: its VWAP would leave out the trades between the anchor and that
first trade; the menu lists a saved one as "not drawn". The menu's switches (session VWAP, each band) are remembered
per window.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PyQt6.QtCore import QSettings, Qt
from PyQt6.QtGui import QAction, QColor, QPainterPath, QPen
from PyQt6.QtWidgets import QMenu, QToolButton

from viz.models import fmt
from viz.models.ticks import TickSeries
from viz.models.vwap import BAND_MULTIPLIERS, SessionRule
from viz.models.vwap_track import VwapTrack
from viz.widgets.blocks import BLOCK, BlockItems, block_sign
from viz.widgets.paths import PathsItem
from viz.widgets.theme import Theme, cache_item

__all__ = ["ANCHORS_GROUP", "VwapLayer", "line_blocks", "load_anchors"]

ANCHORS_GROUP = "vwap-anchors"
ANCHORS_MAX = 8
_COLOURS = {"dark": ("#ff9f43", "#d68cff"), "light": ("#d35400", "#8e44ad")}  # session VWAP, anchored
_BAND_ALPHA = {1: 230, 2: 190, 3: 150}
_BAND_STYLE = {1: Qt.PenStyle.DashLine, 2: Qt.PenStyle.DashLine, 3: Qt.PenStyle.DotLine}
F64 = npt.NDArray[np.float64]


def load_anchors(qs: QSettings, key: str) -> list[int]:
    """Anchor times saved for an instrument (``SEG:ID``); anything unreadable is left out."""
    raw = qs.value(f"{ANCHORS_GROUP}/{key}", "")
    text = ",".join(raw) if isinstance(raw, list) else str(raw or "")
    out = sorted({int(part) for part in text.split(",") if part.strip().isdigit()})
    return out[:ANCHORS_MAX]


def _line_path(x: F64, y: F64) -> QPainterPath:
    path: QPainterPath = pg.arrayToQPath(x, y, connect="finite")
    return path


class VwapLayer:
    """The VWAP drawing, its menu button and its anchors on one plot."""

    def __init__(self, plot: pg.PlotItem, qs: QSettings, window_name: str, on_change: Callable[[], None],
                 span_at: Callable[[float], tuple[int, int] | None], *,
                 label_anchor: tuple[float, float] = (0.0, 0.5)) -> None:
        """``label_anchor``: where a line's label sits against the line's last point (pyqtgraph TextItem anchor;
        the default: right of it, centred)."""
        self.plot, self.qs, self.window_name, self.on_change, self.span_at = plot, qs, window_name, on_change, span_at
        self.label_anchor = label_anchor
        self.ticks = TickSeries(16)
        self.decimals = 2
        # the lines up to the newest bar's predecessor change once per bar: blocks of cached pixmaps
        # (viz.widgets.blocks), only the last one drawn again when a bar closes; the newest bar's segments, which
        # move with every trade, are a small item of their own. Over candles and profiles (z 5); the bands must not
        # widen an automatic range every frame (ignoreBounds).
        self.item = BlockItems(plot, z=5, ignore_bounds=True)
        self.live_item = PathsItem()
        self.live_item.setZValue(5)
        plot.addItem(self.live_item, ignoreBounds=True)
        self._version = 0  # bumped when tracks are recomputed: the cached lines are redrawn
        self.labels: list[pg.TextItem] = []
        self.key: str | None = None
        self.rule = SessionRule.for_segment("NSE_FNO")
        self.session = VwapTrack(self.rule)
        self.anchors: dict[int, VwapTrack] = {}
        self._consumed = 0
        self._theme: Theme | None = None
        self.last: tuple[float, float] | None = None  # session (vwap, sigma) at the newest trade
        self.button = QToolButton()
        self.button.setText("VWAP")
        self.button.setToolTip("Session VWAP and bands; double-click a bar to anchor a VWAP there (again: remove)")
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu = QMenu(self.button)
        self.button.setMenu(self.menu)
        self.show_session = self._switch("Session VWAP", "session", True)
        self.show_band = {k: self._switch(f"\u00b1{k}\u03c3 band", f"band{k}", True) for k in BAND_MULTIPLIERS}
        self._fixed = len(self.menu.actions())
        self._rebuild_menu()
        scene = plot.scene()
        if scene is not None:
            scene.sigMouseClicked.connect(self._clicked)

    def _clicked(self, event: Any) -> None:
        vb = self.plot.getViewBox()
        if not event.double() or not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        self.anchor_at(vb.mapSceneToView(event.scenePos()).x())

    def anchor_at(self, x: float) -> bool | None:
        """Toggle an anchor at the bar under chart position ``x``: True added, False removed, None no bar there
        or a bar before the first trade held (an earlier session's)."""
        span = self.span_at(x)
        return None if span is None else self.toggle_anchor(*span)

    def covers(self, ts: int) -> bool:
        """Whether the trades held start at or before ``ts``, so a VWAP anchored there misses none."""
        return len(self.ticks) > 0 and int(self.ticks.exchange_ts[0]) <= ts

    # --- menu and settings ---
    def _switch(self, text: str, name: str, default: bool) -> QAction:
        action = QAction(text, self.menu)
        action.setCheckable(True)
        action.setChecked(str(self.qs.value(f"{self.window_name}/vwap/{name}", str(default).lower())) == "true")

        def toggled(on: bool) -> None:
            self.qs.setValue(f"{self.window_name}/vwap/{name}", "true" if on else "false")
            self.on_change()

        action.toggled.connect(toggled)
        self.menu.addAction(action)
        return action

    def _rebuild_menu(self) -> None:
        for action in self.menu.actions()[self._fixed :]:
            self.menu.removeAction(action)
        self.menu.addSeparator()
        if not self.anchors:
            hint = self.menu.addAction("Anchored VWAP: double-click a bar")
            assert hint is not None
            hint.setEnabled(False)
            return
        for ts in sorted(self.anchors):
            held = self.covers(ts)
            remove = self.menu.addAction(f"Remove anchor from {fmt.ist_time(ts)}"
                                         + ("" if held else " (an earlier session: not drawn)"))
            assert remove is not None
            remove.triggered.connect(lambda _=False, at=ts: self.remove_anchor(at))
        clear = self.menu.addAction("Remove all anchors")
        assert clear is not None
        clear.triggered.connect(self.clear_anchors)

    def _save(self) -> None:
        if self.key is not None:
            self.qs.setValue(f"{ANCHORS_GROUP}/{self.key}", ",".join(str(ts) for ts in sorted(self.anchors)))
        self._rebuild_menu()
        self.on_change()

    # --- data ---
    def set_instrument(self, key: str, segment: str, tick_size: float, ticks: TickSeries) -> None:
        """Another instrument: its session rule and saved anchors; ``ticks`` its trades so far."""
        self.key = key
        self.decimals = fmt.display_decimals(tick_size)
        try:
            self.rule = SessionRule.for_segment(segment)
        except ValueError:  # a segment with no known open (an instrument given as SEG:ID): the NSE session
            self.rule = SessionRule.for_segment("NSE_FNO")
        self.anchors = {ts: VwapTrack(anchor_ts=ts) for ts in load_anchors(self.qs, key)}
        self.rebuild(ticks)

    def rebuild(self, ticks: TickSeries) -> None:
        """Recompute every track from ``ticks`` (a new session or history load)."""
        self.session = VwapTrack(self.rule, capacity=len(ticks))
        for ts in self.anchors:
            self.anchors[ts] = VwapTrack(anchor_ts=ts, capacity=len(ticks))
        self._consumed = 0
        self._version += 1
        self.ticks = ticks
        self.extend(ticks)
        self._rebuild_menu()  # which saved anchors the trades now held cover

    def extend(self, ticks: TickSeries) -> None:
        """Take the trades of ``ticks`` not seen yet (live appends)."""
        a = self._consumed
        if ticks is not self.ticks or len(ticks) < a:  # replaced under us: start again
            self.rebuild(ticks)
            return
        ts, price, qty = ticks.exchange_ts[a:], ticks.price[a:], ticks.qty[a:]
        self.session.extend(ts, price, qty)
        for track in self.anchors.values():
            track.extend(ts, price, qty)
        self._consumed = len(ticks)
        n = len(self.session)
        if n:
            v, s = float(self.session.vwap[-1]), float(self.session.sigma[-1])
            self.last = None if np.isnan(v) else (v, s)

    def toggle_anchor(self, start_ts: int, end_ts: int) -> bool | None:
        """Remove the anchors inside ``[start_ts, end_ts]`` (a bar), or add one at ``start_ts``; True: added,
        None: refused, the bar is before the first trade held."""
        inside = [ts for ts in self.anchors if start_ts <= ts <= end_ts]
        if inside:
            for ts in inside:
                del self.anchors[ts]
            self._save()
            return False
        if not self.covers(start_ts):
            return None
        if len(self.anchors) >= ANCHORS_MAX:
            del self.anchors[min(self.anchors)]
        n, ticks = self._consumed, self.ticks
        track = VwapTrack(anchor_ts=start_ts, capacity=n)
        track.extend(ticks.exchange_ts[:n], ticks.price[:n], ticks.qty[:n])
        self.anchors[start_ts] = track
        self._save()
        return True

    def remove_anchor(self, ts: int) -> None:
        if self.anchors.pop(ts, None) is not None:
            self._save()

    def clear_anchors(self) -> None:
        self.anchors.clear()
        self._save()

    # --- paint ---
    def set_theme(self, theme: Theme) -> None:
        self._theme = theme

    def paint(self, x: Any, ends: Any, *, step: bool = False) -> None:
        """Draw at bars placed at ``x`` (centres; with ``step`` left edges of unit-wide columns) whose last
        trades are ``ends``. Only what is passed is drawn (the window clips to its view). The lines up to the
        last bar are redrawn only when those bars change; the last bar's segments every call."""
        theme = self._theme
        xs = np.asarray(x, dtype=np.float64)
        if theme is None or len(xs) == 0:
            self.item.clear()
            self.live_item.clear()
            self._place_labels([])
            return
        ends = np.asarray(ends, dtype=np.int64)
        lines = self._lines(ends, theme)
        self._paint_closed(xs[:-1], lines, (self._version, theme.name, step, tuple(name for name, *_ in lines)), step)
        self.live_item.set_layers([(_line_path(*_tail(xs, y, step)), pen, None) for _, y, pen, _ in lines])
        self._place_labels([(name, *_last_point(xs, y, step), colour) for name, y, _, colour in lines])

    def _paint_closed(self, xs: F64, lines: list[tuple[str, F64, QPen, str]], context: Hashable,
                      step: bool) -> list[int]:
        """The lines through the points at ``xs`` (all but the newest bar), in blocks of the bars' positions
        (``x // BLOCK``); each block's lines run on to the next block's first point, so the blocks join. A block's
        signature holds its points' positions, not their indexes in ``xs`` (which shift as the view's clip moves).
        Returns the blocks drawn."""
        cuts = line_blocks(xs)
        signs, spans = {}, {}
        for k, i0, i1 in cuts:
            spans[k] = (i0, i1)
            j = min(i1 + 1, len(xs))
            signs[k] = block_sign(context, [xs[i0:j], *(y[i0:j] for _, y, _, _ in lines)], 0, j - i0)

        def build(k: int) -> list[tuple[QPainterPath, QPen, None]]:
            i0, i1 = spans[k]
            join = slice(i1, min(i1 + 1, len(xs)))
            return [(_line_path(*_joined(_shape(xs[i0:i1], y[i0:i1], step), xs[join], y[join])), pen, None)
                    for _, y, pen, _ in lines]

        return self.item.show(signs, build)

    def _lines(self, ends: Any, theme: Theme) -> list[tuple[str, F64, QPen, str]]:
        """``(label, values at ends, pen, colour)`` of each line shown, in drawing order."""
        session_colour, anchor_colour = _COLOURS.get(theme.name, _COLOURS["dark"])
        lines: list[tuple[str, F64, QPen, str]] = []
        if self.show_session.isChecked():
            v, s = self.session.at(ends)
            for k in BAND_MULTIPLIERS:
                if self.show_band[k].isChecked():
                    colour = QColor(session_colour)
                    colour.setAlpha(_BAND_ALPHA[k])
                    pen = pg.mkPen(colour, width=1, style=_BAND_STYLE[k])
                    for sign, y in ((-1, v - k * s), (1, v + k * s)):
                        lines.append((f"{'+' if sign > 0 else '-'}{k}\u03c3", y, pen, colour.name()))
            lines.append(("VWAP", v, pg.mkPen(session_colour, width=2), session_colour))
        for ts, track in sorted(self.anchors.items()):
            if not self.covers(ts):
                continue  # its VWAP would leave out the trades before the first one held
            v, _ = track.at(ends)
            if np.isfinite(v).any():
                lines.append((f"AVWAP {fmt.ist_time(ts)[:5]}", v, pg.mkPen(anchor_colour, width=1.6), anchor_colour))
        return lines

    def _place_labels(self, labels: list[tuple[str, float, float, str]]) -> None:
        while len(self.labels) < len(labels):
            label = pg.TextItem(anchor=self.label_anchor)
            cache_item(label.textItem)  # the text itself (a child item): moved every frame, re-laid out seldom
            label.setZValue(6)
            self.plot.addItem(label, ignoreBounds=True)
            self.labels.append(label)
        for i, label in enumerate(self.labels):
            if i >= len(labels) or not np.isfinite(labels[i][2]):
                label.setVisible(False)
                continue
            name, lx, ly, colour = labels[i]
            text = name if name[0] in "+-A" else f"{name} {fmt.price(ly, self.decimals)}"  # bands, anchors: name
            label.setVisible(True)
            if label.toPlainText() != text:
                label.setText(text, color=colour)
            if (label.pos().x(), label.pos().y()) != (lx, ly):
                label.setPos(lx, ly)


def line_blocks(xs: F64, block: int = BLOCK) -> list[tuple[int, int, int]]:
    """``(block, first, end)``: the points of ascending positions ``xs`` grouped by block ``x // block``, each as
    its index range ``[first, end)``."""
    if len(xs) == 0:
        return []
    ids = np.floor(np.asarray(xs, dtype=np.float64) / block).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    return [(int(ids[a]), int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def _joined(shape: tuple[F64, F64], x: F64, y: F64) -> tuple[F64, F64]:
    """A block's line run on to the next block's first point (``x``, ``y``: that point, or nothing)."""
    return np.concatenate((shape[0], x)), np.concatenate((shape[1], y))


def _shape(x: F64, y: F64, step: bool) -> tuple[F64, F64]:
    """Points of a line through bar centres, or a step line over unit columns (left edges ``x``)."""
    if not step:
        return x, y
    return np.column_stack((x, x + 1.0)).ravel(), np.repeat(y, 2)


def _tail(x: F64, y: F64, step: bool) -> tuple[F64, F64]:
    """The last bar's part of :func:`_shape`: from the bar before it (a step: its vertical join) to its end."""
    if not step:
        return x[-2:], y[-2:]
    xl = float(x[-1])
    if len(x) < 2:
        return np.array([xl, xl + 1.0]), np.array([y[-1], y[-1]])
    return np.array([xl, xl, xl + 1.0]), np.array([y[-2], y[-1], y[-1]])


def _last_point(x: F64, y: F64, step: bool) -> tuple[float, float]:
    finite = np.flatnonzero(np.isfinite(y))
    if len(finite) == 0:
        return float("nan"), float("nan")
    i = int(finite[-1])
    return float(x[i] + (1.0 if step else 0.5)), float(y[i])
