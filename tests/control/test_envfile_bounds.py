"""The ``.env`` file as read by the Control Center's editor and by every command: a bounded read, and a file
that is not UTF-8 text, too large or not a file is a one-line error, never a traceback."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from control.center.envfile import ENV_FILE_MAX_BYTES, read_env
from shared.errors import ConfigError
from tests.child import clean_env, run_dhan


def test_read_env_keeps_text_and_line_ends_as_before(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"# desk\r\nDHAN_SIM_RATE=50\r\nDHAN_NIFTY_STRIKES=\xc3\xa9\n")
    assert read_env(path) == "# desk\nDHAN_SIM_RATE=50\nDHAN_NIFTY_STRIKES=\u00e9\n"
    assert read_env(tmp_path / "missing") == ""


@pytest.mark.parametrize(("content", "says"), [
    (b"DHAN_SIM_RATE=50\n" + b"#" * ENV_FILE_MAX_BYTES, "not a settings file"),
    (b"DHAN_SIM_RATE=50\nDHAN_X=\xff\xfe\n", "not UTF-8 text (byte 24)"),
])
def test_read_env_refuses_what_is_not_a_settings_file(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / ".env"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=re.escape(says)) as err:
        read_env(path)
    assert "\n" not in str(err.value)


def test_read_env_of_a_directory_or_a_fifo_is_one_line(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.env"
    os.mkfifo(fifo)
    keep = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # a writer that never closes: reading would never end
    try:
        for path in (tmp_path, fifo):
            with pytest.raises(ConfigError, match="cannot read") as err:
                read_env(path)
            assert "\n" not in str(err.value)
    finally:
        os.close(keep)


def test_a_dotenv_that_is_not_utf8_is_one_line_for_every_command(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"DHAN_LOG_LEVEL=info\nDHAN_X=\xff\xfe\n")
    done = run_dhan(["scheduler", "--show"], cwd=tmp_path, env=clean_env())
    assert done.one_line_error() and done.code == 2 and ".env file is not UTF-8" in done.err, done
