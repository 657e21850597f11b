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
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_CENTER = Qt.AlignmentFlag.AlignCenter
_FIELD_INDEX = {f: i for i, (f, _) in enumerate(SIDE_FIELDS)}


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
        self._colours: dict[str, QColor] = {}
        self.set_theme(DARK)
        self._bold = QFont()
        self._bold.setBold(True)
        self._atm: float | None = None  # computed once per refresh, not per cell
        self._texts: dict[str, tuple[int, list[str]]] = {}  # side key -> (side version, texts by field)
        self._strike_texts: list[str] = []
        self._price: float | None = None

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(self.chain.strikes)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
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
        atm = self._atm
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                fmt.price(strike, 0 if strike == int(strike) else 2)
                if not side_name
                else _text(side, name, self.decimals)
            )
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(
                Qt.AlignmentFlag.AlignCenter
                if not side_name
                else Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
            )
        if role == Qt.ItemDataRole.BackgroundRole:
            if strike == atm:
                return QBrush(QColor(self.theme.highlight))
            price = self._price
            if (
                price is not None
                and side_name
                and ((side_name == "CE" and strike < price) or (side_name == "PE" and strike > price))
            ):
                c = QColor(self.theme.accent)
                c.setAlpha(ITM_ALPHA)
                return QBrush(c)
            return None
        if role == Qt.ItemDataRole.ForegroundRole and name == "oi_change" and side is not None:
            value = side.oi_change
            if value:
                return QBrush(QColor(self.theme.up if value > 0 else self.theme.down))
        if role == Qt.ItemDataRole.FontRole and (not side_name or strike == atm):
            return self._bold
        return None

    def cell(self, index: Index) -> Any:
        """Everything the fast delegate paints for one cell (see fast_cells); texts are formatted once per
        change of their side, colours follow the ATM and the underlying price at paint time."""
        row, column = index.row(), index.column()
        strike = self.chain.strikes[row]
        side_name, name, _ = self.columns[column]
        if not side_name:
            return self._strike_texts[row], None, self._atm_bg(strike), _CENTER, True
        side = self.chain.by_strike[strike].get(side_name)
        if side is None:
            return "", None, self._atm_bg(strike), _RIGHT, False
        texts = self._texts.get(side.contract.key)
        if texts is None or texts[0] != side.version:
            texts = self._texts[side.contract.key] = (
                side.version,
                [_text(side, f, self.decimals) for f, _ in SIDE_FIELDS],
            )
        fg = None
        if name == "oi_change" and side.oi_change:
            fg = self._colours["up" if side.oi_change > 0 else "down"]
        bg = self._atm_bg(strike)
        if (
            bg is None
            and self._price is not None
            and ((side_name == "CE" and strike < self._price) or (side_name == "PE" and strike > self._price))
        ):
            bg = self._colours["itm"]
        return texts[1][_FIELD_INDEX[name]], fg, bg, _RIGHT, strike == self._atm

    def _atm_bg(self, strike: float) -> QColor | None:
        return self._colours["highlight"] if strike == self._atm else None

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        itm = QColor(theme.accent)
        itm.setAlpha(ITM_ALPHA)
        self._colours = {
            "up": QColor(theme.up),
            "down": QColor(theme.down),
            "highlight": QColor(theme.highlight),
            "itm": itm,
        }

    def refresh(self) -> bool:
        """Tell views the chain changed; True when the strikes changed (the view re-fits its columns)."""
        self._atm = self.chain.atm_strike()
        self._price = self.chain.underlying_price
        shape = tuple(self.chain.strikes)
        if shape != self._shape:
            self._shape = shape
            self._strike_texts = [fmt.price(k, 0 if k == int(k) else 2) for k in shape]
            self._texts.clear()
            self.beginResetModel()
            self.endResetModel()
            return True
        if self.chain.strikes:  # the view repaints only the visible cells; texts re-format only if changed
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.chain.strikes) - 1, len(self.columns) - 1))
        return False
