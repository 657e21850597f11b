"""The data grid used by the quote board and the option chain: read-only rows, compact, fast cells."""

from __future__ import annotations

from PyQt6.QtWidgets import QTableView, QWidget

from viz.widgets.fast_cells import CellSource, FastCellDelegate

__all__ = ["DataTable"]

ROW_HEIGHT_PX = 22


class DataTable(QTableView):
    def __init__(self, source: CellSource, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        vh = self.verticalHeader()
        if vh is not None:
            vh.setVisible(False)
            vh.setDefaultSectionSize(ROW_HEIGHT_PX)
        self.setItemDelegate(FastCellDelegate(source, self))

    def shown_rows(self) -> tuple[int, int]:
        """First and last row in the viewport (all rows when the view cannot tell yet); ``(0, -1)`` if none."""
        model, viewport = self.model(), self.viewport()
        n = model.rowCount() if model is not None else 0
        if n == 0 or viewport is None:
            return 0, n - 1
        top, bottom = self.rowAt(0), self.rowAt(viewport.height() - 1)
        return max(top, 0), (n - 1 if bottom < 0 else bottom)
