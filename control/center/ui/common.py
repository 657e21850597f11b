"""Shared pieces of the Control Center's tabs: colours, a list-backed table model, small formatters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PyQt6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt
from PyQt6.QtGui import QBrush, QColor
from PyQt6.QtWidgets import QHeaderView, QTableView

__all__ = ["COLOURS", "RowsModel", "badge_css", "fmt_age", "fmt_num", "headers", "plain_table"]

COLOURS = {
    "green": "#2e7d32", "yellow": "#b28704", "red": "#c62828", "grey": "#6b6b6b", "blue": "#1565c0",
    "healthy": "#2e7d32", "degraded": "#b28704", "down": "#c62828", "unknown": "#6b6b6b",
}


def badge_css(colour: str) -> str:
    return (f"QLabel {{ background: {COLOURS.get(colour, colour)}; color: white; border-radius: 4px; "
            "padding: 3px 10px; font-weight: bold; }")


def fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 1:
        return "<1s"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.0f}d"


def fmt_num(v: float | None, unit: str = "", digits: int = 0) -> str:
    if v is None:
        return ""
    return f"{v:,.{digits}f}{unit}"


def headers(view: QTableView) -> tuple[QHeaderView, QHeaderView]:
    """(horizontal, vertical) headers of a table view (PyQt types them optional; a QTableView has both)."""
    h, v = view.horizontalHeader(), view.verticalHeader()
    assert h is not None and v is not None
    return h, v


def plain_table(view: QTableView, model: QAbstractTableModel, row_height: int | None = 20) -> QTableView:
    """No row numbers, the last column stretched, compact rows."""
    view.setModel(model)
    h, v = headers(view)
    v.setVisible(False)
    if row_height:
        v.setDefaultSectionSize(row_height)
    h.setStretchLastSection(True)
    return view


class RowsModel(QAbstractTableModel):
    """A table of plain rows; ``colours`` gives each row's text colour name (or None), ``backgrounds`` its fill."""

    def __init__(self, headers: Sequence[str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.headers = list(headers)
        self.rows: list[Sequence[Any]] = []
        self.colours: list[str | None] = []
        self.tooltips: list[str] = []
        self.backgrounds: list[str | None] = []
        self.align_right: set[int] = set()

    def set_rows(self, rows: Sequence[Sequence[Any]], colours: list[str | None] | None = None,
                 tooltips: list[str] | None = None, backgrounds: list[str | None] | None = None) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.colours = colours or [None] * len(rows)
        self.tooltips = tooltips or []
        self.backgrounds = backgrounds or []
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self.headers)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r, c = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            v = self.rows[r][c]
            return "" if v is None else str(v)
        if role == Qt.ItemDataRole.ForegroundRole:
            colour = self.colours[r] if r < len(self.colours) else None
            return QBrush(QColor(COLOURS.get(colour, colour))) if colour else None
        if role == Qt.ItemDataRole.BackgroundRole and r < len(self.backgrounds) and self.backgrounds[r]:
            return QBrush(QColor(self.backgrounds[r]))
        if role == Qt.ItemDataRole.ToolTipRole and r < len(self.tooltips):
            return self.tooltips[r]
        if role == Qt.ItemDataRole.TextAlignmentRole and c in self.align_right:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.headers[section]
        return None
