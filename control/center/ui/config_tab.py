"""Configuration tab: effective settings (secrets masked), and the .env editor: validate, save (0600), apply.

The editor shows the .env with secret values masked; a masked value left as it is keeps the secret. Nothing
is written unless the whole text validates through the same Settings class the services use. "Save and
apply" restarts the running services that the changes (against the file on disk) affect.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from control.center.catalog import affected_services
from control.center.engine import ControlCenter
from control.center.envfile import changed_fields, masked_text, read_env, unmask_text, validate, write_env
from control.center.ui.common import COLOURS, RowsModel, plain_table
from shared.errors import ConfigError
from shared.settings import Settings

__all__ = ["ConfigTab"]


class ConfigTab(QWidget):
    def __init__(self, center: ControlCenter) -> None:
        super().__init__()
        self.center = center
        self.model = RowsModel(("Setting", "Effective value"))
        table = plain_table(QTableView(), self.model)
        table.setColumnWidth(0, 230)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(QLabel("Effective settings of this Control Center (secrets masked)"))
        lv.addWidget(table)

        self.path_label = QLabel("")
        self.editor = QPlainTextEdit()
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.editor.setFont(mono)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.validate_btn = QPushButton("Validate")
        self.save_btn = QPushButton("Save")
        self.apply_btn = QPushButton("Save and apply (restart affected services)")
        self.reload_btn = QPushButton("Reload from disk")
        buttons = QHBoxLayout()
        for b in (self.validate_btn, self.save_btn, self.apply_btn, self.reload_btn):
            buttons.addWidget(b)
        buttons.addStretch(1)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addWidget(self.path_label)
        rv.addWidget(self.editor, 1)
        rv.addLayout(buttons)
        rv.addWidget(self.result)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([520, 700])
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        self.validate_btn.clicked.connect(self.on_validate)
        self.save_btn.clicked.connect(lambda: self.on_save(apply=False))
        self.apply_btn.clicked.connect(lambda: self.on_save(apply=True))
        self.reload_btn.clicked.connect(self.load)
        self._original = ""
        self._shown_settings: Settings | None = None
        self.load()

    @property
    def path(self) -> Path:
        return self.center.env_path

    def load(self) -> None:
        try:
            self._original = read_env(self.path)
        except ConfigError as exc:
            self._say(str(exc), "red")
            return
        exists = self.path.exists()
        self.path_label.setText(f"{self.path.resolve()}" + ("" if exists else " (does not exist yet: Save creates it)"))
        self.editor.setPlainText(masked_text(self._original))
        self.draw_effective()

    def draw_effective(self) -> None:
        self._shown_settings = self.center.settings
        shown = self.center.settings.masked()
        self.model.set_rows([(f"DHAN_{k.upper()}", "" if v is None else v) for k, v in shown.items()])

    def _say(self, text: str, colour: str) -> None:
        self.result.setText(text)
        self.result.setStyleSheet(f"color: {COLOURS[colour]};")

    def _candidate(self) -> str:
        return unmask_text(self.editor.toPlainText(), self._original)

    def _check(self) -> tuple[Settings, list[str]] | None:
        try:
            new = validate(self._candidate(), self.path.parent)
        except ConfigError as exc:
            self._say(f"not valid: {exc}", "red")
            return None
        changed = sorted(changed_fields(self._baseline(), new))
        return new, changed

    def _baseline(self) -> Settings:
        """What services load now (the file on disk); the Control Center's own settings if that is invalid."""
        try:
            return validate(self._original, self.path.parent)
        except ConfigError:
            return self.center.settings

    def on_validate(self) -> None:
        checked = self._check()
        if checked is None:
            return
        _, changed = checked
        if not changed:
            self._say("valid; no effective setting changes", "green")
            return
        services = affected_services(set(changed))
        self._say(f"valid; changes {', '.join(changed)}; affects {', '.join(services) or 'no service'}", "green")

    def on_save(self, apply: bool) -> None:
        checked = self._check()
        if checked is None:
            return
        _, changed = checked
        try:
            new = write_env(self.path, self._candidate())
        except (ConfigError, OSError) as exc:
            self._say(f"not saved: {exc}", "red")
            return
        services = affected_services(set(changed))
        self._original = read_env(self.path)
        if apply:
            self.center.submit(self.center.apply_settings(new, services), "apply_settings")
            self._say(f"saved (mode 0600); restarting {', '.join(services) or 'nothing'}", "green")
        else:
            self._say(f"saved (mode 0600); restart {', '.join(services) or 'nothing'} to apply", "green")
        self.editor.setPlainText(masked_text(self._original))

    def refresh(self) -> None:
        if self.center.settings is not self._shown_settings:
            self.draw_effective()
