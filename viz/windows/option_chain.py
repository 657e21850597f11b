"""Window 6: option chain with greeks and the IV smile (``dhan viz option-chain``).

Calls and puts of one underlying and expiry around the ATM strike (what the feed subscribes): LTP, OI, OI
change, volume from quotes; IV, delta, gamma, theta, vega from the greeks service (``dhan:greeks``). The
ATM row is highlighted, in-the-money sides are shaded, and the IV smile (IV by strike, calls and puts) is
plotted beneath with the underlying price marked, or, switched in the toolbar, the gamma exposure by strike
with net GEX and the zero-gamma level (``viz.widgets.gex_pane``, sign convention on screen). Stored quotes
and greeks load first, then both streams follow from the writer's position. When the feed re-centres the
strikes, the chain reloads.

A frame repaints only what moved: the table cells that changed (see ``viz.widgets.chain_table``). The smile
and the spot line follow at ``SMILE_HZ``, only when an IV or the price changed, within sticky axis ranges
(re-fitting the range on every greeks tick re-rendered the IV axis, ~11 ms each time; redrawing the plot on
every 30 Hz frame was about half of a chain frame, bench/viz_frames.py).
"""

from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import Any

import aiomysql
import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import QHeaderView, QLabel, QSplitter, QStackedWidget, QTableView, QVBoxLayout, QWidget

from shared.clock import ist_trading_day
from shared.settings import Settings
from viz.data import history
from viz.data.catalog import Instrument, default_future
from viz.data.live import read_universe
from viz.data.sources import LatestSource
from viz.models import fmt
from viz.models.chain import ChainModel, OptionContract
from viz.models.contracts import OptionSpec
from viz.widgets.chain_table import ChainTableModel
from viz.widgets.controls import ChoiceBox, labelled
from viz.widgets.gex_pane import SIGN_CONVENTION, GexPane
from viz.widgets.paths import place_line, set_text
from viz.widgets.ranges import stick_view
from viz.widgets.tables import DataTable
from viz.widgets.theme import chart_view, style_plot
from viz.windows.base import Routine, VizOptions, VizWindow
from viz.windows.chain_pick import pick_chain

__all__ = ["OptionChainWindow"]

UNIVERSE_REFRESH_S = 10.0
UNIVERSE_RETRY_S = 2.0
SMILE_HZ = 10  # an IV curve and a price line read the same at 10 Hz as at 30, at a third of the cost
GEX_HZ = 2  # GEX moves with OI and gamma, slowly; each paint re-solves the zero-gamma curve
SMILE_X_HEADROOM = 0.03  # of the strikes' span, each side
SMILE_Y_HEADROOM = 0.1  # of the IVs' span, each side


