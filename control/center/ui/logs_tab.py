"""Logs tab: live tail of every service's warnings and errors, filtered by service, level and text."""

from __future__ import annotations

from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QTableView, QVBoxLayout, QWidget

from control.center.engine import ControlCenter
from control.center.ui.common import RowsModel, plain_table

__all__ = ["LogsTab"]

_LEVEL_COLOURS = {"debug": "grey", "info": None, "warning": "yellow", "error": "red", "critical": "red"}
ALL = "all services"


class LogsTab(QWidget):
    def __init__(self, center: ControlCenter) -> None:
        super().__init__()
        self.center = center
        self.service = QComboBox()
        self.service.addItem(ALL)
        self.level = QComboBox()
        self.level.addItems(["warning", "error"])        # the stream holds warnings and errors only
        self.search = QLineEdit()
        self.search.setPlaceholderText("search events and fields")
        self.count = QLabel("")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Service"))
        bar.addWidget(self.service)
        bar.addWidget(QLabel("Level"))
        bar.addWidget(self.level)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.count)
        self.model = RowsModel(("Time (IST)", "Service", "Level", "Event", "Fields"))
        view = plain_table(QTableView(), self.model)
        view.setColumnWidth(0, 80)
        view.setColumnWidth(1, 90)
        view.setColumnWidth(2, 70)
        view.setColumnWidth(3, 240)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(view)
        self._drawn: tuple[object, ...] = ()
        for w in (self.service, self.level):
            w.currentTextChanged.connect(lambda _t: self.refresh())
        self.search.textChanged.connect(lambda _t: self.refresh())

    def refresh(self) -> None:
        tail = self.center.logs
        if tail is None:
            return
        known = {self.service.itemText(i) for i in range(self.service.count())}
        for s in sorted(tail.services - known):
            self.service.addItem(s)
        service = self.service.currentText()
        key = (tail.version, service, self.level.currentText(), self.search.text())
        if key == self._drawn:
            return
        self._drawn = key
        recs = tail.filtered(None if service == ALL else service, self.level.currentText(), self.search.text())
        self.model.set_rows([(r.time_ist, r.service, r.level, r.event, r.fields) for r in recs],
                            [_LEVEL_COLOURS.get(r.level) for r in recs], [r.fields for r in recs])
        self.count.setText(f"{len(recs):,} of {len(tail.records):,}")
