"""Qt table model of the quote board: filtering and sorting done here, cells painted by the fast delegate.

Sorting and filtering happen in Python over the row keys, not in a ``QSortFilterProxyModel``: the proxy
compares rows through a Python ``data()`` call per comparison, which cost ~12 ms a frame with a live sort
(bench/viz_frames.py). Unknown values sort last either way. Cells flash (background) for ``FLASH_S`` after
their value moved, green up, red down.

Each frame the model re-reads only the rows the board reports changed (a quote, or a flash that ended)
that are on screen, and tells the view about the cells whose text or colour differ from what it painted,
so a frame repaints those cells rather than every visible one (with 200 instruments all flashing,
repainting the visible table and re-measuring the symbol column every frame was the quote board's 22 ms
p99). A live sort re-orders the rows at most every ``RESORT_S``: a re-order repaints the table, and rows
jumping 30 times a second cannot be read anyway.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PyQt6.QtGui import QColor

from viz.models.board import COLUMNS, BoardModel, CellView
from viz.models.cells import changed_runs
from viz.widgets.theme import DARK, Theme

__all__ = ["FLASH_S", "KEY_ROLE", "RESORT_S", "SORT_ROLE", "BoardTableModel"]

FLASH_S = 0.6
RESORT_S = 0.5
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
KEY_ROLE = Qt.ItemDataRole.UserRole + 2
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
_ALIGN = tuple(_LEFT if c == "symbol" else _RIGHT for c, _ in COLUMNS)
_COLOURS = ("up", "down", "flash_up", "flash_down")
Index = QModelIndex | QPersistentModelIndex


class BoardTableModel(QAbstractTableModel):
    """Rows are ``visible``: the board's keys that pass the filter, in the chosen sort order."""

    def __init__(self, board: BoardModel, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.board = board
        self.visible: list[str] = []
        self._row_of: dict[str, int] = {}
        self.text = ""
        self.role = ""
        self.sort_column = -1
        self.descending = False
        self.theme: Theme = DARK
        self._colours: dict[str | None, QColor | None] = {}
        self._views: dict[str, list[CellView]] = {}  # what each row shows as of the last refresh
        self._clock = clock
        self._sorted_at = -math.inf
        self._resort = False  # rows changed since the last sort (re-sorted when RESORT_S has passed)
        self.set_theme(DARK)

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
        column = COLUMNS[index.column()][0]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._view(key)[index.column()][0]
        if role == SORT_ROLE:
            return self.board.rows[key].value(column)
        if role == KEY_ROLE:
            return key
        if role == Qt.ItemDataRole.ToolTipRole and column == "symbol":
            row = self.board.rows[key]
            return f"{row.symbol}  {key}  {row.role}"
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.sort_column = column
        self.descending = order == Qt.SortOrder.DescendingOrder
        self._relayout(force=True)

    # --- painting (see viz.widgets.fast_cells) ---
    def cell(self, index: Index) -> Any:
        """The cell as of the last refresh (the view was told about every cell that changed since)."""
        column = index.column()
        text, fg, bg = self._view(self.visible[index.row()])[column]
        colours = self._colours
        return text, colours[fg], colours[bg], _ALIGN[column], False

    def _view(self, key: str) -> list[CellView]:
        view = self._views.get(key)
        if view is None:  # not shown since it changed (filtered out, or new): read it now
            view = self._views[key] = self.board.view(key, FLASH_S)
        return view

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self._colours = {None: None, **{n: QColor(getattr(theme, n)) for n in _COLOURS}}
        if self.visible:  # every coloured cell changes
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.visible) - 1, len(COLUMNS) - 1))

    @property
    def wants_frame(self) -> bool:
        """A flash is fading or a re-sort is due: refresh on the next frame even without new quotes."""
        return self.board.flash_pending or self._resort

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
        self._sorted_at, self._resort = self._clock(), False
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
        else:  # same rows, new order: selection and current row follow their instrument
            self.layoutAboutToBeChanged.emit()
            before = self.persistentIndexList()
            keys = [self.visible[i.row()] for i in before]
            self.visible = ordered
            self._row_of = {k: i for i, k in enumerate(ordered)}
            after = [self.index(self._row_of[k], i.column()) for k, i in zip(keys, before, strict=True)]
            self.changePersistentIndexList(before, after)
            self.layoutChanged.emit()
        return True

    def refresh(self, shown: tuple[int, int] | None = None) -> None:
        """Tell the views which cells changed since the last frame (called by the window's frame timer).

        ``shown``: the first and last row on screen; changed rows outside it are read again when painted."""
        board = self.board
        added, board.added = board.added, False
        changed = board.take_changed(FLASH_S)
        if added:
            self._views.clear()
            self._relayout(force=True)
            return
        top, bottom = shown if shown is not None else (0, len(self.visible) - 1)
        updates: list[tuple[int, list[tuple[int, int]]]] = []
        for key in changed:
            row = self._row_of.get(key, -1)
            if not top <= row <= bottom:  # filtered out or scrolled away: read again when painted
                self._views.pop(key, None)
                continue
            new = board.view(key, FLASH_S)
            runs = changed_runs(self._views.get(key), new)
            self._views[key] = new
            if runs:
                updates.append((row, runs))
        if changed and self.sort_column >= 0:
            self._resort = True
        if self._resort and self._clock() - self._sorted_at >= RESORT_S and self._relayout():
            return  # re-ordered: the view repaints every row
        for row, runs in updates:
            for first, last in runs:
                self.dataChanged.emit(self.index(row, first), self.index(row, last))
