"""Services tab: every service and visualizer with its state, and the Start All checklist as it happens."""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QBrush, QColor, QFont
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from control.center.engine import ControlCenter
from control.center.service_rows import ServiceRow
from control.center.ui.common import COLOURS, fmt_age, fmt_num, headers

__all__ = ["ServicesTab"]

COLUMNS = ("Service", "State", "Step / detail", "Where", "Uptime", "CPU %", "Memory", "Restarts", "Rate", "")
_STEP_COLOURS = {"ok": "green", "active": "blue", "pending": "grey", "failed": "red", "stuck": "red",
                 "skipped": "grey"}
_STEP_MARKS = {"ok": "✔", "active": "…", "pending": "·", "failed": "✘", "stuck": "⚠", "skipped": "–"}


class ServicesTab(QWidget):
    def __init__(self, center: ControlCenter) -> None:
        super().__init__()
        self.center = center
        self._names: list[str] = []
        bar = QHBoxLayout()
        self.start_all = QPushButton("Start All")
        self.stop_all = QPushButton("Stop All")
        self.restart_sel = QPushButton("Restart selected")
        for b in (self.start_all, self.stop_all, self.restart_sel):
            bar.addWidget(b)
        bar.addStretch(1)
        self.plan = QLabel("")
        bar.addWidget(self.plan)
        self.start_all.clicked.connect(lambda: center.submit(center.start_all(), "start_all"))
        self.stop_all.clicked.connect(lambda: center.submit(center.stop_all(), "stop_all"))
        self.restart_sel.clicked.connect(self._restart_selected)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        hdr, vhdr = headers(self.table)
        vhdr.setVisible(False)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        hdr.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hdr.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)

        self.checklist = QTreeWidget()
        self.checklist.setHeaderLabels(("Start All", "Status", "Detail", "Time"))
        self.checklist.setRootIsDecorated(False)
        tree_header = self.checklist.header()
        assert tree_header is not None
        tree_header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.summary = QLabel("Start All has not run from this Control Center")
        bold = QFont()
        bold.setBold(True)
        self.summary.setFont(bold)
        lower = QWidget()
        lv = QVBoxLayout(lower)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.summary)
        lv.addWidget(self.checklist)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(lower)
        split.setSizes([430, 300])
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(split)
        self._startup_version = -1

    # --- actions ---
    def _restart_selected(self) -> None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        for r in sorted(rows):
            if r < len(self._names):
                name = self._names[r]
                self.center.submit(self.center.restart_service(name), f"restart.{name}")

    def _actions(self, name: str, available: bool) -> QWidget:
        w = QWidget()
        h = QHBoxLayout(w)
        h.setContentsMargins(2, 0, 2, 0)
        h.setSpacing(2)
        for label in ("Start", "Stop", "Restart"):
            action = label.lower()
            b = QPushButton(label)
            b.setObjectName(f"{action}:{name}")
            b.setEnabled(available)
            b.setMaximumHeight(22)
            b.clicked.connect(self._clicked(action, name))
            h.addWidget(b)
        return w

    def _clicked(self, action: str, name: str) -> Callable[..., None]:
        fn = {"start": self.center.start_service, "stop": self.center.stop_service,
              "restart": self.center.restart_service}[action]

        def clicked(*_: object) -> None:
            self.center.submit(fn(name), f"{action}.{name}")

        return clicked

    # --- drawing ---
    def refresh(self) -> None:
        rows = self.center.rows
        names = [r.name for r in rows]
        if names != self._names:
            self._names = names
            self.table.setRowCount(len(rows))
            for i, r in enumerate(rows):
                for c in range(len(COLUMNS) - 1):
                    self.table.setItem(i, c, QTableWidgetItem(""))
                self.table.setCellWidget(i, len(COLUMNS) - 1, self._actions(r.name, r.available))
        for i, r in enumerate(rows):
            self._fill(i, r)
        self._draw_plan()
        if self.center.startup.version != self._startup_version or self.center.startup.running:
            self._startup_version = self.center.startup.version
            self._draw_checklist()

    def _fill(self, i: int, r: ServiceRow) -> None:
        step = r.step
        if r.detail:
            step = f"{step} · {r.detail}" if step else r.detail
        if not r.available:
            step = "not available in this build"
        values = (r.name, r.state, step, r.where, fmt_age(r.uptime_s) if r.uptime_s is not None else "",
                  fmt_num(r.cpu_pct, "", 1), fmt_num(r.rss_mb, " MB", 0),
                  "" if r.restarts is None else str(r.restarts), r.rate)
        colour = QBrush(QColor(COLOURS[r.colour]))
        for c, v in enumerate(values):
            item = self.table.item(i, c)
            if item is None:
                continue
            if item.text() != v:
                item.setText(v)
            if c == 1:
                item.setForeground(colour)
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            if c == 2:
                item.setToolTip(v)

    def _draw_plan(self) -> None:
        snap = self.center.snapshot
        hb = {}
        if snap is not None:
            for _, h in snap.by_name("scheduler"):
                hb = h
        if not hb or hb.get("state") not in ("running", "starting"):
            self.plan.setText("scheduler: not running")
            return
        if not hb.get("plan"):
            self.plan.setText("scheduler: starting")
            return
        market = ", ".join(f"{ex} {hb.get(f'market_{ex.lower()}', '?')}" for ex in ("NSE", "MCX")
                           if f"market_{ex.lower()}" in hb)
        self.plan.setText(f"scheduler ({hb.get('services', '')}): {hb.get('plan', '')}  |  {market}")

    def _draw_checklist(self) -> None:
        t = self.center.startup
        self.summary.setText("Start All: " + t.summary())
        self.checklist.clear()
        for s in t.steps:
            el = s.elapsed_s()
            item = QTreeWidgetItem([f"{_STEP_MARKS[s.status]}  {s.label}", s.status, s.detail,
                                    "" if el is None else f"{el:.1f}s"])
            colour = QBrush(QColor(COLOURS[_STEP_COLOURS[s.status]]))
            for c in (0, 1):
                item.setForeground(c, colour)
            self.checklist.addTopLevelItem(item)
