"""Toolbar controls shared by the windows: instrument chooser and labelled choice boxes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QComboBox, QCompleter, QHBoxLayout, QLabel, QWidget

from viz.data.catalog import Instrument

__all__ = ["ChoiceBox", "InstrumentCombo", "labelled"]


class InstrumentCombo(QComboBox):
    """Editable, type-to-search list of instruments; emits ``chosen(key)`` when the user picks one."""

    chosen = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.setMinimumContentsLength(26)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        completer = self.completer()
        if completer is not None:
            completer.setFilterMode(Qt.MatchFlag.MatchContains)
            completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self._keys: list[str] = []
        self._signature: tuple[str, ...] = ()
        self.activated.connect(self._on_activated)

    def set_instruments(self, instruments: Iterable[Instrument], current: str | None) -> None:
        items = sorted(instruments, key=lambda i: (i.role != "future", i.role, i.underlying, i.expiry or "", i.label))
        signature = tuple(i.key for i in items)
        if signature != self._signature:
            self._signature = signature
            self.blockSignals(True)
            self.clear()
            self._keys = list(signature)
            for inst in items:
                self.addItem(f"{inst.label}  ({inst.key})", inst.key)
            self.blockSignals(False)
        self.select(current)

    def select(self, key: str | None) -> None:
        if key is not None and key in self._keys:
            self.blockSignals(True)
            self.setCurrentIndex(self._keys.index(key))
            self.blockSignals(False)

    def _on_activated(self, index: int) -> None:
        if 0 <= index < len(self._keys):
            self.chosen.emit(self._keys[index])


class ChoiceBox(QComboBox):
    """A non-editable combo of ``(label, value)`` choices; ``value()`` and ``set_value()``."""

    def __init__(self, choices: Sequence[tuple[str, Any]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        for label, value in choices:
            self.addItem(label, value)

    def value(self) -> Any:
        return self.currentData()

    def set_value(self, value: Any) -> None:
        for i in range(self.count()):
            if self.itemData(i) == value:
                self.setCurrentIndex(i)
                return


def compact(box: QComboBox, chars: int) -> QComboBox:
    """Show about ``chars`` characters of the current choice in the closed combo (long labels cut with an
    ellipsis), its whole label in the tooltip and every label in full in the open list."""
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(chars)
    view = box.view()
    if view is not None:
        view.setMinimumWidth(view.sizeHintForColumn(0) + 24)  # + room for a scroll bar

    def tip(*_: object) -> None:
        box.setToolTip(box.currentText())

    box.currentIndexChanged.connect(tip)
    tip()
    return box


def labelled(text: str, widget: QWidget) -> QWidget:
    box = QWidget()
    lay = QHBoxLayout(box)
    lay.setContentsMargins(6, 0, 6, 0)
    lay.setSpacing(4)
    lay.addWidget(QLabel(text))
    lay.addWidget(widget)
    return box
