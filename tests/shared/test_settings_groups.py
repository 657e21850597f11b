"""Settings grouped in sections, read from the flat DHAN_* variables (names fixed by DESIGN.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from shared.errors import ConfigError
from shared.settings import ENV_FIELDS, Settings, load_settings
from tests.conftest import make_settings


def test_every_variable_has_one_place_and_the_env_name_it_had() -> None:
    assert all(f.info.alias == f.env for f in ENV_FIELDS.values())
    assert {f.env for f in ENV_FIELDS.values()} >= {"DHAN_REDIS_URL", "DHAN_KEY_PREFIX", "DHAN_SIM_PORT",
                                                    "DHAN_FEED_MODE", "DHAN_STREAM_MAXLEN_TICKS",
                                                    "DHAN_WRITER_BATCH_MAX", "DHAN_JOURNAL_DIR"}
    paths = {(f.section, f.attr) for f in ENV_FIELDS.values()}
    assert len(paths) == len(ENV_FIELDS)
    assert (ENV_FIELDS["feed_mode"].section, ENV_FIELDS["feed_mode"].attr) == ("universe", "mode")


def test_environment_reaches_the_grouped_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DHAN_WRITER_BATCH_MAX", "777")
    monkeypatch.setenv("dhan_sim_port", "9911")  # read case-insensitively, as before
    monkeypatch.setenv("DHAN_JOURNAL_FSYNC", "block")
    s = load_settings(_env_file=None)
    assert (s.writer.batch_max, s.sim.port, s.journal.fsync) == (777, 9911, "block")
    assert s.effective_feed_url == "ws://127.0.0.1:9911/" == s.sim.url


def test_env_file_is_read_and_the_keyword_wins_over_it(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("DHAN_MONITOR_LAG_MAX=42\nDHAN_KEY_PREFIX=fromfile:\nDHAN_NOT_A_SETTING=1\n")
    s = load_settings(_env_file=env, key_prefix="kw:")
    assert s.monitor.lag_max == 42 and s.redis.key_prefix == "kw:"


def test_bad_values_name_their_variable() -> None:
    with pytest.raises(ConfigError, match=r"^bad configuration: DHAN_JOURNAL_BLOCK_KB: "):
        load_settings(_env_file=None, journal_block_kb=1)
    with pytest.raises(ConfigError, match=r"^bad configuration: DHAN_SCHEDULER_START_AT: .*HH:MM"):
        load_settings(_env_file=None, scheduler_start_at="25:00")
    with pytest.raises(ConfigError, match="DHAN_PUBLISH_MEMORY_MAX must be at least"):
        load_settings(_env_file=None, publish_memory_max=1000, publish_buffer_max=2000)
    with pytest.raises(ConfigError, match="unknown setting 'writer_batch'"):
        load_settings(_env_file=None, writer_batch=1)


def test_replaced_validates_and_keeps_the_rest() -> None:
    s = make_settings(sim_rate=5.0)
    t = s.replaced(writer_batch_max=10, redis_url=SecretStr("redis://h:1/0"))
    assert (t.writer.batch_max, t.sim.rate, t.redis.url.get_secret_value()) == (10, 5.0, "redis://h:1/0")
    assert s.writer.batch_max == 2000, "the original is unchanged"
    with pytest.raises(ValidationError):
        s.replaced(sim_port=0)
    assert s.replaced(check=False, sim_port=0).sim.port == 0  # dhan sim --port 0: any free port
    with pytest.raises(TypeError, match="replaced"):
        s.model_copy(update={"sim_rate": 1.0})


def test_sections_are_frozen_and_secrets_stay_hidden() -> None:
    s = make_settings(access_token="tok-abc-123", client_id="1", mysql_url="mysql://u:pw-xyz@db:3306/d")
    with pytest.raises(ValidationError):
        s.writer.batch_max = 1  # type: ignore[misc]
    shown = repr(s) + repr(s.masked()) + str(s.dhan) + repr(s.mysql)
    assert "tok-abc-123" not in shown and "pw-xyz" not in shown
    assert s.masked()["mysql_url"] == "mysql://u:***@db:3306/d" and s.masked()["access_token"] == "***"
    assert set(s.secret_values()) >= {"tok-abc-123", "pw-xyz"}
    assert s.mysql.target.database == "d" and s.redis.url_masked.startswith("redis://")


def test_flat_view_round_trips() -> None:
    s = make_settings(nifty_strikes=3, feed_mode="quote")
    flat = s.flat()
    assert list(flat) == list(ENV_FIELDS)
    assert Settings.model_validate(flat) == s
