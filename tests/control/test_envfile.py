""".env editing: secrets masked and kept, validation through Settings, never invalid or world-readable."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from control.catalog import affected_services
from control.envfile import changed_fields, masked_text, unmask_text, validate, write_env
from shared.errors import ConfigError
from tests.conftest import make_settings

ORIGINAL = """# desk
DHAN_CLIENT_ID=1000000001
DHAN_ACCESS_TOKEN=eyJ-very-secret-token
DHAN_MYSQL_URL=mysql://app:pw-s3cret@db:3306/dhan_trading
DHAN_SIM_RATE=50
"""


def test_masked_text_hides_every_secret_and_keeps_the_rest() -> None:
    shown = masked_text(ORIGINAL)
    assert "eyJ-very-secret-token" not in shown and "pw-s3cret" not in shown
    assert "DHAN_ACCESS_TOKEN=***" in shown and "DHAN_MYSQL_URL=mysql://app:***@db:3306/dhan_trading" in shown
    assert "DHAN_CLIENT_ID=1000000001" in shown and shown.startswith("# desk\n")


def test_unmask_restores_untouched_secrets_only() -> None:
    edited = masked_text(ORIGINAL).replace("DHAN_SIM_RATE=50", "DHAN_SIM_RATE=80")
    back = unmask_text(edited, ORIGINAL)
    assert "DHAN_ACCESS_TOKEN=eyJ-very-secret-token" in back and "pw-s3cret" in back and "SIM_RATE=80" in back
    replaced = unmask_text(edited.replace("DHAN_ACCESS_TOKEN=***", "DHAN_ACCESS_TOKEN=new-token-1"), ORIGINAL)
    assert "DHAN_ACCESS_TOKEN=new-token-1" in replaced


def test_validate_and_changed_fields(tmp_path: Path) -> None:
    old = validate(ORIGINAL, tmp_path)
    new = validate(ORIGINAL.replace("DHAN_SIM_RATE=50", "DHAN_SIM_RATE=80"), tmp_path)
    assert changed_fields(old, new) == {"sim_rate"}
    assert affected_services({"sim_rate"}) == ["sim", "feed"]
    assert affected_services({"writer_batch_max"}) == ["writer"]
    assert affected_services({"redis_url"}) == ["sim", "writer", "feed", "greeks", "monitor", "scheduler"]
    token = validate(ORIGINAL.replace("eyJ-very-secret-token", "other-token"), tmp_path)
    assert changed_fields(old, token) == {"access_token"}
    assert list(tmp_path.iterdir()) == []                     # the check file is removed


@pytest.mark.parametrize("bad, says", [
    ("DHAN_SIM_PORT=not-a-port\n", "DHAN_SIM_PORT"),
    ("DHAN_ACCESS_TOKEN=abc\n", "go together"),
    ("just some words\n", "line 1"),
])
def test_invalid_text_is_a_one_line_error_and_never_written(tmp_path: Path, bad: str, says: str) -> None:
    env = tmp_path / ".env"
    env.write_text("DHAN_SIM_RATE=50\n")
    with pytest.raises(ConfigError) as err:
        write_env(env, bad)
    assert says in str(err.value) and "\n" not in str(err.value)
    assert env.read_text() == "DHAN_SIM_RATE=50\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


def test_write_is_mode_0600_even_over_a_world_readable_file(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("DHAN_SIM_RATE=50\n")
    env.chmod(0o644)
    s = write_env(env, "DHAN_SIM_RATE=70\n")
    assert s.sim_rate == 70
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert env.read_text() == "DHAN_SIM_RATE=70\n"
    fresh = tmp_path / "new" / ".env"
    fresh.parent.mkdir()
    write_env(fresh, "DHAN_LOG_LEVEL=warning\n")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600


def test_effective_settings_view_masks_secrets() -> None:
    s = make_settings(client_id="1", access_token="eyJ-very-secret-token",
                      mysql_url="mysql://app:pw-s3cret@db:3306/x")
    shown = repr(s.masked())
    assert "eyJ-very-secret-token" not in shown and "pw-s3cret" not in shown
