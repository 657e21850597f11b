"""Window 4: volume-profile chart, one profile per session period (``dhan viz volume-profile-chart``).

Periods of 1, 5 (default), 15, 30 or 60 minutes from 09:15 IST, side by side: each column holds the
period's profile (buy/sell/unclassified, value area in full colour), its POC (thick) and VAH/VAL (thin),
and optionally a thin candle at its left edge. The dashed step line is the developing POC: the session's
POC as each period closed. The whole session's profile stands at the right edge. Profile widths share one
scale across periods (a busier period has longer bars); the session profile has its own. Holes from the gap
ledger are shaded bands over the periods they fall in (at the seam between two columns when no period with
trades holds them; see viz.models.gaps). The session VWAP with its bands and the anchored VWAPs (double-click
a period) step across the columns at each period's close (viz.widgets.vwap_overlay). The "Profile" switch
turns the chart into the session's market profile by time (TPO: 30-minute letters, initial balance and its
extensions, single prints, POC and value area by TPO count; viz.widgets.tpo_view). The Days control loads the
previous sessions: yesterday's POC, VAH and VAL are dashed lines across the chart, and the POCs of earlier
sessions that no later trade reached (naked) are dotted lines, each ending at the period whose trade first
reaches it (viz.models.prior_sessions, viz.windows.prior_days, viz.windows.prior_levels; volume mode only).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QCheckBox, QSpinBox, QVBoxLayout, QWidget

from shared.settings import Settings
from viz.data.catalog import Instrument
from viz.models import fmt
from viz.models.bars import Bars
from viz.models.gaps import gap_bands, period_slots
from viz.models.periods import PERIOD_MINUTES_CHOICES, PeriodProfiles
from viz.models.profile import VA_METHODS
from viz.models.ticks import SIDE_CODES
from viz.models.vwap_track import bar_ends
from viz.widgets.candles import candle_layers
from viz.widgets.controls import ChoiceBox, compact, labelled
from viz.widgets.gap_bands import GapBands
from viz.widgets.paths import PathsItem, segments_path, set_text
from viz.widgets.period_axis import PeriodAxis
from viz.widgets.profile_layers import ROW_FILL, RectGroups, profile_rects, rects_layers
from viz.widgets.ranges import stick_view
from viz.widgets.theme import cache_item, chart_view, style_plot
from viz.widgets.tpo_view import TpoView
from viz.widgets.vwap_overlay import VwapLayer
from viz.windows.base import VizOptions
from viz.windows.price_base import PriceWindow, session_label
from viz.windows.prior_levels import PriorLevels
from viz.windows.volume_profile import auto_ticks_per_row

__all__ = ["VolumeProfileChartWindow"]

PROFILE_LEFT = 0.22  # profile bars start here inside a period column [k, k + 1)
PROFILE_WIDTH = 0.74
CANDLE_X = 0.1
CANDLE_WIDTH = 0.1
SESSION_GAP = 0.6
SESSION_WIDTH = 5.0  # columns the session profile may span
VISIBLE_PERIODS = 30
TARGET_ROWS = 60
LABEL_ROOM = 0.4  # columns right of the session profile (its labels sit inside it, right-aligned)
SEAM_WIDTH = PROFILE_LEFT  # a gap between two columns: as wide as the room left of a profile


class VolumeProfileChartWindow(PriceWindow):
    NAME = "volume-profile-chart"
    TITLE = "Volume-profile chart"

    def __init__(self, settings: Settings, options: VizOptions | None = None) -> None:
        super().__init__(settings, options)
        self.model: PeriodProfiles | None = None
        self._closed_key: tuple[Any, ...] | None = None
        self._user_rows = False
        self.following = True
        self.period_box = ChoiceBox([(f"{m} min", m) for m in PERIOD_MINUTES_CHOICES])
        self.period_box.set_value(int(self.recall("period_min", 5)))
        self.period_box.currentIndexChanged.connect(self._settings_changed)
        self.rows_spin = QSpinBox()
        self.rows_spin.setRange(1, 5000)
        self.rows_spin.valueChanged.connect(self._rows_changed)
        self.method_box = ChoiceBox([(label, key) for key, label in VA_METHODS.items()])
        self.method_box.set_value(str(self.recall("method", "cbot")))
        self.method_box.currentIndexChanged.connect(self._settings_changed)
        self.candles_box = QCheckBox("Candles")
        self.candles_box.setChecked(str(self.recall("candles", "true")) == "true")
        self.candles_box.toggled.connect(self._settings_changed)
        self.toolbar.addWidget(labelled("Period", self.period_box))
        self.toolbar.addWidget(labelled("Row (ticks)", self.rows_spin))
        # the method's long label in full in the header (and the open list): the toolbar fits 1280 px
        self.toolbar.addWidget(compact(self.method_box, 12))
        self.toolbar.addWidget(self.candles_box)
        self.mode_box = ChoiceBox([("Volume", "volume"), ("TPO", "tpo")])
        self.mode_box.set_value(str(self.recall("mode", "volume")))
        self.mode_box.currentIndexChanged.connect(self._mode_changed)
        self.toolbar.addWidget(labelled("Profile", self.mode_box))
        self.prior = PriorLevels(self)

        self.plot_widget = chart_view(pg.PlotWidget(axisItems={"bottom": PeriodAxis(
            lambda: self.model.periods if self.model is not None else [], self.session_x, lambda: self.tpo_on)}))
        self.plot = self.plot_widget.getPlotItem()
        self.vwap = VwapLayer(self.plot, self.qs, self.NAME, self.mark_dirty, self._period_span,
                              label_anchor=(1.0, 1.0))  # above the line's end: the session profile is right of it
        self.tpo = TpoView(self.plot)
        self.toolbar.addWidget(self.vwap.button)
        self.finish_toolbar()
        self.plot.showAxis("right")
        self.plot.hideAxis("left")
        self.plot.hideButtons()
        # closed periods change once per period: a cached pixmap between their updates
        self.closed_item, self.live_item, self.session_item = cache_item(PathsItem()), PathsItem(), PathsItem()
        for item in (self.closed_item, self.live_item, self.session_item):
            self.plot.addItem(item)
        self.gap_bands = GapBands(self.plot)
        self.dpoc = pg.PlotDataItem(stepMode="center")
        cache_item(self.dpoc.curve)  # changes with the session POC, not every frame: a pixmap in between
        self.plot.addItem(self.dpoc)
        self._dpoc_drawn: list[Any] | None = None
        self.session_labels = [cache_item(pg.TextItem(anchor=(1, 1))) for _ in range(3)]  # above the line, right
        for label in self.session_labels:
            self.plot.addItem(label)
        self.plot.getViewBox().sigRangeChangedManually.connect(self._user_moved)

        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(8, 6, 8, 4)
        lay.addWidget(self.header)
        lay.addWidget(self.plot_widget, 1)
        self.setCentralWidget(central)

    # --- controls ---
    def session_x(self) -> float:
        n = len(self.model.periods) if self.model is not None else 0
        return n + SESSION_GAP

    @property
    def tpo_on(self) -> bool:
        return bool(self.mode_box.value() == "tpo")

    def _mode_changed(self, *_: object) -> None:
        self.remember("mode", self.mode_box.value())
        self.following = True
        self._closed_key = None
        self.mark_dirty()

    def _period_span(self, x: float) -> tuple[int, int] | None:
        """Exchange times of the period column at chart position ``x`` (anchored VWAPs start there)."""
        k, model = int(np.floor(x)), self.model
        if model is None or self.tpo_on or not 0 <= k < len(model.periods):  # TPO mode: x is letters, no VWAP
            return None
        start = model.periods[k].start_ts
        return start, start + model.period_s - 1

    def _settings_changed(self, *_: object) -> None:
        self.remember("period_min", self.period_box.value())
        self.remember("method", self.method_box.value())
        self.remember("candles", "true" if self.candles_box.isChecked() else "false")
        self._rebuild()

    def _rows_changed(self, value: int) -> None:
        if self.rows_spin.hasFocus() and self.instrument is not None:
            self._user_rows = True
            self.remember(f"rows/{self.instrument.key}", value)
        self._rebuild()

    def _user_moved(self, *_: object) -> None:
        right = self.plot.getViewBox().viewRange()[0][1]
        self.following = right >= self.session_x()

    def _rebuild(self) -> None:
        if self.instrument is None:
            return
        self.model = PeriodProfiles(
            self.instrument.tick_size,
            period_s=int(self.period_box.value()) * 60,
            ticks_per_row=self.rows_spin.value(),
            method=self.method_box.value(),
        )
        self.model.rebuild(self.ticks)
        self.tpo.rebuild(self.ticks, self.session_day)
        self.prior.rebuild()
        self._closed_key = None
        self.mark_dirty()

    # --- data ---
    def on_instrument(self, instrument: Instrument) -> None:
        saved = self.recall(f"rows/{instrument.key}")
        self._user_rows = saved is not None
        if saved is not None:
            self._set_rows(int(saved))
        self.following = True
        self.tpo.set_instrument(instrument.seg, instrument.tick_size)
        self._rebuild()
        self.vwap.set_instrument(instrument.key, instrument.seg, instrument.tick_size, self.ticks)

    def _set_rows(self, k: int) -> None:
        self.rows_spin.blockSignals(True)
        self.rows_spin.setValue(k)
        self.rows_spin.blockSignals(False)

    def on_reset(self) -> None:
        assert self.instrument is not None
        t = self.ticks
        if not self._user_rows and len(t):
            self._set_rows(
                auto_ticks_per_row(float(t.price.min()), float(t.price.max()), self.instrument.tick_size, TARGET_ROWS)
            )
        self.following = True
        self._rebuild()
        self.vwap.rebuild(self.ticks)
        self.prior.days.reload()

    def on_add(self, events: list[dict[str, Any]]) -> None:
        self.vwap.extend(self.ticks)
        self.tpo.add(events)
        model = self.model
        if model is None:
            return
        for ev in events:
            model.add(ev["ltp"], ev["qty"], SIDE_CODES.get(ev.get("side"), 0), ev["exchange_ts"])
        self.prior.add(events)

    # --- paint ---
    def on_theme(self) -> None:
        t = self.theme
        self.plot_widget.setBackground(t.bg)
        style_plot(self.plot, t)
        self.dpoc.setPen(pg.mkPen(t.accent, width=1.5, style=Qt.PenStyle.DashLine))
        self.header.setStyleSheet(f"color: {t.fg}; font-size: 13px;")
        for label, colour in zip(self.session_labels, (t.poc, t.value_line, t.value_line), strict=True):
            label.setColor(colour)
        self._closed_key = None
        self.vwap.set_theme(t)

    def _columns(self, items: list[Any], first: int, scale: float) -> list[tuple[Any, Any, Any]]:
        """Layers of period columns ``first..``: profiles, POC/VAH/VAL marks, candles."""
        groups: RectGroups = {}
        marks: dict[str, list[tuple[float, float, float, float]]] = {"poc": [], "value_line": []}
        for k, (_, prof, stats) in enumerate(items, start=first):
            profile_rects(prof, stats, x_left=k + PROFILE_LEFT, scale=scale, out=groups)
            if stats.poc is not None:
                row = prof.row_size
                marks["poc"].append(
                    (k + PROFILE_LEFT, stats.poc + row * ROW_FILL / 2, k + 1.0, stats.poc + row * ROW_FILL / 2)
                )
                marks["value_line"].append(
                    (k + PROFILE_LEFT, stats.vah + row * ROW_FILL, k + 1.0, stats.vah + row * ROW_FILL)
                )
                marks["value_line"].append((k + PROFILE_LEFT, stats.val, k + 1.0, stats.val))
        layers = rects_layers(groups, self.theme)
        for name, segs in marks.items():
            if segs:
                arr = np.asarray(segs)
                pen = pg.mkPen(getattr(self.theme, name), width=3 if name == "poc" else 1)
                layers.append((segments_path(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3]), pen, None))
        if self.candles_box.isChecked() and items:
            periods = [p for p, _, _ in items]
            bars = Bars(
                *(np.asarray([getattr(p, f) for p in periods]) for f in ("open", "high", "low", "close")),
                *(np.zeros(len(periods), np.int64) for _ in range(6)),
            )
            x = np.arange(first, first + len(items), dtype=np.float64) + CANDLE_X
            layers += candle_layers(x, bars, self.theme, width=CANDLE_WIDTH)
        return layers

    def paint_models(self) -> None:
        model, inst = self.model, self.instrument
        if model is None or inst is None:
            return
        self._show_volume(not self.tpo_on)
        if self.tpo_on:
            self._paint_tpo(inst, model)
            return
        items = model.period_stats()
        n = len(items)
        top = max((int(prof.total.max()) for _, prof, _ in items if len(prof.total)), default=0)
        scale = PROFILE_WIDTH / top if top else 0.0
        key = (
            n - 1,
            scale,
            self.theme.name,
            self.candles_box.isChecked(),
            model.ticks_per_row,
            model.method,
            model.period_s,
        )
        if key != self._closed_key:  # closed columns change only when one closes or the scale moves
            self.closed_item.set_layers(self._columns(items[:-1], 0, scale))
            self._closed_key = key
        self.live_item.set_layers(self._columns(items[-1:], n - 1, scale) if n else [])
        self._paint_session(model, n)
        slots = period_slots([p.start_ts for p, _, _ in items], model.period_s)
        self.gap_bands.set_bands(gap_bands(self.gaps, slots, self.gaps_now, min_width=SEAM_WIDTH), self.theme)
        self._paint_dpoc(model, n)
        (x_lo, x_hi), _ = self.plot.getViewBox().viewRange()  # clipped to the view, as the columns' cache
        lo, hi = max(0, min(n, int(x_lo) - 1)), max(0, min(n, int(x_hi) + 2))
        ends = bar_ends([p.trades for p, _, _ in items])[lo:hi]
        self.vwap.paint(np.arange(lo, hi, dtype=np.float64), ends, step=True)
        if self.following and n:
            x = (max(-0.2, n - VISIBLE_PERIODS), self.session_x() + SESSION_WIDTH + LABEL_ROOM)
            (cx, _) = self.plot.getViewBox().viewRange()
            if abs(cx[0] - x[0]) > 1e-6 or abs(cx[1] - x[1]) > 1e-6:  # moves once per new period
                self.plot.setXRange(*x, padding=0)
            prof, _ = model.session_profile()
            if len(prof.price):
                y = self.prior.y_range(float(prof.price[0]), float(prof.price[-1] + prof.row_size))
                stick_view(self.plot, y=y, headroom=0.05)
        self.prior.paint([p.start_ts for p, _, _ in items], self.session_x() + SESSION_WIDTH, self.session_x())
        set_text(self.header, self._header_html(inst, model))

    def _paint_dpoc(self, model: PeriodProfiles, n: int) -> None:
        """The developing POC's steps, set again only when a value changed (its picture is cached)."""
        dpoc = [np.nan if v is None else v for v in model.developing_poc()]
        lift = 0.43 * model.ticks_per_row * model.tick_size
        drawn = [lift, *dpoc]
        if drawn == self._dpoc_drawn:
            return
        self._dpoc_drawn = drawn
        if dpoc:
            self.dpoc.setData(np.arange(n + 1, dtype=np.float64), np.asarray(dpoc) + lift)
        else:
            self.dpoc.setData([], [])

    def _paint_session(self, model: PeriodProfiles, n: int) -> None:
        prof, stats = model.session_profile()
        if not len(prof.price):
            self.session_item.clear()
            for label in self.session_labels:
                label.setVisible(False)
            return
        x0 = self.session_x()
        scale = SESSION_WIDTH / float(prof.total.max())
        layers = rects_layers(profile_rects(prof, stats, x_left=x0, scale=scale), self.theme)
        row = prof.row_size
        ys = (stats.poc + row * ROW_FILL / 2, stats.vah + row * ROW_FILL, stats.val)  # type: ignore[operator]
        for y, name in zip(ys, ("poc", "value_line", "value_line"), strict=True):
            layers.append(
                (
                    segments_path([x0], [y], [x0 + SESSION_WIDTH], [y]),
                    pg.mkPen(getattr(self.theme, name), width=2 if name == "poc" else 1),
                    None,
                )
            )
        self.session_item.set_layers(layers)
        dp = fmt.display_decimals(model.tick_size)
        for label, y, name, value in zip(
            self.session_labels, ys, ("POC", "VAH", "VAL"), (stats.poc, stats.vah, stats.val), strict=True
        ):
            label.setVisible(True)
            text = f"{name} {fmt.price(value, dp)}"
            if label.toPlainText() != text:
                label.setText(text)
            if (label.pos().x(), label.pos().y()) != (x0 + SESSION_WIDTH, y):
                label.setPos(x0 + SESSION_WIDTH, y)

    def _header_html(self, inst: Instrument, model: PeriodProfiles) -> str:
        t = self.theme
        head = (
            f"<b>{inst.label}</b> &middot; {session_label(self.session_day)} &middot; "
            f"{model.period_s // 60}-min periods &middot; value area 70% by <b>{VA_METHODS[model.method]}</b>"
        )
        if not model.periods:
            return head + " &middot; no trades yet"
        dp = fmt.display_decimals(model.tick_size)
        p, _, stats = model.period_stats()[-1]
        _, sess = model.session_profile()
        return (
            f"{head}<br>period {fmt.ist_time(p.start_ts)[:5]}: "
            f"<span style='color:{t.poc}'>POC {fmt.price(stats.poc, dp)}</span> "
            f"<span style='color:{t.value_line}'>VAH {fmt.price(stats.vah, dp)} VAL {fmt.price(stats.val, dp)}</span> "
            f"vol {fmt.qty(p.volume)} &middot; session: "
            f"<span style='color:{t.poc}'>POC {fmt.price(sess.poc, dp)}</span>"
            f" <span style='color:{t.value_line}'>VAH {fmt.price(sess.vah, dp)} VAL {fmt.price(sess.val, dp)}</span> "
            f"vol {fmt.qty(sess.total)} &middot; <span style='color:{t.accent}'>- - developing POC</span>"
        )

    # --- TPO mode ---
    def _show_volume(self, on: bool) -> None:
        for item in (self.closed_item, self.live_item, self.session_item, self.dpoc, self.vwap.item,
                     self.vwap.live_item):
            item.setVisible(on)
        if not on:  # shown again by the volume mode's paint, each as its value allows
            for label in (*self.session_labels, *self.vwap.labels):
                label.setVisible(False)
        self.tpo.set_visible(not on)
        self.prior.set_visible(on)

    def _paint_tpo(self, inst: Instrument, model: PeriodProfiles) -> None:
        self.gap_bands.set_bands([], self.theme)
        extent = self.tpo.paint(self.theme, model.ticks_per_row, model.method, model.fraction)
        if extent is not None and self.following:
            self.tpo.show(extent)
        set_text(self.header, self.tpo.header_html(f"<b>{inst.label}</b> &middot; {session_label(self.session_day)}",
                                                   model.ticks_per_row, model.method, self.theme))
