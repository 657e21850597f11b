"""Qt table model over :class:`BoardModel`, and the sort/filter proxy of the quote board.

Display text is formatted here; ``SORT_ROLE`` carries the raw value so sorting is numeric, with unknown
values always last. Cells flash (background) for ``FLASH_S`` after their value changed, green up, red down.
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PyQt6.QtGui import QBrush, QColor

from viz.models import fmt
from viz.models.board import COLUMNS, BoardModel
from viz.widgets.theme import DARK, Theme

__all__ = ["FLASH_S", "KEY_ROLE", "SORT_ROLE", "BoardFilter", "BoardTableModel"]

FLASH_S = 0.6
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
KEY_ROLE = Qt.ItemDataRole.UserRole + 2
_NUMERIC = frozenset(c for c, _ in COLUMNS if c != "symbol")
Index = QModelIndex | QPersistentModelIndex


class BoardTableModel(QAbstractTableModel):
    def __init__(self, board: BoardModel) -> None:
        super().__init__()
        self.board = board
        self.theme: Theme = DARK
        self._flashing: set[str] = set()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt API
        return 0 if parent.isValid() else len(self.board.order)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt API
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section][1]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        key = self.board.order[index.row()]
        row = self.board.rows[key]
        column = COLUMNS[index.column()][0]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, column)
        if role == SORT_ROLE:
            value = row.value(column)
            return value.lower() if isinstance(value, str) else value
        if role == KEY_ROLE:
            return key
        if role == Qt.ItemDataRole.TextAlignmentRole:
            align = Qt.AlignmentFlag.AlignRight if column in _NUMERIC else Qt.AlignmentFlag.AlignLeft
            return int(align | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.BackgroundRole:
            direction = self.board.flash_of(key, column, FLASH_S)
            if direction:
                return QBrush(QColor(self.theme.flash_up if direction > 0 else self.theme.flash_down))
            return None
        if role == Qt.ItemDataRole.ForegroundRole and column in ("change", "change_pct", "oi_change"):
            value = row.value(column)
            if value:
                return QBrush(QColor(self.theme.up if value > 0 else self.theme.down))
        if role == Qt.ItemDataRole.ToolTipRole and column == "symbol":
            return f"{row.symbol}  {key}  {row.role}"
        return None

    @staticmethod
    def _text(row: Any, column: str) -> str:
        dp = fmt.display_decimals(row.tick_size)
        value = row.value(column)
        if column == "symbol":
            return str(value)
        if column in ("ltp", "bid", "ask"):
            return fmt.price(value, dp)
        if column == "change":
            return fmt.signed(value, dp)
        if column == "change_pct":
            return fmt.pct(value)
        if column in ("volume", "oi"):
            return fmt.qty(value)
        if column == "oi_change":
            return "-" if value is None else ("+" if value > 0 else "") + fmt.qty(value)
        if column == "updated":
            return fmt.ist_time(value)
        return "" if value is None else str(value)

    def refresh(self) -> None:
        """Tell the views what changed since the last frame (called by the window's frame timer)."""
        board = self.board
        if board.added:
            board.added = False
            board.take_dirty()
            self.beginResetModel()
            self.endResetModel()
            return
        flashing = board.flashing_keys(FLASH_S)
        changed = board.take_dirty() | flashing | self._flashing  # rows whose flash just ended repaint too
        self._flashing = flashing
        if not changed:
            return
        index_of = {k: i for i, k in enumerate(board.order)} if len(changed) > 8 else None
        last = len(COLUMNS) - 1
        for key in changed:
            i = index_of[key] if index_of is not None else board.order.index(key)
            self.dataChanged.emit(self.index(i, 0), self.index(i, last))


class BoardFilter(QSortFilterProxyModel):
    """Words to match in symbol/segment/role, and a role; numeric sort with unknown values last."""

    def __init__(self, board: BoardModel) -> None:
        super().__init__()
        self.board = board
        self.text = ""
        self.role = ""
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    def set_filter(self, text: str, role: str) -> None:
        self.text, self.role = text, role
        self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:  # noqa: N802 - Qt API
        key = self.board.order[source_row]
        if self.role and self.board.rows[key].role != self.role:
            return False
        return not self.text or self.board.matches(key, self.text)

    def lessThan(self, left: Index, right: Index) -> bool:  # noqa: N802 - Qt API
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        if a is None or b is None:  # unknown last in ascending order
            return a is not None and b is None
        return bool(a < b)
