"""Window 1: volume profile of one instrument's session (``dhan viz volume-profile``).

Volume by price in rows of N ticks (adjustable; chosen so the day's range fits ~120 rows until the user
sets it), split buy/sell/unclassified from each trade's side, with the POC, the value area (70 % by
default) and its VAH/VAL, by the CBOT two-row method or single-row greedy (named on screen).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QDoubleSpinBox, QSpinBox, QVBoxLayout, QWidget

from shared.settings import Settings
from viz.data.catalog import Instrument
from viz.models import fmt
from viz.models.profile import VA_METHODS, PriceLadder, Profile, ProfileStats
from viz.models.ticks import SIDE_CODES
from viz.widgets.controls import ChoiceBox, labelled
from viz.widgets.paths import PathsItem, place_line, set_text
from viz.widgets.profile_layers import profile_layers
from viz.widgets.ranges import stick_view
from viz.widgets.theme import chart_view, style_plot
from viz.windows.base import VizOptions
from viz.windows.price_base import PriceWindow, session_label

__all__ = ["VolumeProfileWindow", "auto_ticks_per_row"]

NICE_ROWS = (1, 2, 4, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000)
TARGET_ROWS = 120


def auto_ticks_per_row(low: float, high: float, tick_size: float, target_rows: int = TARGET_ROWS) -> int:
    """The smallest 'nice' row size (in ticks) that shows ``low..high`` in at most ``target_rows`` rows."""
    span_ticks = max(0.0, (high - low) / tick_size)
    for k in NICE_ROWS:
        if span_ticks / k <= target_rows:
            return k
    return NICE_ROWS[-1]


class VolumeProfileWindow(PriceWindow):
    NAME = "volume-profile"
    TITLE = "Volume profile"

    def __init__(self, settings: Settings, options: VizOptions | None = None) -> None:
        super().__init__(settings, options)
        self.ladder: PriceLadder | None = None
        self._fit_next = True  # fit the view to the data on the next paint (then keep it sticky)
        self.profile: Profile | None = None
        self.stats: ProfileStats | None = None
        self._user_rows = False

        self.rows_spin = QSpinBox()
        self.rows_spin.setRange(1, 5000)
        self.rows_spin.setToolTip("row height of the profile, in the instrument's tick size")
        self.rows_spin.valueChanged.connect(self._rows_changed)
        self.method_box = ChoiceBox([(label, key) for key, label in VA_METHODS.items()])
        self.method_box.set_value(str(self.recall("method", "cbot")))
        self.method_box.currentIndexChanged.connect(self._method_changed)
        self.va_spin = QDoubleSpinBox()
        self.va_spin.setRange(50.0, 95.0)
        self.va_spin.setSingleStep(5.0)
        self.va_spin.setDecimals(0)
        self.va_spin.setSuffix(" %")
        self.va_spin.setValue(float(self.recall("va_percent", 70.0)))
        self.va_spin.valueChanged.connect(self._method_changed)
        self.toolbar.addWidget(labelled("Row (ticks)", self.rows_spin))
        self.toolbar.addWidget(labelled("Value area", self.va_spin))
        self.toolbar.addWidget(self.method_box)
        self.finish_toolbar()

        self.plot_widget = chart_view(pg.PlotWidget())
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setLabel("bottom", "volume")
        self.plot.setLabel("left", "price")
        self.plot.showAxis("right")
        self.plot.getAxis("right").setStyle(showValues=True)
        self.plot.hideButtons()
        self.plot.disableAutoRange()
        self.plot.getViewBox().sigRangeChangedManually.connect(self._user_zoomed)
        self._user_view = False
        self.bars = PathsItem()
        self.plot.addItem(self.bars)
        self.poc_line = pg.InfiniteLine(angle=0, movable=False)
        self.vah_line = pg.InfiniteLine(angle=0, movable=False)
        self.val_line = pg.InfiniteLine(angle=0, movable=False)
        self.ltp_line = pg.InfiniteLine(angle=0, movable=False)
        for line, pos in ((self.poc_line, 0.97), (self.vah_line, 0.97), (self.val_line, 0.97), (self.ltp_line, 0.75)):
            line.label = pg.InfLineLabel(line, text="", position=pos, anchors=[(1, 1), (1, 1)])
            line.setVisible(False)
            self.plot.addItem(line)

        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(8, 6, 8, 4)
        lay.addWidget(self.header)
        lay.addWidget(self.plot_widget, 1)
        self.setCentralWidget(central)

    # --- controls ---
    @property
    def method(self) -> Any:
        return self.method_box.value()

    @property
    def fraction(self) -> float:
        return float(self.va_spin.value()) / 100.0

    def _rows_changed(self, value: int) -> None:
        if self.instrument is not None and self.rows_spin.hasFocus():
            self._user_rows = True
            self.remember(f"rows/{self.instrument.key}", value)
        self.mark_dirty()

    def _method_changed(self, *_: object) -> None:
        self.remember("method", self.method)
        self.remember("va_percent", self.va_spin.value())
        self.mark_dirty()

    def set_rows(self, ticks_per_row: int, *, user: bool = True) -> None:
        self._user_rows = user
        self.rows_spin.blockSignals(True)
        self.rows_spin.setValue(ticks_per_row)
        self.rows_spin.blockSignals(False)
        if user and self.instrument is not None:
            self.remember(f"rows/{self.instrument.key}", ticks_per_row)
        self.mark_dirty()

    # --- data ---
    def on_instrument(self, instrument: Instrument) -> None:
        self.ladder = PriceLadder(instrument.tick_size)
        saved = self.recall(f"rows/{instrument.key}")
        self._user_rows = saved is not None
        if saved is not None:
            self.set_rows(int(saved), user=True)
        self._fit_next = True

    def on_reset(self) -> None:
        assert self.instrument is not None
        self.ladder = PriceLadder(self.instrument.tick_size)
        t = self.ticks
        self.ladder.add_many(t.price, t.qty, t.side)
        if not self._user_rows and len(t):
            self.set_rows(
                auto_ticks_per_row(float(t.price.min()), float(t.price.max()), self.instrument.tick_size), user=False
            )
        self._fit_next = True

    def on_add(self, events: list[dict[str, Any]]) -> None:
        ladder = self.ladder
        if ladder is None:
            return
        for ev in events:
            ladder.add(ev["ltp"], ev["qty"], SIDE_CODES.get(ev.get("side"), 0))

    # --- paint ---
    def on_theme(self) -> None:
        t = self.theme
        self.plot_widget.setBackground(t.bg)
        style_plot(self.plot, t)
        for line, colour, style in (
            (self.poc_line, t.poc, Qt.PenStyle.SolidLine),
            (self.vah_line, t.value_line, Qt.PenStyle.DashLine),
            (self.val_line, t.value_line, Qt.PenStyle.DashLine),
            (self.ltp_line, t.accent, Qt.PenStyle.DotLine),
        ):
            line.setPen(pg.mkPen(colour, width=2 if line is self.poc_line else 1, style=style))
            line.label.setColor(colour)
        self.header.setStyleSheet(f"color: {t.fg}; font-size: 13px;")

    def paint_models(self) -> None:
        inst, ladder = self.instrument, self.ladder
        if inst is None or ladder is None:
            return
        prof = ladder.profile(self.rows_spin.value())
        stats = prof.stats(self.fraction, self.method)
        self.profile, self.stats = prof, stats
        self.bars.set_layers(profile_layers(prof, stats, self.theme))
        dp = fmt.display_decimals(ladder.tick_size)
        half = prof.row_size * 0.43
        for line, value, offset, name in (
            (self.poc_line, stats.poc, half, "POC"),
            (self.vah_line, stats.vah, prof.row_size * 0.86, "VAH"),
            (self.val_line, stats.val, 0.0, "VAL"),
        ):
            place_line(line, None if value is None else value + offset, f"{name} {fmt.price(value, dp)}")
        last = float(self.ticks.price[-1]) if len(self.ticks) else None
        place_line(self.ltp_line, last, f"LTP {fmt.price(last, dp)}")
        set_text(self.header, self._header_html(inst, prof, stats, dp))
        if len(prof.price):
            x, y = (0.0, float(prof.total.max())), (float(prof.price[0]), float(prof.price[-1] + prof.row_size))
            if self._fit_next:
                self._fit_next = self._user_view = False
                self.plot.setXRange(0.0, x[1] * 1.1, padding=0)
                self.plot.setYRange(y[0] - prof.row_size, y[1] + prof.row_size, padding=0)
            elif not self._user_view:
                stick_view(self.plot, x=x, y=y, x_floor=0.0)

    def _user_zoomed(self, *_: object) -> None:
        self._user_view = True  # the user's zoom/pan stays until the next instrument or reload

    def _header_html(self, inst: Instrument, prof: Profile, stats: ProfileStats, dp: int) -> str:
        t = self.theme
        total = stats.total
        if total == 0:
            return f"<b>{inst.label}</b> &middot; {session_label(self.session_day)} &middot; no trades yet"
        buy, sell = int(prof.buy.sum()), int(prof.sell.sum())
        other = total - buy - sell
        method = VA_METHODS[self.method]
        return (
            f"<b>{inst.label}</b> &middot; {session_label(self.session_day)} &middot; "
            f"{fmt.qty(len(self.ticks))} trades &middot; volume {fmt.qty(total)} "
            f"(<span style='color:{t.buy}'>buy {buy / total:.0%}</span> &middot; "
            f"<span style='color:{t.sell}'>sell {sell / total:.0%}</span> &middot; unclassified {other / total:.0%})"
            f"<br><span style='color:{t.poc}'><b>POC {fmt.price(stats.poc, dp)}</b></span> &middot; "
            f"<span style='color:{t.value_line}'>VAH {fmt.price(stats.vah, dp)} &middot; VAL {fmt.price(stats.val, dp)}"
            f"</span> &middot; value area {self.va_spin.value():.0f}% = {fmt.qty(stats.va_volume)} "
            f"&middot; method: <b>{method}</b> &middot; row {fmt.price(prof.row_size, dp)} "
            f"({self.rows_spin.value()} ticks) &middot; {np.count_nonzero(prof.total)} rows traded &middot; "
            f"last trade {fmt.ist_time(int(self.ticks.exchange_ts[-1])) if len(self.ticks) else '-'} IST"
        )
