"""Five-level market depth of one instrument, opened from the quote board (double-click a row).

The stored book (``dhan_depth``) first, then the depth stream from the writer's position, filtered to the
instrument on bytes before decoding; only newer books (exchange time, receive time) replace the shown one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiomysql
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QBrush, QCloseEvent, QColor
from PyQt6.QtWidgets import QDialog, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from viz.data import history
from viz.data.catalog import Instrument
from viz.data.link import DataLink
from viz.data.live import sid_needle
from viz.data.sources import LatestSource
from viz.models import fmt
from viz.models.status import StatusModel
from viz.widgets.theme import Theme

__all__ = ["DepthDialog"]

HEADERS = ("Orders", "Bid qty", "Bid", "Ask", "Ask qty", "Orders")


class DepthDialog(QDialog):
    """Non-modal; ``on_close`` lets the owner cancel the data task."""

    def __init__(
        self,
        instrument: Instrument,
        theme: Theme,
        parent: QWidget | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(parent)
        self.instrument = instrument
        self.theme = theme
        self.status = StatusModel()
        self.book: dict[str, Any] | None = None
        self._order = (-1.0, -1.0)
        self._on_close = on_close
        self.setWindowTitle(f"Depth - {instrument.label}")
        self.title = QLabel(f"<b>{instrument.label}</b> &middot; {instrument.key} &middot; 5 levels")
        self.table = QTableWidget(5, len(HEADERS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        vh, hh = self.table.verticalHeader(), self.table.horizontalHeader()
        assert vh is not None and hh is not None
        vh.setVisible(False)
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.footer = QLabel("loading")
        self.footer.setTextFormat(Qt.TextFormat.RichText)
        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addWidget(self.table)
        lay.addWidget(self.footer)
        self.resize(560, 260)

    def source(self, link: DataLink, keys: Any) -> LatestSource:
        inst = self.instrument

        async def load(pool: aiomysql.Pool) -> dict[str, dict[str, Any]]:
            book = await history.fetch_depth(pool, inst.seg, inst.sid)
            return {"depth": {inst.key: book}} if book else {}

        return LatestSource(
            link,
            keys,
            ["depth"],
            load,
            self.apply,
            self.status,
            wants=lambda k: k == inst.key,
            needles=[sid_needle(inst.sid)],
        )

    def apply(self, kind: str, key: str, book: dict[str, Any], live: bool) -> None:
        order = (float(book.get("exchange_ts") or 0), float(book.get("recv_ts") or 0))
        if order < self._order:
            return
        self._order = order
        self.book = book
        self.paint()

    def paint(self) -> None:
        book = self.book
        if book is None:
            return
        dp = fmt.display_decimals(self.instrument.tick_size)
        bid_bg, ask_bg = QColor(self.theme.up), QColor(self.theme.down)
        bid_bg.setAlpha(40)
        ask_bg.setAlpha(40)
        for level in range(5):
            bid = (book.get("bids") or [[None, None, None]] * 5)[level]
            ask = (book.get("asks") or [[None, None, None]] * 5)[level]
            cells = (
                fmt.qty(bid[2]),
                fmt.qty(bid[1]),
                fmt.price(bid[0], dp),
                fmt.price(ask[0], dp),
                fmt.qty(ask[1]),
                fmt.qty(ask[2]),
            )
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setBackground(QBrush(bid_bg if col < 3 else ask_bg))
                self.table.setItem(level, col, item)
        best_bid, best_ask = (
            book["bids"][0][0] if book.get("bids") else None,
            book["asks"][0][0] if book.get("asks") else None,
        )
        spread = f"spread {fmt.price(best_ask - best_bid, dp)}" if best_bid and best_ask else "spread -"
        total_bid = sum(level[1] or 0 for level in book.get("bids") or [])
        total_ask = sum(level[1] or 0 for level in book.get("asks") or [])
        self.footer.setText(
            f"{spread} &middot; total bid {fmt.qty(total_bid)} &middot; total ask {fmt.qty(total_ask)} "
            f"&middot; at {fmt.ist_time(book.get('exchange_ts'))} IST"
        )

    def closeEvent(self, event: QCloseEvent | None) -> None:
        if self._on_close is not None:
            self._on_close()
        super().closeEvent(event)
