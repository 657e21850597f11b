"""The ``.env`` file (Qt-free): show it with secrets masked, validate an edit with the Settings class, write it.

* :func:`masked_text` shows the file with every secret value masked (``***``, or the URL with its password
  masked). A secret is a ``SecretStr`` setting (``DHAN_ACCESS_TOKEN``, ``DHAN_REDIS_URL``, ...) or any variable
  whose name contains PASSWORD, TOKEN, SECRET or KEY, in any case (docker compose's ``REDIS_PASSWORD``,
  ``MYSQL_ROOT_PASSWORD`` ...; the settings themselves are read case-insensitively). When the edited text
  comes back, a value still equal to its masked form means "unchanged" and the original secret is put back
  (:func:`unmask_text`), so secrets never have to be shown to be kept.
* :func:`validate` loads the text through :class:`~shared.settings.Settings` exactly as a service would (the
  process environment still overrides the file) and returns the settings or a one-line error.
* :func:`write_env` never writes an invalid file, and writes atomically with mode 0600 (a temp file created
  0600 next to it, fsynced, renamed over it).
* :func:`changed_fields` compares two Settings, for "apply by restarting the affected services".
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from pathlib import Path

from pydantic import SecretStr

from shared.errors import ConfigError
from shared.settings import ENV_FIELDS, Settings, load_settings, mask_url

__all__ = [
    "SECRET_FIELDS", "SECRET_WORDS", "changed_fields", "is_secret", "masked_text", "read_env", "unmask_text",
    "validate", "write_env",
]  # fmt: skip

SECRET_FIELDS = frozenset(n for n, f in ENV_FIELDS.items()
                          if f.info.annotation is not None and "SecretStr" in str(f.info.annotation))
SECRET_WORDS = ("PASSWORD", "TOKEN", "SECRET", "KEY")
# Every setting with its description (.env.example) is ~9 KB: a file past this is not one to edit here.
ENV_FILE_MAX_BYTES = 1 << 20
_LINE = re.compile(r"^(\s*(?:export\s+)?)([A-Za-z_][A-Za-z0-9_]*)(\s*=\s*)(.*?)\s*$")


def _strip_quotes(v: str) -> str:
    return v[1:-1] if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"" else v


def _mask(value: str) -> str:
    raw = _strip_quotes(value)
    if not raw:
        return value
    return mask_url(raw) if "://" in raw else "***"


def is_secret(var: str) -> bool:
    """True for a variable whose value the editor masks (see the module docstring)."""
    upper = var.upper()
    return upper.removeprefix("DHAN_").lower() in SECRET_FIELDS or any(w in upper for w in SECRET_WORDS)


def read_env(path: Path) -> str:
    """The file's text ("" when it does not exist yet); a one-line ConfigError when it is not a settings file
    (larger than ENV_FILE_MAX_BYTES, not UTF-8, not a regular file)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise ConfigError(f"cannot read {path}: not a regular file")
        with path.open("rb") as fh:
            raw = fh.read(ENV_FILE_MAX_BYTES + 1)
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > ENV_FILE_MAX_BYTES:
        raise ConfigError(f"{path} is larger than {ENV_FILE_MAX_BYTES >> 10} KiB: not a settings file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start}): fix it in a text editor") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")  # as text-mode reading did


def _values(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m and not line.lstrip().startswith("#"):
            out[m.group(2)] = m.group(4)
    return out


def masked_text(text: str) -> str:
    lines = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if m and not line.lstrip().startswith("#") and is_secret(m.group(2)):
            line = f"{m.group(1)}{m.group(2)}{m.group(3)}{_mask(m.group(4))}"
        lines.append(line)
    return "\n".join(lines) + ("\n" if text.endswith("\n") or not text else "")


def unmask_text(edited: str, original: str) -> str:
    """Put the original secrets back where the edit left their masked form untouched."""
    orig = _values(original)
    lines = []
    for line in edited.splitlines():
        m = _LINE.match(line)
        if m and not line.lstrip().startswith("#") and is_secret(m.group(2)) and m.group(2) in orig:
            old = orig[m.group(2)]
            if m.group(4) == _mask(old):
                line = f"{m.group(1)}{m.group(2)}{m.group(3)}{old}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def validate(text: str, directory: Path) -> Settings:
    """Settings as services would load them with ``text`` as their .env; :class:`ConfigError` if invalid."""
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s and not s.startswith("#") and "=" not in s:
            raise ConfigError(f"line {n}: expected NAME=value, got {s[:40]!r}")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".env-check-", dir=directory)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return load_settings(_env_file=tmp)
    finally:
        os.unlink(tmp)


def write_env(path: Path, text: str) -> Settings:
    """Validate, then write ``path`` atomically with mode 0600. Returns the new settings."""
    settings = validate(text, path.parent)
    fd, tmp = tempfile.mkstemp(prefix=".env-new-", dir=path.parent)   # created 0600
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    os.chmod(path, 0o600)
    return settings


def changed_fields(old: Settings, new: Settings) -> set[str]:
    """Flat names of the settings that differ (``{"sim_rate", ...}``)."""
    out: set[str] = set()
    before, after = old.flat(), new.flat()
    for name in ENV_FIELDS:
        a, b = before[name], after[name]
        if isinstance(a, SecretStr) or isinstance(b, SecretStr):
            a = a.get_secret_value() if isinstance(a, SecretStr) else a
            b = b.get_secret_value() if isinstance(b, SecretStr) else b
        if a != b:
            out.add(name)
    return out