class OptionChainWindow(VizWindow):
    NAME = "option-chain"
    TITLE = "Option chain"

    def __init__(self, settings: Settings, options: VizOptions | None = None) -> None:
        super().__init__(settings, options)
        self.universe: dict[str, Instrument] = {}
        self.chain = ChainModel("", "")
        self.table_model = ChainTableModel(self.chain)
        self._chain_keys: frozenset[str] = frozenset()
        self._painted_version = -1
        self._scrolled_atm: float | None = None
        self._fitted = False
        self._smile_data: dict[str, tuple[list[float], list[float]]] = {}
        self._user_view = False  # the user zoomed or panned the smile: its ranges are left alone
        self._smile_due = False  # the chain changed since the smile was drawn
        self._smile_at = -float("inf")  # monotonic time the smile was last drawn
        self.underlying_box = ChoiceBox([])
        self.expiry_box = ChoiceBox([])
        self.expiry_box.setMinimumContentsLength(11)
        self.underlying_box.setMinimumContentsLength(10)
        self.underlying_box.activated.connect(self._underlying_chosen)
        self.expiry_box.activated.connect(self._expiry_chosen)
        self.toolbar.addWidget(labelled("Underlying", self.underlying_box))
        self.toolbar.addWidget(labelled("Expiry", self.expiry_box))
        self.pane_box = ChoiceBox([("IV smile", "smile"), ("GEX", "gex")])
        self.pane_box.set_value(str(self.recall("pane", "smile")))
        self.pane_box.setToolTip("the lower pane: IV by strike, or gamma exposure by strike\n\n" + SIGN_CONVENTION)
        self.pane_box.currentIndexChanged.connect(self._pane_chosen)
        self.toolbar.addWidget(labelled("Lower pane", self.pane_box))
        self.finish_toolbar()
        self._wanted_underlying = str(self.options.instrument or self.recall("underlying", "NIFTY")).upper()
        self._wanted_expiry = str(self.recall("expiry", ""))

        self.header = QLabel("waiting for the feed's options")
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setWordWrap(True)  # a long header wraps instead of widening the window
        self.view = self._chain_table()
        self.smile_widget = chart_view(pg.PlotWidget())
        self.smile = self.smile_widget.getPlotItem()
        self.ce_curve, self.pe_curve, self.spot_line = self._smile_items()
        self.gex = GexPane()
        self.lower_pane = QStackedWidget()
        self.lower_pane.addWidget(self.smile_widget)
        self.lower_pane.addWidget(self.gex.widget)
        self.lower_pane.setCurrentIndex(1 if self.pane_box.value() == "gex" else 0)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.view)
        split.addWidget(self.lower_pane)
        split.setSizes([470, 230])
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(8, 6, 8, 4)
        lay.addWidget(self.header)
        lay.addWidget(split, 1)
        self.setCentralWidget(central)

    def _chain_table(self) -> DataTable:
        view = DataTable(self.table_model)
        view.setModel(self.table_model)
        font = view.font()
        font.setPointSizeF(font.pointSizeF() * 0.92)  # 19 columns: a size smaller fits them on one screen
        view.setFont(font)
        # fitted once per strike set (ResizeToContents would measure every cell on every update)
        header = view.horizontalHeader()
        assert header is not None
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        return view

    def _smile_items(self) -> tuple[Any, Any, Any]:
        """The smile chart's axes, legend and sticky ranges; returns its calls and puts curves and spot line."""
        self.smile.hideButtons()
        self.smile.setLabel("left", "IV %")
        self.smile.setLabel("bottom", "strike")
        self.smile.addLegend(offset=(-10, 5))
        ce_curve = self.smile.plot(name="calls", symbol="o", symbolSize=5)
        pe_curve = self.smile.plot(name="puts", symbol="s", symbolSize=5)
        spot_line = pg.InfiniteLine(angle=90, movable=False)
        spot_line.label = pg.InfLineLabel(spot_line, text="", position=0.92, anchors=[(0, 0), (0, 0)])
        self.smile.addItem(spot_line)
        self.smile.disableAutoRange()  # sticky ranges instead (see _paint_smile)
        self.smile.getViewBox().sigRangeChangedManually.connect(self._user_zoomed)
        return ce_curve, pe_curve, spot_line

    # --- choosers ---
    def _options(self) -> list[Instrument]:
        return [i for i in self.universe.values() if i.option_type in ("CE", "PE") and i.strike is not None]

    def _refresh_choosers(self) -> None:
        opts = self._options()
        underlyings = sorted({i.underlying for i in opts})
        self.underlying_box.blockSignals(True)
        self.underlying_box.clear()
        for u in underlyings:
            self.underlying_box.addItem(u, u)
        self.underlying_box.set_value(self.chain.underlying or self._wanted_underlying)
        self.underlying_box.blockSignals(False)
        expiries = sorted({i.expiry for i in opts if i.underlying == self.underlying_box.value() and i.expiry})
        self.expiry_box.blockSignals(True)
        self.expiry_box.clear()
        for e in expiries:
            self.expiry_box.addItem(e, e)
        self.expiry_box.set_value(self.chain.expiry or self._wanted_expiry)
        self.expiry_box.blockSignals(False)

    def _underlying_chosen(self, *_: object) -> None:
        self._wanted_underlying = str(self.underlying_box.value())
        self._wanted_expiry = ""
        self.remember("underlying", self._wanted_underlying)
        self.chain.underlying = ""
        self._select()

    def _expiry_chosen(self, *_: object) -> None:
        self._wanted_expiry = str(self.expiry_box.value())
        self.remember("expiry", self._wanted_expiry)
        self._select()

    def _pane_chosen(self, *_: object) -> None:
        self.remember("pane", self.pane_box.value())
        self.lower_pane.setCurrentIndex(1 if self.pane_box.value() == "gex" else 0)
        self._smile_due, self._smile_at = True, -float("inf")
        self.mark_dirty()

    def _select(self) -> None:
        """Pick underlying/expiry from what is wanted and available; (re)start the chain when it changed."""
        opts = self._options()
        today = ist_trading_day(self.clock()).isoformat()  # the IST day: a UTC machine is a day behind till 05:30
        picked = pick_chain(opts, self._wanted_underlying, self._wanted_expiry, today)
        if picked is None:
            return
        _, underlying, _, expiry = picked
        contracts = [
            OptionContract(i.key, float(i.strike or 0), str(i.option_type), i.label)
            for i in opts
            if i.underlying == underlying and i.expiry == expiry
        ]
        keys = frozenset(c.key for c in contracts)
        if keys == self._chain_keys and (underlying, expiry) == (self.chain.underlying, self.chain.expiry):
            return
        self._chain_keys = keys
        fut = default_future(self.universe.values(), underlying)
        self.chain = ChainModel(underlying, expiry)
        self.chain.underlying_keys = {fut.key} if fut else set()
        self.chain.set_contracts(contracts)
        self.gex.set_contracts([
            OptionSpec(i.key, float(i.strike or 0), "CE" if i.option_type == "CE" else "PE", max(1, i.lot_size),
                       i.expiry or "")
            for i in opts if i.underlying == underlying and i.expiry == expiry
        ])
        self.table_model.chain = self.chain
        self._scrolled_atm = None
        self._user_view = False
        self._refresh_choosers()
        self.setWindowTitle(f"{self.TITLE} - {underlying} {expiry}")
        self.spawn(self._chain_routine, "chain")
        self.mark_dirty()

    # --- data ---
    def data_routines(self) -> dict[str, Routine]:
        return {"universe": self._universe_routine}

    async def _universe_routine(self) -> None:
        while True:
            self.universe = await read_universe(await self.link.redis(), self.keys)
            if not self._options():
                self.status_model.note = "no options in the feed's universe yet (start the feed)"
                await asyncio.sleep(UNIVERSE_RETRY_S)
                continue
            self._refresh_choosers()
            self._select()
            await asyncio.sleep(UNIVERSE_REFRESH_S)

    async def _chain_routine(self) -> None:
        chain = self.chain
        wanted = set(chain.sides) | chain.underlying_keys

        async def load(pool: aiomysql.Pool) -> dict[str, Any]:
            pairs = [(k.split(":", 1)[0], int(k.split(":", 1)[1])) for k in wanted]
            option_pairs = history.key_pairs(list(chain.sides))
            return {
                "quotes": await history.fetch_quotes(pool, pairs),
                "greeks": await history.fetch_greeks(pool, option_pairs),
            }

        def apply(kind: str, key: str, ev: dict[str, Any], live: bool) -> None:
            if kind == "quotes":
                chain.apply_quote(key, ev)
            else:
                chain.apply_greeks(key, ev)
            self.mark_dirty()

        source = LatestSource(
            self.link,
            self.keys,
            ["quotes", "greeks"],
            load,
            apply,
            self.status_model,
            wants=wanted.__contains__,
            on_loaded=self.mark_loaded,
        )
        await source.run()

    # --- paint ---
    def on_theme(self) -> None:
        t = self.theme
        self.table_model.set_theme(t)
        self.smile_widget.setBackground(t.bg)
        style_plot(self.smile, t)
        self.ce_curve.setPen(pg.mkPen(t.up, width=2))
        self.ce_curve.setSymbolBrush(t.up)
        self.ce_curve.setSymbolPen(t.up)
        self.pe_curve.setPen(pg.mkPen(t.down, width=2))
        self.pe_curve.setSymbolBrush(t.down)
        self.pe_curve.setSymbolPen(t.down)
        self.spot_line.setPen(pg.mkPen(t.poc, style=Qt.PenStyle.DashLine))
        self.spot_line.label.setColor(t.poc)
        self.header.setStyleSheet(f"color: {t.fg}; font-size: 13px;")
        self.gex.on_theme(t)
        self._painted_version = -1

    def frame(self) -> None:
        if self._smile_due:  # drawn on a later frame, even if no new data arrives by then
            self.mark_dirty()
        super().frame()

    def paint_models(self) -> None:
        chain = self.chain
        if chain.version != self._painted_version or self._painted_version < 0:
            self._painted_version = chain.version
            self._smile_due = True
            if self.table_model.refresh(self.view.shown_rows()) or not self._fitted:
                self._fitted = bool(chain.sides) and any(s.ltp is not None for s in chain.sides.values())
                self._fit_columns()
            set_text(self.header, self._header_html())
            self._scroll_to_atm()
        now = time.monotonic()
        gex = self.pane_box.value() == "gex"
        if self._smile_due and now - self._smile_at >= 1.0 / (GEX_HZ if gex else SMILE_HZ):
            self._smile_due, self._smile_at = False, now
            if gex:
                self.gex.paint(chain, self.clock())
                return
            self._paint_smile()
            price = chain.underlying_price
            place_line(self.spot_line, price, f"future {fmt.price(price)}")

    def mark_loaded(self) -> None:
        self._smile_at = -float("inf")  # the frame that paints the load draws its smile too (screenshots)
        super().mark_loaded()

    def _scroll_to_atm(self) -> None:
        atm = self.chain.atm_strike()
        if atm is not None and atm != self._scrolled_atm:  # centre on the ATM when it moves, not on every tick
            self._scrolled_atm = atm
            QTimer.singleShot(0, self._centre_atm)

    def _paint_smile(self) -> None:
        smile = self.chain.smile()
        if smile == self._smile_data:
            return
        self._smile_data = smile
        for curve, side in ((self.ce_curve, "CE"), (self.pe_curve, "PE")):
            xs, ys = smile[side]
            curve.setData(np.array(xs, dtype=float), np.array(ys, dtype=float))
        xs = smile["CE"][0] + smile["PE"][0]
        ys = smile["CE"][1] + smile["PE"][1]
        if xs and not self._user_view:
            stick_view(self.smile, x=(min(xs), max(xs)), headroom=SMILE_X_HEADROOM)
            stick_view(self.smile, y=(min(ys), max(ys)), headroom=SMILE_Y_HEADROOM)

    def _user_zoomed(self, *_: object) -> None:
        self._user_view = True  # the user's zoom/pan stays until another underlying or expiry

    def _fit_columns(self) -> None:
        """Columns as wide as their bold text; squeezed a little (not below 88 %) to fit the window."""
        header = self.view.horizontalHeader()
        viewport = self.view.viewport()
        if header is None or viewport is None:
            return
        self.view.executeDelayedItemsLayout()  # rows just reset: scroll bars (the viewport width) as they will be
        # the last column stretches from its fitted width: with the stretch on while fitting, Qt keeps the
        # width it had stretched to before (e.g. over the empty table) and the chain overflows the window
        header.setStretchLastSection(False)
        self.view.resizeColumnsToContents()  # widths from FastCellDelegate.sizeHint
        n = self.table_model.columnCount()
        total = sum(self.view.columnWidth(c) for c in range(n))
        factor = max(0.88, min(1.0, (viewport.width() - 2) / total)) if total else 1.0
        if factor < 1.0:
            for c in range(n):
                self.view.setColumnWidth(c, int(self.view.columnWidth(c) * factor))
        header.setStretchLastSection(True)

    def _centre_atm(self) -> None:
        atm = self.chain.atm_strike()
        if atm is not None and atm in self.chain.strikes:
            self.view.scrollTo(
                self.table_model.index(self.chain.strikes.index(atm), 0), QTableView.ScrollHint.PositionAtCenter
            )

    def _header_html(self) -> str:
        c, t = self.chain, self.theme
        if not c.underlying:
            return "waiting for the feed's options"
        ce_oi = sum(s.oi or 0 for s in c.sides.values() if s.contract.option_type == "CE")
        pe_oi = sum(s.oi or 0 for s in c.sides.values() if s.contract.option_type == "PE")
        pcr = f"{pe_oi / ce_oi:.2f}" if ce_oi else "-"
        days = ""
        if c.expiry:
            days = f" ({(date.fromisoformat(c.expiry) - ist_trading_day(self.clock())).days} days)"
        atm = c.atm_strike()
        return (
            f"<b>{c.underlying}</b> &middot; expiry {c.expiry}{days} &middot; future "
            f"<b>{fmt.price(c.underlying_price)}</b> &middot; <span style='background:{t.highlight}'>&nbsp;ATM "
            f"{fmt.price(atm, 0) if atm is not None else '-'}&nbsp;</span> &middot; {len(c.strikes)} strikes &middot; "
            f"PCR (OI) {pcr} &middot; call OI {fmt.qty(ce_oi)} &middot; put OI {fmt.qty(pe_oi)} &middot; "
            f"<span style='color:{t.muted}'>IV, greeks: Black-76 on the future (dhan greeks)</span>"
        )
