"""Window 5: quote board of every subscribed instrument (``dhan viz quote-board``, alias ``quotes``).

LTP, change and % change against the previous close, volume, OI and its change against the previous
day's OI, best bid/ask and the exchange time of the last update; cells flash green/red when they move.
Sort by any column (numeric), filter by words (symbol, segment, role) and by type; double-click a row for
its 5-level depth. Latest quotes come from ``dhan_quotes``, then the quotes stream from the writer's
position (see ``viz.data.seam``); new instruments (re-centred options) join on the universe refresh.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiomysql
from PyQt6.QtCore import QModelIndex, Qt
from PyQt6.QtWidgets import QHeaderView, QLineEdit, QVBoxLayout, QWidget

from shared.settings import Settings
from viz.data import history
from viz.data.catalog import Instrument
from viz.data.live import read_universe
from viz.data.sources import LatestSource
from viz.models.board import BoardModel
from viz.widgets.board_table import KEY_ROLE, BoardTableModel
from viz.widgets.controls import ChoiceBox, labelled
from viz.widgets.tables import DataTable
from viz.windows.base import Routine, VizOptions, VizWindow
from viz.windows.depth import DepthDialog

__all__ = ["QuoteBoardWindow"]

ROLE_ORDER = {"index": 0, "future": 1, "commodity": 2, "equity": 3, "option": 4}
UNIVERSE_REFRESH_S = 10.0
UNIVERSE_RETRY_S = 2.0
ROLES = (
    ("All", ""),
    ("Indices", "index"),
    ("Futures", "future"),
    ("Options", "option"),
    ("Stocks", "equity"),
    ("Commodities", "commodity"),
)


class QuoteBoardWindow(VizWindow):
    NAME = "quote-board"
    TITLE = "Quote board"

    def __init__(self, settings: Settings, options: VizOptions | None = None) -> None:
        super().__init__(settings, options)
        self.board = BoardModel()
        self.instruments: dict[str, Instrument] = {}
        self.table_model = BoardTableModel(self.board)
        self.depth_dialogs: dict[str, DepthDialog] = {}

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("filter: e.g. nifty ce")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setText(str(self.options.instrument or self.recall("filter", "")))
        self.filter_edit.textChanged.connect(self._filter_changed)
        self.role_box = ChoiceBox(ROLES)
        self.role_box.set_value(str(self.recall("role", "")))
        self.role_box.currentIndexChanged.connect(self._filter_changed)
        self.toolbar.addWidget(labelled("Filter", self.filter_edit))
        self.toolbar.addWidget(labelled("Type", self.role_box))
        self.finish_toolbar()

        self.view = DataTable(self.table_model)
        self.view.setModel(self.table_model)
        self.view.setSortingEnabled(True)
        header = self.view.horizontalHeader()
        assert header is not None
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        # the symbol column is fitted when the rows change, not kept fitted: ResizeToContents re-measures
        # every row on every cell update (~6 ms a frame with 200 instruments, bench/viz_frames.py)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.table_model.modelReset.connect(self._fit_symbols)
        sort_col = int(self.recall("sort_column", -1))  # -1: as listed (indices, futures, stocks, options)
        sort_desc = str(self.recall("sort_desc", "false")) == "true"
        self.view.sortByColumn(sort_col, Qt.SortOrder.DescendingOrder if sort_desc else Qt.SortOrder.AscendingOrder)
        header.sortIndicatorChanged.connect(self._sort_changed)
        self.view.doubleClicked.connect(self._open_depth)
        self._filter_changed()

        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.addWidget(self.view, 1)
        self.setCentralWidget(central)

    # --- controls ---
    def _filter_changed(self, *_: object) -> None:
        self.table_model.set_filter(self.filter_edit.text(), str(self.role_box.value()))
        self.remember("filter", self.filter_edit.text())
        self.remember("role", self.role_box.value())

    def _fit_symbols(self) -> None:
        self.view.resizeColumnToContents(0)

    def _sort_changed(self, column: int, order: Qt.SortOrder) -> None:
        self.remember("sort_column", column)
        self.remember("sort_desc", "true" if order == Qt.SortOrder.DescendingOrder else "false")

    def _open_depth(self, index: QModelIndex) -> None:
        key = index.data(KEY_ROLE)
        if key is None or key not in self.instruments:
            return
        self.open_depth(key)

    def open_depth(self, key: str) -> DepthDialog:
        dialog = self.depth_dialogs.get(key)
        if dialog is None:
            dialog = DepthDialog(self.instruments[key], self.theme, self, on_close=lambda: self._depth_closed(key))
            self.depth_dialogs[key] = dialog
            self.spawn(dialog.source(self.link, self.keys).run, f"depth:{key}")
        dialog.show()
        dialog.raise_()
        return dialog

    def _depth_closed(self, key: str) -> None:
        self.depth_dialogs.pop(key, None)
        self.tasks.cancel(f"depth:{key}")

    # --- data ---
    def data_routines(self) -> dict[str, Routine]:
        return {"quotes": self._quotes_routine, "universe": self._universe_routine}

    def _add_instruments(self, instruments: dict[str, Instrument]) -> list[str]:
        new = [k for k in instruments if k not in self.board.rows]
        self.instruments.update(instruments)
        for inst in sorted(
            instruments.values(),
            key=lambda i: (ROLE_ORDER.get(i.role, 9), i.underlying, i.expiry or "", i.strike or 0, i.label),
        ):
            self.board.add_instrument(inst.key, inst.label, segment=inst.seg, role=inst.role, tick_size=inst.tick_size)
        return new

    async def _load_universe(self) -> dict[str, Instrument]:
        while True:
            universe = await read_universe(await self.link.redis(), self.keys)
            if universe:
                return universe
            self.status_model.note = "the feed's universe is empty: start the feed (dhan up)"
            await asyncio.sleep(UNIVERSE_RETRY_S)

    async def _quotes_routine(self) -> None:
        self._add_instruments(await self._load_universe())
        self.status_model.note = f"{len(self.board.rows)} instruments"

        async def load(pool: aiomysql.Pool) -> dict[str, Any]:
            return {"quotes": await history.fetch_quotes(pool)}

        source = LatestSource(
            self.link,
            self.keys,
            ["quotes"],
            load,
            self._apply,
            self.status_model,
            wants=self.board.rows.__contains__,
            on_loaded=self.mark_loaded,
        )
        await source.run()

    async def _universe_routine(self) -> None:
        while True:
            await asyncio.sleep(UNIVERSE_REFRESH_S)
            new = self._add_instruments(await read_universe(await self.link.redis(), self.keys))
            if new:
                stored = await history.fetch_quotes(await self.link.pool(), [k.split(":", 1) for k in new])  # type: ignore[misc]
                for key, q in stored.items():
                    self.board.apply(key, q, flash=False)
                self.status_model.note = f"{len(self.board.rows)} instruments"
                self.mark_dirty()

    def _apply(self, kind: str, key: str, q: dict[str, Any], live: bool) -> None:
        self.board.apply(key, q, flash=live)
        self.mark_dirty()

    # --- paint ---
    def on_theme(self) -> None:
        self.table_model.set_theme(self.theme)
        for dialog in self.depth_dialogs.values():
            dialog.theme = self.theme
            dialog.paint()

    def paint_models(self) -> None:
        self.table_model.refresh(self.view.shown_rows())

    def frame(self) -> None:
        # flashes end on their own clock (and a throttled sort comes due): refresh without new data too
        if self.table_model.wants_frame:
            self.mark_dirty()
        super().frame()
