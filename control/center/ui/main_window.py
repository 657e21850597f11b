"""The Control Center window: seven tabs over one :class:`~control.center.engine.ControlCenter`, a health badge."""

from __future__ import annotations

import asyncio

from PyQt6.QtGui import QCloseEvent
from PyQt6.QtWidgets import QLabel, QMainWindow, QTabWidget

from control.center.engine import ControlCenter
from control.center.ui.alerts_tab import AlertsTab
from control.center.ui.common import badge_css
from control.center.ui.config_tab import ConfigTab
from control.center.ui.gaps_tab import GapsTab, gaps_title
from control.center.ui.instruments_tab import InstrumentsTab
from control.center.ui.logs_tab import LogsTab
from control.center.ui.monitor_tab import MonitorTab
from control.center.ui.services_tab import ServicesTab

__all__ = ["TAB_NAMES", "ControlWindow"]

TAB_NAMES = ("services", "monitor", "instruments", "logs", "alerts", "gaps", "configuration")


class ControlWindow(QMainWindow):
    """Redraws after each refresh of the center (about once a second), only the visible tab."""

    def __init__(self, center: ControlCenter) -> None:
        super().__init__()
        self.center = center
        self.closed = asyncio.Event()
        self.setWindowTitle(f"dhan-trading Control Center ({center.settings.redis.key_prefix})")
        self.resize(1400, 860)
        self.services = ServicesTab(center)
        self.monitor = MonitorTab(center)
        self.instruments = InstrumentsTab(center)
        self.logs = LogsTab(center)
        self.alerts = AlertsTab(center)
        self.gaps = GapsTab(center)
        self.config = ConfigTab(center)
        self.tabs = QTabWidget()
        for widget, title in ((self.services, "Services"), (self.monitor, "Monitor"),
                              (self.instruments, "Instruments"), (self.logs, "Logs"), (self.alerts, "Alerts"),
                              (self.gaps, "Gaps"), (self.config, "Configuration")):
            self.tabs.addTab(widget, title)
        self.setCentralWidget(self.tabs)
        self.badge = QLabel("unknown")
        self.badge.setStyleSheet(badge_css("unknown"))
        self.message = QLabel("")
        bar = self.statusBar()
        assert bar is not None
        bar.addWidget(self.badge)
        bar.addWidget(self.message, 1)
        self.tabs.currentChanged.connect(lambda _i: self.redraw())
        center.listeners.append(self.redraw)

    def tab(self, name: str) -> object:
        return getattr(self, "config" if name == "configuration" else name)

    def redraw(self) -> None:
        state, reason = self.center.verdict
        self.badge.setText(state)
        self.badge.setStyleSheet(badge_css(state))
        self.badge.setToolTip(reason)
        firing = self.center.alerts.active_count() if self.center.alerts else 0
        self.tabs.setTabText(self.tabs.indexOf(self.alerts), f"Alerts ({firing})" if firing else "Alerts")
        ledger = self.center.gaps
        if ledger is not None:
            self.tabs.setTabText(self.tabs.indexOf(self.gaps), gaps_title(len(ledger.gaps), ledger.open_count()))
        self.message.setText(self.center.message)
        current = self.tabs.currentWidget()
        refresh = getattr(current, "refresh", None)
        if refresh is not None:
            refresh()
        if current is not self.services and self.center.startup.running:
            self.services.refresh()          # keep the checklist current while Start All runs

    def closeEvent(self, event: QCloseEvent | None) -> None:
        self.closed.set()
        if event is not None:
            event.accept()
