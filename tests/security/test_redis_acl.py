"""Redis AUTH with an ACL user: redis://user:pass@ URLs work for the redis-py clients (shared/bus.py) and the
publisher's raw RESP connection (feed/resp.py); a wrong password is a one-line error without the password.
The private redis-server has the default user switched off, so an unauthenticated client is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from feed.resp import RespConnection, RespError
from shared.bus import connect_redis
from shared.errors import RedisUnavailable
from tests.conftest import PrivateRedis, make_settings

USER = "dhanapp"
PASSWORD = "acl-S3cret-pw-7f1c"


@pytest.fixture
def acl_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    admin = redis.Redis(port=server.port)
    # the app user may touch only its prefix's keys and channels; the default user is switched off
    admin.execute_command("ACL", "SETUSER", USER, "on", f">{PASSWORD}", "~acl:*", "&acl:*", "+@all", "-@dangerous")
    admin.execute_command("ACL", "SETUSER", "default", "off")
    admin.close()
    yield server
    server.stop()


def _url(server: PrivateRedis, password: str = PASSWORD) -> str:
    return f"redis://{USER}:{password}@127.0.0.1:{server.port}/0"


async def test_resp_connection_authenticates_as_acl_user(acl_redis: PrivateRedis) -> None:
    conn = RespConnection(_url(acl_redis))
    await conn.open()
    try:
        conn.write(b"*5\r\n$4\r\nXADD\r\n$8\r\nacl:ev:s\r\n$1\r\n*\r\n$1\r\nd\r\n$1\r\nx\r\n")
        (reply,) = await conn.read_replies(1)
        assert isinstance(reply, bytes) and b"-" in reply  # an entry id: the write was allowed
        conn.write(b"*5\r\n$4\r\nXADD\r\n$5\r\nother\r\n$1\r\n*\r\n$1\r\nd\r\n$1\r\nx\r\n")
        (denied,) = await conn.read_replies(1)
        assert "NOPERM" in str(denied)  # the ACL applies: a key outside the prefix is refused
    finally:
        await conn.close()


async def test_resp_connection_wrong_password_is_one_line(acl_redis: PrivateRedis) -> None:
    conn = RespConnection(_url(acl_redis, "wrong-pw-123"))
    with pytest.raises(RespError) as err:
        await conn.open()
    assert "\n" not in str(err.value) and "wrong-pw-123" not in str(err.value)


async def test_redis_py_clients_authenticate_as_acl_user(acl_redis: PrivateRedis) -> None:
    settings = make_settings(redis_url=_url(acl_redis), key_prefix="acl:t:")
    client = await connect_redis(settings)
    try:
        await client.xadd("acl:t:quotes", {"d": b"1"})
        assert await client.xlen("acl:t:quotes") == 1
    finally:
        await client.aclose()
    assert PASSWORD not in settings.redis.url_masked


async def test_redis_py_wrong_password_and_no_auth_refused(acl_redis: PrivateRedis) -> None:
    bad = make_settings(redis_url=_url(acl_redis, "wrong-pw-456"), key_prefix="acl:t:")
    with pytest.raises(RedisUnavailable, match="refused our credentials") as err:
        await connect_redis(bad)
    assert "wrong-pw-456" not in str(err.value) and "\n" not in str(err.value)
    anonymous = make_settings(redis_url=f"redis://127.0.0.1:{acl_redis.port}/0", key_prefix="acl:t:")
    with pytest.raises(RedisUnavailable):
        await connect_redis(anonymous)
