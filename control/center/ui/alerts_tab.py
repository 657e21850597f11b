"""Alerts tab: what the monitor (and other services) raised, when, which rule, the detail; acknowledge."""

from __future__ import annotations

from PyQt6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QTableView, QVBoxLayout, QWidget

from control.center.engine import ControlCenter
from control.center.ui.common import RowsModel, plain_table

__all__ = ["AlertsTab"]


class AlertsTab(QWidget):
    def __init__(self, center: ControlCenter) -> None:
        super().__init__()
        self.center = center
        self.active_only = QCheckBox("firing and not acknowledged only")
        self.ack = QPushButton("Acknowledge selected")
        self.count = QLabel("")
        bar = QHBoxLayout()
        bar.addWidget(self.active_only)
        bar.addWidget(self.ack)
        bar.addStretch(1)
        bar.addWidget(self.count)
        self.model = RowsModel(("Raised (IST)", "State", "Severity", "Rule", "Detail", "Service", "Acknowledged"))
        self.view = plain_table(QTableView(), self.model, None)
        self.view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        for col, width in enumerate((120, 70, 70, 150, 520, 90)):
            self.view.setColumnWidth(col, width)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.view)
        self._ids: list[str] = []
        self._drawn: tuple[object, ...] = ()
        self.active_only.toggled.connect(lambda _v: self.refresh())
        self.ack.clicked.connect(self._acknowledge)

    def selected_ids(self) -> list[str]:
        return [self._ids[r] for r in sorted({i.row() for i in self.view.selectedIndexes()}) if r < len(self._ids)]

    def _acknowledge(self) -> None:
        feed = self.center.alerts
        if feed is None:
            return
        for alert_id in self.selected_ids():
            self.center.submit(feed.acknowledge(alert_id), "acknowledge")

    def refresh(self) -> None:
        feed = self.center.alerts
        if feed is None:
            return
        key = (feed.version, self.active_only.isChecked())
        if key == self._drawn:
            return
        self._drawn = key
        rows = feed.rows(self.active_only.isChecked())
        self._ids = [r.id for r in rows]
        colours: list[str | None] = []
        for r in rows:
            if r.state == "resolved" or r.acked_by:
                colours.append("grey")
            else:
                colours.append("red" if r.severity == "critical" else "yellow")
        self.model.set_rows([(r.time_ist, r.state, r.severity, r.rule, r.detail, r.service, r.acked_by)
                             for r in rows], colours, [r.detail for r in rows])
        self.count.setText(f"{feed.active_count()} firing, not acknowledged; {len(feed.alerts)} in history")
