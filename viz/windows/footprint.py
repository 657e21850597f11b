"""Window 7: footprint, order flow *inferred* from Dhan's trades (``dhan viz footprint``).

Dhan sends no aggressor side: the feed infers it per trade (quote rule on the previous book, else the tick
rule; ``feed.normalise``), so everything here is an estimate, and the window says so on screen with the share
of volume each rule classified. Bars are N trades or a time period; each is a column of ``bid x ask`` volume
per price row (:mod:`viz.widgets.footprint_item`, model :mod:`viz.models.footprint`): diagonal imbalances at
the chosen ratio (150 % by default) in bold, three or more stacked marked on the column's edge, the POC row
outlined. Below: delta per bar and the cumulative delta. History comes from MySQL (with each trade's stored
rule), then live through the seam, like the other price windows. The view follows the newest bar until the
user pans away, as the tick chart's does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from numpy.lib.stride_tricks import sliding_window_view
from PyQt6.QtWidgets import QSpinBox, QVBoxLayout, QWidget

from shared.settings import Settings
from viz.data.catalog import Instrument
from viz.models import fmt
from viz.models.bars import TickBars, time_bars
from viz.models.footprint import FootprintConfig, FootprintModel
from viz.models.ticks import RULE_UNKNOWN
from viz.widgets.candles import IndexTimeAxis
from viz.widgets.controls import ChoiceBox, labelled
from viz.widgets.footprint_item import CELL_HALF, FootprintItem
from viz.widgets.paths import PathsItem, rects_path
from viz.widgets.ranges import stick_view
from viz.widgets.theme import cache_item, chart_view, style_plot
from viz.windows.base import VizOptions
from viz.windows.price_base import PriceWindow, session_label
from viz.windows.volume_profile import auto_ticks_per_row

__all__ = ["BAR_CHOICES", "FootprintWindow"]

BAR_CHOICES = (("100 trades", "n100"), ("200 trades", "n200"), ("500 trades", "n500"), ("1,000 trades", "n1000"),
               ("1 min", "t60"), ("5 min", "t300"), ("15 min", "t900"), ("30 min", "t1800"))
VISIBLE_BARS = 12
ROWS_IN_VIEW = 32  # automatic row size: a typical view of VISIBLE_BARS bars spans about this many rows (legible)
_RULE_LABELS = (("quote rule", "quote rule"), ("tick rule", "tick rule"), ("unclassified", "unclassified"),
                ("rule not recorded", "rule not recorded (older rows)"))


def _bar_rule(choice: str) -> tuple[int | None, int | None]:
    """``(trades_per_bar, period_s)`` of a bar choice: "n100" is 100 trades, "t300" 300 seconds."""
    n = int(choice[1:])
    return (n, None) if choice[0] == "n" else (None, n)


def _spin(low: int, high: int, value: int, step: int = 1, suffix: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setSuffix(suffix)
    box.setValue(value)
    return box


class FootprintWindow(PriceWindow):
    NAME = "footprint"
    TITLE = "Footprint (inferred order flow)"

    def __init__(self, settings: Settings, options: VizOptions | None = None) -> None:
        super().__init__(settings, options)
        self.model: FootprintModel | None = None
        self.following = True
        self._user_rows = False
        self._closed_key: tuple[Any, ...] = ()
        self.bar_box = ChoiceBox(BAR_CHOICES)
        self.bar_box.set_value(str(self.recall("bars", "t300")))
        self.ratio_spin = _spin(110, 1000, int(self.recall("imbalance_pct", 150)), 10, " %")
        self.stack_spin = _spin(2, 10, int(self.recall("stacked_min", 3)))
        self.rows_spin = _spin(1, 5000, 1)
        for widget, text in ((self.bar_box, "Bar"), (self.rows_spin, "Row (ticks)"),
                             (self.ratio_spin, "Imbalance \u2265"), (self.stack_spin, "Stacked \u2265")):
            self.toolbar.addWidget(labelled(text, widget))
        self.bar_box.currentIndexChanged.connect(self._settings_changed)
        self.ratio_spin.valueChanged.connect(self._settings_changed)
        self.stack_spin.valueChanged.connect(self._settings_changed)
        self.rows_spin.valueChanged.connect(self._rows_changed)
        self.finish_toolbar()
        self._build_chart()

    def _build_chart(self) -> None:
        self.chart = chart_view(pg.GraphicsLayoutWidget())
        self.time_axis = IndexTimeAxis(self._bar_times)
        self.price_plot = self.chart.addPlot(row=0, col=0)
        self.delta_plot = self.chart.addPlot(row=1, col=0)
        self.cum_plot = self.chart.addPlot(row=2, col=0, axisItems={"bottom": self.time_axis})
        for row, stretch in enumerate((6, 1, 1)):
            self.chart.ci.layout.setRowStretchFactor(row, stretch)
        for plot, title in ((self.price_plot, ""), (self.delta_plot, "delta"), (self.cum_plot, "cum. delta")):
            plot.showAxis("right")
            plot.hideAxis("left")
            plot.hideButtons()
            if plot is not self.cum_plot:
                plot.hideAxis("bottom")
                plot.setXLink(self.cum_plot)
            if title:
                plot.setLabel("right", title)
        self.delta_plot.setMaximumHeight(120)
        self.cum_plot.setMaximumHeight(140)
        # closed bars change once per bar: cached as a pixmap; the forming bar is redrawn each frame
        self.closed_item, self.forming_item = cache_item(FootprintItem()), FootprintItem()
        for item in (self.closed_item, self.forming_item):
            self.price_plot.addItem(item)
        self.delta_item = PathsItem()
        self.delta_plot.addItem(self.delta_item)
        self.cum_line = pg.PlotDataItem()
        self.cum_plot.addItem(self.cum_line)
        self.price_plot.getViewBox().sigRangeChangedManually.connect(self._user_moved)
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(8, 6, 8, 4)
        lay.addWidget(self.header)
        lay.addWidget(self.chart, 1)
        self.setCentralWidget(central)

    def _bar_times(self) -> Any:
        bars = self.model.bars if self.model is not None else []
        return np.fromiter((b.start_ts for b in bars), np.int64, len(bars))

    # --- controls ---
    def _config(self, tick_size: float) -> FootprintConfig:
        trades_per_bar, period_s = _bar_rule(str(self.bar_box.value()))
        return FootprintConfig(tick_size * self.rows_spin.value(), trades_per_bar, period_s,
                               imbalance_ratio=self.ratio_spin.value() / 100.0, stacked_min=self.stack_spin.value())

    def _settings_changed(self, *_: object) -> None:
        self.remember("bars", self.bar_box.value())
        self.remember("imbalance_pct", self.ratio_spin.value())
        self.remember("stacked_min", self.stack_spin.value())
        if not self._user_rows:
            self._auto_rows()
        self.following = True
        self._rebuild()

    def _rows_changed(self, value: int) -> None:
        if self.rows_spin.hasFocus() and self.instrument is not None:
            self._user_rows = True
            self.remember(f"rows/{self.instrument.key}", value)
        self._rebuild()

    def _set_rows(self, k: int) -> None:
        self.rows_spin.blockSignals(True)
        self.rows_spin.setValue(k)
        self.rows_spin.blockSignals(False)

    def _auto_rows(self) -> None:
        """A row size (in ticks) that shows a typical view (VISIBLE_BARS bars) in about ROWS_IN_VIEW rows."""
        if self.instrument is None or len(self.ticks) == 0:
            return
        n, period = _bar_rule(str(self.bar_box.value()))
        bars = TickBars(self.ticks, n).bars() if n is not None else time_bars(self.ticks, period or 60)[1]
        width = min(VISIBLE_BARS, len(bars))
        highs = sliding_window_view(bars.high, width).max(axis=1)
        lows = sliding_window_view(bars.low, width).min(axis=1)
        typical = float(np.median(highs - lows))
        self._set_rows(auto_ticks_per_row(0.0, typical, self.instrument.tick_size, ROWS_IN_VIEW))

    def _user_moved(self, *_: object) -> None:
        n = len(self.model.bars) if self.model is not None else 0
        self.following = self.price_plot.getViewBox().viewRange()[0][1] >= n - 1.5

    def _rebuild(self) -> None:
        if self.instrument is None:
            return
        self.model = FootprintModel(self._config(self.instrument.tick_size))
        t = self.ticks
        self.model.extend(t.price, t.qty, t.side, t.exchange_ts, t.rule)
        self._closed_key = ()
        self.mark_dirty()

    # --- data ---
    def on_instrument(self, instrument: Instrument) -> None:
        saved = self.recall(f"rows/{instrument.key}")
        self._user_rows = saved is not None
        if saved is not None:
            self._set_rows(int(saved))
        self.following = True
        self._rebuild()

    def on_reset(self) -> None:
        if not self._user_rows:
            self._auto_rows()
        self.following = True
        self._rebuild()

    def on_add(self, events: list[dict[str, Any]]) -> None:
        if self.model is not None:
            for ev in events:
                self.model.add_tick(ev)

    # --- paint ---
    def on_theme(self) -> None:
        t = self.theme
        self.chart.setBackground(t.bg)
        for plot in (self.price_plot, self.delta_plot, self.cum_plot):
            style_plot(plot, t)
        self.cum_line.setPen(pg.mkPen(t.accent, width=1.5))
        self.header.setStyleSheet(f"color: {t.fg}; font-size: 13px;")
        self._closed_key = ()

    def paint_models(self) -> None:
        model, inst = self.model, self.instrument
        if model is None or inst is None:
            return
        n = len(model.bars)
        if self.following and n:
            self._follow(model, n)
        (x_lo, x_hi), _ = self.price_plot.getViewBox().viewRange()
        first, last = max(0, int(x_lo) - 2), max(0, min(n - 1, int(x_hi) + 2))  # closed bars drawn: first..last-1
        key = (n, first, last, model.config, self.theme.name)
        if key != self._closed_key:
            closed = range(first, last)
            self.closed_item.set_bars(list(closed), [model.view(i) for i in closed], model.config.tick_size,
                                      self.theme)
            self._closed_key = key
        if n:
            self.forming_item.set_bars([n - 1], [model.view(n - 1)], model.config.tick_size, self.theme)
        else:
            self.forming_item.clear()
        per_bar, cumulative = model.deltas()
        self._paint_delta(per_bar, cumulative)
        set_text_html = self._header_html(inst, model, per_bar, cumulative)
        if self.header.text() != set_text_html:
            self.header.setText(set_text_html)

    def _follow(self, model: FootprintModel, n: int) -> None:
        (x_lo, x_hi), _ = self.price_plot.getViewBox().viewRange()
        if not (x_lo <= n - VISIBLE_BARS + 0.5 and n - 0.5 <= x_hi <= n + 1.5):
            self.cum_plot.setXRange(n - VISIBLE_BARS - 0.5, n + 0.5, padding=0)
        lo_i = max(0, int(self.price_plot.getViewBox().viewRange()[0][0]))
        views = [model.view(i) for i in range(lo_i, n)]
        half = model.config.tick_size / 2
        stick_view(self.price_plot, y=(min(v.low for v in views) - half, max(v.high for v in views) + half),
                   headroom=0.04)

    def _paint_delta(self, per_bar: Any, cumulative: Any) -> None:
        x = np.arange(len(per_bar), dtype=np.float64)
        d = per_bar.astype(np.float64)
        layers = []
        for mask, name in ((d > 0, "buy"), (d < 0, "sell")):
            if mask.any():
                layers.append((rects_path(x[mask] - CELL_HALF, np.zeros(int(mask.sum())), x[mask] + CELL_HALF,
                                          d[mask]), None, self.theme.color(name)))
        self.delta_item.set_layers(layers)
        self.cum_line.setData(x, cumulative.astype(np.float64))
        if self.following and len(d):
            lo_i = max(0, int(self.cum_plot.getViewBox().viewRange()[0][0]))
            stick_view(self.delta_plot, y=(min(0.0, float(d[lo_i:].min())), max(0.0, float(d[lo_i:].max()))))
            c = cumulative[lo_i:].astype(np.float64)
            stick_view(self.cum_plot, y=(float(c.min()), float(c.max())))

    def _header_html(self, inst: Instrument, model: FootprintModel, per_bar: Any, cumulative: Any) -> str:
        t = self.theme
        badge = (f"<span style='background:{t.highlight}; color:{t.fg}'>&nbsp;INFERRED&nbsp;</span> "
                 "aggressor side estimated: Dhan sends none")
        head = f"<b>{inst.label}</b> &middot; {session_label(self.session_day)} &middot; {badge}"
        shares = model.rule_shares()
        if not model.bars or not shares:
            return head + "<br>no trades yet"
        parts = [f"{label} {100.0 * shares[key]:.0f}%" for key, label in _RULE_LABELS
                 if key != "rule not recorded" or model.rule_volume[RULE_UNKNOWN] > 0]
        view = model.view(len(model.bars) - 1)
        dp = fmt.display_decimals(inst.tick_size)
        colour = t.buy if view.delta >= 0 else t.sell
        stacks = sum(len(model.view(i).stacks) for i in range(max(0, len(model.bars) - VISIBLE_BARS), len(model.bars)))
        return (
            f"{head}<br>volume by rule: {' &middot; '.join(parts)} &middot; "
            f"{fmt.qty(len(model.bars))} bars &middot; imbalance \u2265 {model.config.imbalance_ratio:.0%}"
            f"<br>last bar from {fmt.ist_time(view.start_ts)} IST: POC {fmt.price(view.poc, dp)} &middot; "
            f"<span style='color:{colour}'>delta {fmt.qty(view.delta)}</span> &middot; cum. delta "
            f"{fmt.qty(int(cumulative[-1]))} &middot; stacked imbalances in view: {stacks}"
            + ("" if self.following else " &middot; <i>paused following: scroll to the last bar to resume</i>")
        )
