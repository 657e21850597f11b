"""Regenerate .env.example from the Settings class (run by hand after adding a setting; a test checks sync)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from shared.settings import Settings

HEADER = """\
# dhan-trading settings. Copy to .env and edit; every variable is optional (defaults shown).
# Without DHAN_CLIENT_ID/DHAN_ACCESS_TOKEN the feed uses the local simulator (dhan sim).
# Secrets (token, passwords in URLs) are never logged or shown unmasked.
"""


def main() -> None:
    lines = [HEADER]
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, SecretStr):
            default = default.get_secret_value()
        shown = "" if default is None else (str(default).lower() if isinstance(default, bool) else str(default))
        lines.append(f"# {field.description}")
        prefix = "# " if default is None else ""
        lines.append(f"{prefix}DHAN_{name.upper()}={shown}\n")
    Path(".env.example").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
