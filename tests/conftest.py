"""Fixtures on the real local Redis and MariaDB: a unique key prefix and a private database per test."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from devkit.settings import TEMP_FOLDER_SETTINGS, free_port, isolated_settings
from devkit.waiting import eventually
from shared.settings import Settings

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
DATA = Path(__file__).parent / "data"
__all__ = ["DATA", "eventually", "free_port", "make_settings", "real_clock_env", "track_prefix"]  # tests import these


def real_clock_env() -> dict[str, str]:
    """Our environment without libfaketime: database servers a test starts keep the real clock, as the shared
    Redis and MariaDB do when the tests run under ``faketime`` (tests/shared/test_clock_moments.py)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("FAKETIME") and k != "LD_PRELOAD"}


_PREFIXES: set[str] = set()
_TMP_DIRS: set[Path] = set()  # make_settings' default spool and journal folders, removed at the end


def track_prefix(prefix: str) -> str:
    """A key prefix a test uses without make_settings (e.g. a subprocess's env): deleted at the end too."""
    _PREFIXES.add(prefix)
    return prefix


def make_settings(**overrides: Any) -> Settings:
    """:func:`devkit.settings.isolated_settings`, its key prefix and temporary folders removed at the end."""
    settings = isolated_settings(**overrides)
    flat = settings.flat()
    _TMP_DIRS.update(flat[name] for name in TEMP_FOLDER_SETTINGS if name not in overrides)
    _PREFIXES.add(settings.redis.key_prefix)
    return settings


@pytest.fixture(scope="session", autouse=True)
def _remove_test_keys() -> Iterator[None]:
    """Whatever a test left in the shared local Redis under its unique prefix is deleted at the end, and the
    default spool and journal folders of make_settings with it."""
    yield
    import shutil

    import redis

    for folder in _TMP_DIRS:
        shutil.rmtree(folder, ignore_errors=True)

    client = redis.Redis.from_url(os.environ.get("DHAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    try:
        for prefix in _PREFIXES:
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start : start + 1000])
    except redis.RedisError:
        pass
    finally:
        client.close()


@pytest.fixture
def settings() -> Settings:
    return make_settings()


async def redis_for(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    """A client on the test's Redis; afterwards every key of the settings' prefix is deleted."""
    client: aioredis.Redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
    yield client
    keys = [k async for k in client.scan_iter(match=f"{settings.redis.key_prefix}*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def redis_client(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    async for client in redis_for(settings):
        yield client



@pytest.fixture
def db_settings() -> Any:
    """Settings pointing at a private MariaDB database ``dhan_t_<uuid>``, dropped after the test."""
    import pymysql

    name = f"dhan_t_{uuid.uuid4().hex[:12]}"
    base = os.environ.get("DHAN_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test").rsplit("/", 1)[0]
    s = make_settings(mysql_url=f"{base}/{name}")
    yield s
    target = s.mysql.target
    conn = pymysql.connect(**{k: v for k, v in target.connect_kwargs(with_db=False).items() if k != "autocommit"})
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


class PrivateRedis:
    """A redis-server of the test's own on a free port, stopped and restarted by the test (outage cases)."""

    def __init__(self, tmp: Path, *, persist: bool = False) -> None:
        self.port = free_port()
        self.dir = tmp
        self.persist = persist  # RDB saved at shutdown and loaded at start: data survives a restart
        self.proc: Any = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import shutil
        import subprocess

        exe = shutil.which("redis-server")
        if exe is None:
            pytest.skip("redis-server binary not on PATH")
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "3600 1" if self.persist else "",
             "--appendonly", "no",
             "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")],
            env=real_clock_env(),
        )
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.2).ping()
                return
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    r = PrivateRedis(tmp_path)
    r.start()
    yield r
    r.stop()
