"""Monitor tab: the health verdict with its reason, key rates, streams (length, freshness, lag), conditions."""

from __future__ import annotations

import pyqtgraph as pg
from PyQt6.QtWidgets import QGridLayout, QGroupBox, QHBoxLayout, QLabel, QTableView, QVBoxLayout, QWidget

from control.center.engine import ControlCenter
from control.center.ui.common import COLOURS, RowsModel, badge_css, fmt_age, fmt_num, plain_table
from control.monitor.snapshot import Snapshot

__all__ = ["MonitorTab", "figures"]

def figures(snap: Snapshot) -> dict[str, str]:
    """The figure cards' texts (pure, tested)."""
    out: dict[str, str] = {}
    feed = snap.sum_field("feed", "published_per_s")
    out["Feed messages/s"] = fmt_num(feed) if feed is not None else "no feed"
    rows = snap.sum_field("writer", "entries_per_s")
    out["Writer rows/s"] = fmt_num(rows) if rows is not None else "no writer"
    batch = snap.sum_field("writer", "batch_size")
    out["Writer batch size"] = fmt_num(batch, "", 1) if batch is not None else "-"
    if snap.redis_ok:
        used = snap.redis_used_memory / 2**20
        if snap.redis_maxmemory:
            out["Redis memory"] = f"{used:,.1f} of {snap.redis_maxmemory / 2**20:,.0f} MB " \
                                  f"({100 * snap.redis_used_memory / snap.redis_maxmemory:.0f}%)"
        else:
            out["Redis memory"] = f"{used:,.1f} MB (no maxmemory)"
    else:
        out["Redis memory"] = "unreachable"
    in_use, size = snap.sum_field("writer", "pool_in_use"), snap.sum_field("writer", "pool_size")
    pool = f"pool {in_use:.0f}/{size:.0f} busy" if in_use is not None and size else "pool -"
    if snap.mysql_ok is False:
        out["MySQL"] = f"unreachable; {pool}"
    elif snap.mysql_threads is not None:
        out["MySQL"] = f"{pool}; server {snap.mysql_threads}/{snap.mysql_max_connections}"
    else:
        out["MySQL"] = pool
    out["Market"] = "open" if snap.market_open else "closed"
    return out


class MonitorTab(QWidget):
    def __init__(self, center: ControlCenter) -> None:
        super().__init__()
        self.center = center
        self.verdict = QLabel("unknown")
        self.verdict.setStyleSheet(badge_css("unknown"))
        self.reason = QLabel("")
        self.reason.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(QLabel("Health:"))
        top.addWidget(self.verdict)
        top.addWidget(self.reason, 1)

        cards = QGroupBox("Now")
        grid = QGridLayout(cards)
        self.cards: dict[str, QLabel] = {}
        for i, name in enumerate(("Feed messages/s", "Writer rows/s", "Writer batch size", "Redis memory", "MySQL",
                                  "Market")):
            title = QLabel(name)
            title.setStyleSheet("color: #555;")
            value = QLabel("-")
            value.setStyleSheet("font-size: 13pt; font-weight: bold;")
            value.setWordWrap(True)
            grid.addWidget(title, (i // 3) * 2, i % 3)
            grid.addWidget(value, (i // 3) * 2 + 1, i % 3)
            self.cards[name] = value

        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(150)
        self.plot.addLegend(offset=(10, 5))
        self.plot.setLabel("left", "per second")
        self.plot.setLabel("bottom", "seconds ago")
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.feed_curve = self.plot.plot(pen=pg.mkPen(COLOURS["blue"], width=2), name="feed messages/s")
        self.writer_curve = self.plot.plot(pen=pg.mkPen(COLOURS["green"], width=2), name="writer rows/s")

        self.streams = RowsModel(("Stream", "Length", "Newest entry", "Consumer groups (lag / pending)"))
        self.streams.align_right = {1, 2}
        sv = plain_table(QTableView(), self.streams, None)
        sv.setMaximumHeight(150)
        self.conds = RowsModel(("Severity", "Rule", "Condition now"))
        cv = plain_table(QTableView(), self.conds, None)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(cards)
        layout.addWidget(self.plot, 2)
        layout.addWidget(QLabel("Streams: freshness and consumer lag"))
        layout.addWidget(sv)
        layout.addWidget(QLabel("Rules holding now (the monitor alerts once they last their threshold)"))
        layout.addWidget(cv, 1)

    def refresh(self) -> None:
        snap = self.center.snapshot
        state, reason = self.center.verdict
        self.verdict.setText(state)
        self.verdict.setStyleSheet(badge_css(state))
        self.reason.setText(reason)
        if snap is None:
            return
        for name, text in figures(snap).items():
            self.cards[name].setText(text)
        history = list(self.center.rates)
        if len(history) > 1:
            now = history[-1][0]
            xs = [t - now for t, _, _ in history]
            self.feed_curve.setData(xs, [f for _, f, _ in history])
            self.writer_curve.setData(xs, [w for _, _, w in history])
            self.plot.setXRange(min(xs[0], -60.0), 0, padding=0.02)
        redis_now = snap.redis_now or snap.now
        rows_s = []
        for kind, info in snap.streams.items():
            groups = ", ".join(f"{g}: {gi.lag if gi.lag is not None else '?'} / {gi.pending}"
                               for g, gi in info.groups.items()) or "no group"
            age = info.age_s(redis_now)
            rows_s.append((kind, f"{info.length:,}", "no entry" if age is None else fmt_age(age) + " ago", groups))
        self.streams.set_rows(rows_s)
        conds = self.center.conditions
        self.conds.set_rows([(c.severity, c.rule, c.detail) for c in conds],
                            ["red" if c.severity == "critical" else "yellow" for c in conds])
