"""The database name is checked in one place (shared.db.checked_database_name): ``dhan db init`` and
``dhan db create-user`` refuse a name DDL cannot hold with the same error, before touching the server."""

from __future__ import annotations

import argparse

import pytest

from shared.cli import main
from shared.db import checked_database_name, init_schema
from shared.db_cli import run
from shared.errors import ConfigError
from tests.conftest import make_settings

BAD = "dhan`;DROP"
MESSAGE = "database name 'dhan`;DROP' in DHAN_MYSQL_URL must be 1 to 64 letters, digits, '_' or '$'"


def test_names_ddl_can_hold_pass_and_others_are_one_config_error() -> None:
    for good in ("dhan_trading", "t$1", "x" * 64):
        assert checked_database_name(good) == good
    for bad in ("", "x" * 65, "dhan-trading", "dhan trading", "a`b", "a.b"):
        with pytest.raises(ConfigError, match="must be 1 to 64 letters, digits"):
            checked_database_name(bad)


async def test_init_and_create_user_refuse_a_bad_name_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(mysql_url=f"mysql://root@127.0.0.1:3306/{BAD}")
    assert settings.mysql.target.database == BAD
    with pytest.raises(ConfigError) as init_error:
        await init_schema(settings)
    monkeypatch.setenv("APP_PW", "s3cret")
    args = argparse.Namespace(action="create-user", user="app", password_env="APP_PW", host="%")
    with pytest.raises(ConfigError) as user_error:
        await run(args, settings)
    assert str(init_error.value) == str(user_error.value) == MESSAGE


def test_the_command_says_it_in_one_line_and_exits_2(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DHAN_MYSQL_URL", "mysql://root@127.0.0.1:3306/dhan-trading")
    assert main(["db", "init"]) == 2
    err = capsys.readouterr().err.strip()
    assert "dhan-trading" in err and "must be 1 to 64 letters" in err and "\n" not in err
