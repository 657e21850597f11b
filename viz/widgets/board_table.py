"""Qt table model of the quote board: filtering and sorting done here, cells painted by the fast delegate.

Sorting and filtering happen in Python over the row keys once per frame (200 rows sort in well under a
millisecond), not in a ``QSortFilterProxyModel``: the proxy compares rows through a Python ``data()`` call
per comparison, which cost ~12 ms a frame with a live sort (bench/viz_frames.py). Unknown values sort last
either way. Cells flash (background) for ``FLASH_S`` after their value moved, green up, red down.
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PyQt6.QtGui import QColor

from viz.models import fmt
from viz.models.board import COLUMNS, FLASH_COLUMNS, BoardModel, QuoteRow
from viz.widgets.theme import DARK, Theme

__all__ = ["FLASH_S", "KEY_ROLE", "SORT_ROLE", "BoardTableModel"]

FLASH_S = 0.6
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
KEY_ROLE = Qt.ItemDataRole.UserRole + 2
_NUMERIC = frozenset(c for c, _ in COLUMNS if c != "symbol")
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
Index = QModelIndex | QPersistentModelIndex


def _text(row: QuoteRow, column: str) -> str:
    return fmt.board_cell(column, row.value(column), fmt.display_decimals(row.tick_size), missing="")


class BoardTableModel(QAbstractTableModel):
    """Rows are ``visible``: the board's keys that pass the filter, in the chosen sort order."""

    def __init__(self, board: BoardModel) -> None:
        super().__init__()
        self.board = board
        self.visible: list[str] = []
        self._row_of: dict[str, int] = {}
        self.text = ""
        self.role = ""
        self.sort_column = -1
        self.descending = False
        self.theme: Theme = DARK
        self._colours: dict[str, QColor] = {}
        self.set_theme(DARK)
        self._flashing: set[str] = set()
        self._texts: dict[str, list[str]] = {}

    # --- Qt model API ---
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(self.visible)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section][1]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        key = self.visible[index.row()]
        row = self.board.rows[key]
        column = COLUMNS[index.column()][0]
        if role == Qt.ItemDataRole.DisplayRole:
            return _text(row, column)
        if role == SORT_ROLE:
            return row.value(column)
        if role == KEY_ROLE:
            return key
        if role == Qt.ItemDataRole.ToolTipRole and column == "symbol":
            return f"{row.symbol}  {key}  {row.role}"
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.sort_column = column
        self.descending = order == Qt.SortOrder.DescendingOrder
        self._relayout(force=True)

    # --- painting (see viz.widgets.fast_cells) ---
    def cell(self, index: Index) -> Any:
        key = self.visible[index.row()]
        column = COLUMNS[index.column()][0]
        texts = self._texts.get(key)
        if texts is None:  # formatted once per change of the row, not once per paint
            row = self.board.rows[key]
            texts = self._texts[key] = [_text(row, c) for c, _ in COLUMNS]
        row = self.board.rows[key]
        fg = bg = None
        if column in ("change", "change_pct", "oi_change"):
            value = row.value(column)
            if value:
                fg = self._colours["up" if value > 0 else "down"]
        direction = self.board.flash_of(key, column, FLASH_S) if column in FLASH_COLUMNS else 0
        if direction:
            bg = self._colours["flash_up" if direction > 0 else "flash_down"]
        return texts[index.column()], fg, bg, (_RIGHT if column in _NUMERIC else _LEFT), False

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self._colours = {n: QColor(getattr(theme, n)) for n in ("up", "down", "flash_up", "flash_down")}

    # --- filtering, sorting, refresh ---
    def set_filter(self, text: str, role: str) -> None:
        self.text, self.role = text, role
        self._relayout(force=True)

    def _ordered(self) -> list[str]:
        board = self.board
        keys = [
            k
            for k in board.order
            if (not self.role or board.rows[k].role == self.role) and (not self.text or board.matches(k, self.text))
        ]
        if 0 <= self.sort_column < len(COLUMNS):
            column = COLUMNS[self.sort_column][0]

            def known(k: str) -> bool:
                return board.rows[k].value(column) is not None

            def value(k: str) -> Any:
                v = board.rows[k].value(column)
                return v.lower() if isinstance(v, str) else v

            with_values = sorted((k for k in keys if known(k)), key=value, reverse=self.descending)
            keys = with_values + [k for k in keys if not known(k)]  # unknown last, either direction
        return keys

    def _relayout(self, *, force: bool = False) -> bool:
        """Recompute the visible order; True (and views told) when it changed."""
        ordered = self._ordered()
        if not force and ordered == self.visible:
            return False
        if len(ordered) != len(self.visible) or set(ordered) != set(self.visible):
            self.beginResetModel()
            self.visible = ordered
            self._row_of = {k: i for i, k in enumerate(ordered)}
            self.endResetModel()
        else:
            self.layoutAboutToBeChanged.emit()
            self.visible = ordered
            self._row_of = {k: i for i, k in enumerate(ordered)}
            self.layoutChanged.emit()
        return True

    def refresh(self) -> None:
        """Tell the views what changed since the last frame (called by the window's frame timer)."""
        board = self.board
        added, board.added = board.added, False
        if added:
            self._texts.clear()
        flashing = board.flashing_keys(FLASH_S)
        dirty = board.take_dirty()
        for key in dirty:
            self._texts.pop(key, None)
        changed = dirty | flashing | self._flashing  # rows whose flash just ended repaint too
        self._flashing = flashing
        moved = self._relayout(force=added) if (added or (changed and self.sort_column >= 0)) else False
        if moved or not changed:
            return
        rows = [self._row_of[k] for k in changed if k in self._row_of]
        if rows:  # one signal over the span: the view repaints that band once
            self.dataChanged.emit(self.index(min(rows), 0), self.index(max(rows), len(COLUMNS) - 1))
