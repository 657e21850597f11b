"""Gaps tab: today's holes from the gap ledger (``dhan_gaps``) across the feed, newest first, open ones red."""

from __future__ import annotations

from PyQt6.QtWidgets import QLabel, QTableView, QVBoxLayout, QWidget

from control.center.engine import ControlCenter
from control.center.gaps_feed import gap_rows
from control.center.ui.common import COLOURS, RowsModel, fmt_age, plain_table
from shared.gaps import ALL_GAPS_LIMIT

__all__ = ["GapsTab", "gaps_summary", "gaps_title"]


def gaps_title(count: int, open_count: int) -> str:
    """The tab's title: ``Gaps``, ``Gaps (3)`` or ``Gaps (3, 1 OPEN)``."""
    if not count:
        return "Gaps"
    return f"Gaps ({count}, {open_count} OPEN)" if open_count else f"Gaps ({count})"


class GapsTab(QWidget):
    def __init__(self, center: ControlCenter) -> None:
        super().__init__()
        self.center = center
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.model = RowsModel(("Kind", "Instrument", "Connection", "Start (IST)", "End (IST)", "Duration",
                                "Reason"))
        self.model.align_right = {5}
        self.view = plain_table(QTableView(), self.model)
        for col, width in enumerate((100, 300, 90, 100, 100, 140)):
            self.view.setColumnWidth(col, width)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.view)
        self._drawn: tuple[object, ...] = ()

    def refresh(self) -> None:
        feed = self.center.gaps
        if feed is None:
            return
        now = self.center.clock()
        # an open gap's duration grows: redrawn each refresh while one is open, else when the ledger changed
        key = (feed.version, feed.open_count() and int(now))
        if key != self._drawn:
            self._drawn = key
            snap = self.center.snapshot
            rows = gap_rows(feed.gaps, now, snap.universe if snap is not None else {})
            colours: list[str | None] = [
                "white" if r.is_open else "grey" if r.kind.startswith("universe") else None for r in rows
            ]
            backgrounds: list[str | None] = [COLOURS["red"] if r.is_open else None for r in rows]
            self.model.set_rows([r.cells() for r in rows], colours, [r.reason for r in rows], backgrounds)
        self.summary.setText(gaps_summary(len(feed.gaps), feed.open_count(), feed.error,
                                          None if feed.checked_at is None else now - feed.checked_at))


def gaps_summary(count: int, open_count: int, error: str, age_s: float | None) -> str:
    if error:
        return f"gap ledger not readable: {error}" + (f"; showing what was read {fmt_age(age_s)} ago"
                                                      if age_s is not None else "")
    if age_s is None:
        return "reading the gap ledger (dhan_gaps)"
    more = "+ (the newest shown)" if count >= ALL_GAPS_LIMIT else ""
    head = (f"{count}{more} gaps today, {open_count} open" if count else
            "no gaps today: no outage, stall or universe change recorded")
    return (f"{head}; outages and stalls are 'whole feed', universe_out is an instrument out of the subscribed "
            f"universe; read {fmt_age(age_s)} ago")
