"""Qt table model of the option chain: call fields (mirrored) | strike | put fields, ATM row highlighted."""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PyQt6.QtGui import QBrush, QColor, QFont

from viz.models import fmt
from viz.models.chain import SIDE_FIELDS, ChainModel, ChainSide
from viz.widgets.theme import DARK, Theme

__all__ = ["ChainTableModel", "chain_columns"]

Index = QModelIndex | QPersistentModelIndex
ITM_ALPHA = 28


def chain_columns() -> list[tuple[str, str, str]]:
    """``(side, field, title)``: calls mirrored so both LTPs sit next to the strike."""
    calls = [("CE", f, t) for f, t in reversed(SIDE_FIELDS)]
    puts = [("PE", f, t) for f, t in SIDE_FIELDS]
    return [*calls, ("", "strike", "Strike"), *puts]


def _text(side: ChainSide | None, name: str, dp: int) -> str:
    if side is None:
        return ""
    value = side.value(name)
    if value is None:
        return "-"
    if name == "ltp":
        return fmt.price(value, dp)
    if name in ("oi", "volume"):
        return fmt.qty(value)
    if name == "oi_change":
        return ("+" if value > 0 else "") + fmt.qty(value)
    if name == "iv":
        return f"{value:.2f}"
    if name == "gamma":
        return f"{value:.5f}"
    return f"{value:.2f}" if name in ("theta", "vega") else f"{value:.3f}"  # theta/day, vega per 1 %


class ChainTableModel(QAbstractTableModel):
    def __init__(self, chain: ChainModel) -> None:
        super().__init__()
        self.chain = chain
        self.columns = chain_columns()
        self.theme: Theme = DARK
        self.decimals = 2
        self._shape: tuple[Any, ...] = ()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt API
        return 0 if parent.isValid() else len(self.chain.strikes)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt API
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            side, _, title = self.columns[section]
            return f"{side} {title}" if side and title in ("LTP", "OI") else title
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        strike = self.chain.strikes[index.row()]
        side_name, name, _ = self.columns[index.column()]
        side = self.chain.by_strike[strike].get(side_name) if side_name else None
        atm = self.chain.atm_strike()
        if role == Qt.ItemDataRole.DisplayRole:
            return fmt.price(strike, 0 if strike == int(strike) else 2) if not side_name else _text(side, name, self.decimals)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter if not side_name else Qt.AlignmentFlag.AlignRight
                       | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.BackgroundRole:
            if strike == atm:
                return QBrush(QColor(self.theme.highlight))
            price = self.chain.underlying_price
            if price is not None and side_name and ((side_name == "CE" and strike < price) or
                                                    (side_name == "PE" and strike > price)):
                c = QColor(self.theme.accent)
                c.setAlpha(ITM_ALPHA)
                return QBrush(c)
            return None
        if role == Qt.ItemDataRole.ForegroundRole and name == "oi_change" and side is not None:
            value = side.oi_change
            if value:
                return QBrush(QColor(self.theme.up if value > 0 else self.theme.down))
        if role == Qt.ItemDataRole.FontRole and (not side_name or strike == atm):
            font = QFont()
            font.setBold(True)
            return font
        return None

    def refresh(self) -> None:
        shape = tuple(self.chain.strikes)
        if shape != self._shape:
            self._shape = shape
            self.beginResetModel()
            self.endResetModel()
        elif self.chain.strikes:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.chain.strikes) - 1, len(self.columns) - 1))
