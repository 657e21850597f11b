"""A read-only grid of pre-formatted rows for :class:`viz.widgets.tables.DataTable` (fast cells).

The window formats each row as ``(text, colour name or None)`` per column; :meth:`RowsTableModel.set_rows`
tells the view only which rows changed (all of them when the row count changed), so a repaint redraws the
cells that moved and the delegate paints each cell from one Python call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PyQt6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PyQt6.QtGui import QColor

from viz.widgets.fast_cells import Cell

__all__ = ["Row", "RowsTableModel"]

Row = tuple[tuple[str, str | None], ...]
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class RowsTableModel(QAbstractTableModel):
    def __init__(self, columns: Sequence[str], bold_column: int = -1) -> None:
        super().__init__()
        self.columns = tuple(columns)
        self.bold_column = bold_column
        self.rows: list[Row] = []
        self.highlight_row = -1
        self.highlight: QColor | None = None
        self._colours: dict[str, QColor] = {}

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.columns[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and index.isValid():
            return self.rows[index.row()][index.column()][0]
        return None

    def _colour(self, name: str | None) -> QColor | None:
        if name is None:
            return None
        c = self._colours.get(name)
        if c is None:
            c = self._colours[name] = QColor(name)
        return c

    def cell(self, index: QModelIndex | QPersistentModelIndex) -> Cell:
        r, c = index.row(), index.column()
        text, colour = self.rows[r][c]
        bg = self.highlight if r == self.highlight_row else None
        return text, self._colour(colour), bg, _RIGHT, c == self.bold_column

    def set_rows(self, rows: list[Row], highlight_row: int = -1) -> bool:
        """Replace the rows; True when the row count changed (the view was reset)."""
        if len(rows) != len(self.rows):
            self.beginResetModel()
            self.rows, self.highlight_row = rows, highlight_row
            self.endResetModel()
            return True
        old, old_hl = self.rows, self.highlight_row
        self.rows, self.highlight_row = rows, highlight_row
        last = len(self.columns) - 1
        for i, row in enumerate(rows):
            if row != old[i] or (i in (old_hl, highlight_row) and old_hl != highlight_row):
                self.dataChanged.emit(self.index(i, 0), self.index(i, last))
        return False
