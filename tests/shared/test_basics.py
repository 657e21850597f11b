from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest

from shared.backoff import backoff_s
from shared.clock import (
    IST,
    day_bounds,
    dhan_epoch_to_ist,
    dhan_epoch_to_utc_epoch,
    ist_trading_day,
    to_dhan_epoch,
)
from shared.errors import ConfigError
from shared.keys import Keys
from shared.settings import ENV_FIELDS, load_settings, mask_url
from tests.conftest import make_settings


def test_backoff_grows_and_caps() -> None:
    assert backoff_s(0) == 0.0
    no_jitter = [backoff_s(a, base_s=0.5, cap_s=8, jitter=0) for a in range(1, 8)]
    assert no_jitter == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    rng = random.Random(1)
    for a in range(1, 20):
        d = backoff_s(a, base_s=0.5, cap_s=8, jitter=0.2, rng=rng)
        assert 0.4 * min(1, a) <= d <= 8 * 1.2


def test_dhan_epoch_is_ist_wall_time_as_utc() -> None:
    # 2026-11-25 09:15:00 IST == 03:45:00 UTC == 1795578300
    true_epoch = int(datetime(2026, 11, 25, 9, 15, tzinfo=IST).timestamp())
    shifted = to_dhan_epoch(true_epoch)
    assert shifted - true_epoch == 19800
    assert dhan_epoch_to_utc_epoch(shifted) == true_epoch
    ist = dhan_epoch_to_ist(shifted)
    assert (ist.hour, ist.minute, ist.utcoffset().total_seconds()) == (9, 15, 19800)  # type: ignore[union-attr]


def test_day_bounds_are_the_ist_day_from_midnight_to_midnight() -> None:
    """The one day_bounds (the gap ledger's day, the journal's file rotation): an IST day is [start, end)."""
    start, end = day_bounds(date(2026, 12, 8))
    assert datetime.fromtimestamp(start, UTC) == datetime(2026, 12, 7, 18, 30, tzinfo=UTC)  # 00:00 IST
    assert end - start == 86_400
    assert ist_trading_day(start) == date(2026, 12, 8) == ist_trading_day(end - 0.001)
    assert ist_trading_day(end) == date(2026, 12, 9) and day_bounds(date(2026, 12, 9))[0] == end


def test_keys_use_prefix() -> None:
    k = Keys("x:")
    assert (k.quotes, k.ticks, k.depth, k.greeks) == ("x:quotes", "x:ticks", "x:depth", "x:greeks")
    assert k.svc("feed") == "x:svc:feed"
    with pytest.raises(ValueError):
        k.stream("nope")


def test_settings_defaults_use_simulator() -> None:
    s = make_settings()
    assert s.use_simulator
    assert s.effective_feed_url == f"ws://127.0.0.1:{s.sim.port}/"
    assert s.effective_instruments_url.endswith("/api-scrip-master.csv")


def test_settings_with_token_use_dhan_and_mask_secrets() -> None:
    s = make_settings(client_id="1000000001", access_token="eyJsecret-token-value",
                      mysql_url="mysql://app:pw-s3cret@db:3306/dhan_trading")
    assert not s.use_simulator
    assert s.effective_feed_url.startswith("wss://api-feed.dhan.co")
    shown = repr(s.masked())
    assert "eyJsecret-token-value" not in shown and "pw-s3cret" not in shown
    assert "pw-s3cret" not in repr(s)
    assert s.mysql.target.user == "app" and s.mysql.target.database == "dhan_trading"


def test_bad_setting_is_one_line_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DHAN_SIM_PORT", "not-a-port")
    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None)
    assert "DHAN_SIM_PORT" in str(err.value) and "\n" not in str(err.value)


def test_token_without_client_id_is_rejected() -> None:
    with pytest.raises(ConfigError):
        load_settings(_env_file=None, access_token="abc", client_id=None)


def test_mask_url() -> None:
    assert mask_url("redis://:hunter22@h:6379/0") == "redis://:***@h:6379/0"
    assert mask_url("wss://x/?version=2&token=abc&clientId=1") == "wss://x/?version=2&token=***&clientId=1"


def test_every_setting_is_in_env_example() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[2] / ".env.example").read_text()
    for field in ENV_FIELDS.values():
        assert f"{field.env}=" in text, field.env
