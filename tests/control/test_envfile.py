""".env editing: secrets masked and kept, validation through Settings, never invalid or world-readable."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from control.center.catalog import affected_services
from control.center.envfile import changed_fields, masked_text, unmask_text, validate, write_env
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
    assert affected_services({"depth20_instruments", "depth200_instrument"}) == ["feed"]
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
    assert s.sim.rate == 70
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


MIXED = """# compose and desk
REDIS_PASSWORD=redis-pw-1a2b3c
MYSQL_ROOT_PASSWORD="root-pw-4d5e6f"
export MYSQL_PASSWORD=app-pw-7a8b9c
dhan_client_id=1000000001
dhan_access_token=eyJ-lower-case-token
Github_Api_Key=ghkey-0f0f0f
my_secret=plain-secret-x1
DHAN_SIM_TOKEN=sim-token-y2
COMPOSE_PROFILES=sim
DHAN_SIM_RATE=50
"""
MIXED_SECRETS = ("redis-pw-1a2b3c", "root-pw-4d5e6f", "app-pw-7a8b9c", "eyJ-lower-case-token", "ghkey-0f0f0f",
                 "plain-secret-x1", "sim-token-y2")


def test_every_password_token_secret_or_key_is_masked_in_any_case() -> None:
    shown = masked_text(MIXED)
    for secret in MIXED_SECRETS:
        assert secret not in shown, secret
    for line in ("REDIS_PASSWORD=***", "MYSQL_ROOT_PASSWORD=***", "export MYSQL_PASSWORD=***",
                 "dhan_access_token=***", "Github_Api_Key=***", "my_secret=***", "DHAN_SIM_TOKEN=***"):
        assert line in shown.splitlines(), line
    for kept in ("dhan_client_id=1000000001", "COMPOSE_PROFILES=sim", "DHAN_SIM_RATE=50"):
        assert kept in shown.splitlines(), kept
    # a masked value left as it is keeps the secret; the file's own quoting is kept too
    back = unmask_text(shown.replace("DHAN_SIM_RATE=50", "DHAN_SIM_RATE=60"), MIXED)
    assert back == MIXED.replace("DHAN_SIM_RATE=50", "DHAN_SIM_RATE=60")


def test_config_tab_editor_shows_no_secret_and_saves_them_back(tmp_path: Path) -> None:
    from PyQt6.QtWidgets import QApplication

    from control.center.engine import ControlCenter
    from control.center.ui.config_tab import ConfigTab

    app = QApplication.instance() or QApplication([])
    env = tmp_path / ".env"
    env.write_text(MIXED)
    tab = ConfigTab(ControlCenter(make_settings(), log_dir=tmp_path / "log", env_path=env))
    shown = tab.editor.toPlainText()
    assert "dhan_access_token=***" in shown and not any(s in shown for s in MIXED_SECRETS)
    tab.editor.setPlainText(shown.replace("DHAN_SIM_RATE=50", "DHAN_SIM_RATE=70"))
    tab.save_btn.click()
    assert tab.result.text().startswith("saved"), tab.result.text()
    assert env.read_text() == MIXED.replace("DHAN_SIM_RATE=50", "DHAN_SIM_RATE=70")
    assert not any(s in tab.editor.toPlainText() for s in MIXED_SECRETS)
    tab.deleteLater()
    app.processEvents()
