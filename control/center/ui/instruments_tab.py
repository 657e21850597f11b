"""Instruments tab: every subscribed instrument with the age of its last quote, the quietest first."""

from __future__ import annotations

import time
from typing import Any

from PyQt6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QLineEdit, QTableView, QVBoxLayout, QWidget

from control.center.engine import ControlCenter
from control.center.ui.common import RowsModel, fmt_age, plain_table
from control.monitor.quotes_seen import QuoteSeen

__all__ = ["InstrumentsTab", "instrument_rows"]

FRESH_S = 10.0


def instrument_rows(universe: dict[str, dict[str, Any]], seen: dict[str, QuoteSeen], now: float,
                    silent_s: float, text: str = "") -> tuple[list[tuple[Any, ...]], list[str | None], str]:
    """(rows, colours, summary): quietest first; status fresh / quiet / silent / never (pure, tested)."""
    keys = set(universe) | set(seen)
    out: list[tuple[float, tuple[Any, ...], str | None]] = []
    fresh = silent = never = 0
    t = text.lower()
    for k in keys:
        info = universe.get(k, {})
        symbol = str(info.get("symbol") or "")
        if t and t not in k.lower() and t not in symbol.lower():
            continue
        q = seen.get(k)
        age = None if q is None else max(0.0, now - q.at)
        if age is None:
            status, colour, never = "never", "grey", never + 1
        elif age <= FRESH_S:
            status, colour, fresh = "fresh", "green", fresh + 1
        elif age <= silent_s:
            status, colour = "quiet", "yellow"
        else:
            status, colour, silent = "silent", "red", silent + 1
        row = (k, symbol, info.get("role", "" if info else "not in universe"),
               "" if q is None or q.ltp is None else f"{q.ltp:,.2f}", fmt_age(age), status)
        out.append((float("inf") if age is None else age, row, colour))
    out.sort(key=lambda x: x[0], reverse=True)
    summary = (f"{len(universe):,} subscribed; {fresh:,} quoted in the last {FRESH_S:.0f}s, {silent:,} silent "
               f"over {silent_s:.0f}s, {never:,} not quoted since this window opened")
    return [r for _, r, _ in out], [c for _, _, c in out], summary


class InstrumentsTab(QWidget):
    def __init__(self, center: ControlCenter) -> None:
        super().__init__()
        self.center = center
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("filter by symbol or SEG:ID")
        self.paused = QCheckBox("pause")
        self.summary = QLabel("")
        bar = QHBoxLayout()
        bar.addWidget(self.filter, 1)
        bar.addWidget(self.paused)
        self.model = RowsModel(("Instrument", "Symbol", "Role", "Last price", "Last update", "Status"))
        self.model.align_right = {3, 4}
        view = plain_table(QTableView(), self.model)
        view.setColumnWidth(0, 140)
        view.setColumnWidth(1, 260)
        self.view = view
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.summary)
        layout.addWidget(view)
        self.filter.textChanged.connect(lambda _t: self.refresh())

    def refresh(self) -> None:
        if self.paused.isChecked() or self.center.watcher is None:
            return
        snap = self.center.snapshot
        universe = snap.universe if snap is not None else {}
        rows, colours, summary = instrument_rows(universe, self.center.watcher.seen, time.time(),
                                                 self.center.settings.monitor.instrument_silent_s,
                                                 self.filter.text().strip())
        self.summary.setText(summary)
        self.model.set_rows(rows, colours)
