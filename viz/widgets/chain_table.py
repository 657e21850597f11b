"""Qt table model of the option chain: call fields (mirrored) | strike | put fields, ATM row highlighted.

The rows (strikes) and what each contract's cells show are the model's own copy as of the last
:meth:`ChainTableModel.refresh`, which tells the view exactly which cells changed: the fields of a contract
whose quote or greeks moved (on screen; others are read again when painted), and the rows whose ATM
highlight or in-the-money shading changed. Telling the
view that the whole chain changed repainted every visible cell (~400) on every frame, ~10 ms of the
chain's 40-50 ms p99 (bench/viz_frames.py).
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PyQt6.QtGui import QBrush, QColor, QFont

from viz.models import fmt
from viz.models.cells import changed_runs
from viz.models.chain import SIDE_FIELDS, ChainModel, ChainSide
from viz.widgets.theme import DARK, Theme

__all__ = ["ChainTableModel", "chain_columns"]

Index = QModelIndex | QPersistentModelIndex
ITM_ALPHA = 28
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_CENTER = Qt.AlignmentFlag.AlignCenter
_FIELD_INDEX = {f: i for i, (f, _) in enumerate(SIDE_FIELDS)}
# (text, text colour name) of each of SIDE_FIELDS for one contract
SideView = list[tuple[str, str | None]]


def chain_columns() -> list[tuple[str, str, str]]:
    """``(side, field, title)``: calls mirrored so both LTPs sit next to the strike."""
    calls = [("CE", f, t) for f, t in reversed(SIDE_FIELDS)]
    puts = [("PE", f, t) for f, t in SIDE_FIELDS]
    return [*calls, ("", "strike", "Strike"), *puts]


def _text(side: ChainSide, name: str, dp: int) -> str:
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


def _side_view(side: ChainSide, dp: int) -> SideView:
    oi_change = side.oi_change
    oi_colour = ("up" if oi_change > 0 else "down") if oi_change else None
    return [(_text(side, f, dp), oi_colour if f == "oi_change" else None) for f, _ in SIDE_FIELDS]


def _itm(strike: float, price: float | None) -> tuple[bool, bool]:
    """(call in the money, put in the money) at ``strike``."""
    return (False, False) if price is None else (strike < price, strike > price)


class ChainTableModel(QAbstractTableModel):
    def __init__(self, chain: ChainModel) -> None:
        super().__init__()
        self._chain = chain
        self._reset_due = True
        self.columns = chain_columns()
        self._column_of = {(side, f): c for c, (side, f, _) in enumerate(self.columns)}
        self.theme: Theme = DARK
        self.decimals = 2
        self._colours: dict[str | None, QColor | None] = {}
        self._bold = QFont()
        self._bold.setBold(True)
        # the rows as the views know them, changed only inside a model reset
        self.strikes: list[float] = []
        self._row_of: dict[float, int] = {}
        self._sides: list[dict[str, ChainSide]] = []
        self._strike_texts: list[str] = []
        self._contracts_version = -1
        self._views: dict[str, SideView] = {}  # contract key -> its cells as of the last refresh
        self._atm: float | None = None
        self._price: float | None = None
        self.set_theme(DARK)

    @property
    def chain(self) -> ChainModel:
        return self._chain

    @chain.setter
    def chain(self, chain: ChainModel) -> None:
        """Another underlying or expiry: the next refresh resets the rows."""
        self._chain = chain
        self._reset_due = True

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(self.strikes)

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
        text, fg, bg, align, bold = self.cell(index)
        if role == Qt.ItemDataRole.DisplayRole:
            return text
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(align.value)
        if role == Qt.ItemDataRole.BackgroundRole:
            return None if bg is None else QBrush(bg)
        if role == Qt.ItemDataRole.ForegroundRole:
            return None if fg is None else QBrush(fg)
        if role == Qt.ItemDataRole.FontRole and bold:
            return self._bold
        return None

    def cell(self, index: Index) -> Any:
        """Everything the fast delegate paints for one cell (see fast_cells), as of the last refresh."""
        row = index.row()
        strike = self.strikes[row]
        side_name, name, _ = self.columns[index.column()]
        atm = strike == self._atm
        bg = self._colours["highlight"] if atm else None
        if not side_name:
            return self._strike_texts[row], None, bg, _CENTER, True
        side = self._sides[row].get(side_name)
        if side is None:
            return "", None, bg, _RIGHT, False
        price = self._price
        if bg is None and price is not None and (strike < price if side_name == "CE" else strike > price):
            bg = self._colours["itm"]
        view = self._views.get(side.contract.key)
        if view is None:
            view = self._views[side.contract.key] = _side_view(side, self.decimals)
        text, fg = view[_FIELD_INDEX[name]]
        return text, self._colours[fg], bg, _RIGHT, atm

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        itm = QColor(theme.accent)
        itm.setAlpha(ITM_ALPHA)
        self._colours = {
            None: None,
            "up": QColor(theme.up),
            "down": QColor(theme.down),
            "highlight": QColor(theme.highlight),
            "itm": itm,
        }
        if self.strikes:  # every coloured cell changes
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.strikes) - 1, len(self.columns) - 1))

    def refresh(self, shown: tuple[int, int] | None = None) -> bool:
        """Tell views which cells changed since the last refresh; True when the rows were reset (another
        chain or other contracts: the view re-fits its columns). ``shown``: the first and last row on
        screen (changed contracts outside it are read again when painted)."""
        chain = self._chain
        dirty = chain.take_dirty()
        atm, price = chain.atm_strike(), chain.underlying_price
        if self._reset_due or chain.contracts_version != self._contracts_version:
            self.beginResetModel()
            self._reset_due, self._contracts_version = False, chain.contracts_version
            self.strikes = list(chain.strikes)
            self._row_of = {k: i for i, k in enumerate(self.strikes)}
            self._sides = [dict(chain.by_strike[k]) for k in self.strikes]
            self._strike_texts = [fmt.price(k, 0 if k == int(k) else 2) for k in self.strikes]
            self._views = {key: _side_view(side, self.decimals) for key, side in chain.sides.items()}
            self._atm, self._price = atm, price
            self.endResetModel()
            return True
        rows: set[int] = set()  # whole rows: the ATM moved, or the underlying crossed their strike
        if atm != self._atm:
            rows.update(self._row_of[k] for k in (self._atm, atm) if k in self._row_of)
        if price != self._price:
            rows.update(i for i, k in enumerate(self.strikes) if _itm(k, self._price) != _itm(k, price))
        self._atm, self._price = atm, price
        for row in sorted(rows):
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.columns) - 1))
        top, bottom = shown if shown is not None else (0, len(self.strikes) - 1)
        for key in dirty:
            side = chain.sides[key]
            row = self._row_of[side.contract.strike]
            if not top <= row <= bottom:
                self._views.pop(key, None)
                continue
            new = _side_view(side, self.decimals)
            runs = changed_runs(self._views.get(key), new)
            self._views[key] = new
            if row in rows:
                continue
            opt = side.contract.option_type
            for first, last in runs:
                a = self._column_of[(opt, SIDE_FIELDS[first][0])]
                b = self._column_of[(opt, SIDE_FIELDS[last][0])]
                self.dataChanged.emit(self.index(row, min(a, b)), self.index(row, max(a, b)))
        return False
