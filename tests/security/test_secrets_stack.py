"""Secrets never logged: a full short stack (sim, feed, writer, greeks as supervised processes, as ``dhan up``
runs them) with a simulator token, a Redis ACL user limited to the prefix's keys and channels (private redis-server, the
default user behind ``requirepass``) and a
least-privilege MySQL user made by ``dhan db create-user``. The stack must store trades (so every secret was
really used), and no secret may appear in any command's output, the child logs or the ``logs`` stream in Redis.

(``dhan up`` itself cannot run as the app user yet: its schema step needs DDL rights; see the issue note.)"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pymysql
import redis

from control.stack.supervisor import ChildSpec, Supervisor
from control.stack.up import wait_http
from shared.db import connect
from shared.settings import Settings
from tests.conftest import PrivateRedis, eventually, free_port

SIM_TOKEN = "simtok-" + uuid.uuid4().hex
REDIS_PW = "redispw-" + uuid.uuid4().hex
REDIS_ADMIN_PW = "redisadm-" + uuid.uuid4().hex
REDIS_USER = "dhanapp"
MYSQL_PW = "mysqlpw-" + uuid.uuid4().hex
SECRETS = (SIM_TOKEN, REDIS_PW, REDIS_ADMIN_PW, MYSQL_PW)


def _dhan(*args: str, env: dict[str, str], timeout_s: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shared.cli", *args], capture_output=True, text=True,
                          timeout=timeout_s, env=env)


def _root(settings: Settings) -> pymysql.Connection:
    kwargs = {k: v for k, v in settings.mysql.target.connect_kwargs(with_db=False).items() if k != "autocommit"}
    return pymysql.connect(**kwargs)


async def _ticks(settings: Settings) -> int:
    conn = await connect(settings)
    try:
        async with conn.cursor() as cur:
            await cur.execute("SELECT COUNT(*) FROM dhan_ticks")
            (n,) = await cur.fetchone()
        await conn.rollback()
        return int(n)
    finally:
        conn.close()


async def _run_stack(env: dict[str, str], log_dir: Path, root: Settings) -> None:
    """sim, feed, writer, greeks with ``env`` until trades reach MySQL (checked as root), then a clean stop."""
    sup = Supervisor(log_dir)
    for name in ("sim", "feed", "writer", "greeks"):
        sup.add(ChildSpec(name, (name,), restart_on_failure=False, env=env))
    try:
        await sup.start("sim")
        await wait_http(f"http://127.0.0.1:{env['DHAN_SIM_PORT']}/health", 60)
        for name in ("writer", "greeks", "feed"):
            await sup.start(name)

        async def stored() -> bool:
            crashed = [c.spec.name for c in sup.children.values() if c.state == "crashed"]
            assert not crashed, f"crashed: {crashed} (logs in {log_dir})"
            return await _ticks(root) > 0  # the stack ran with the app user, the token and the password

        await eventually(stored, timeout_s=120, interval_s=0.2, message="trades stored by the stack")
    finally:
        await sup.stop_all(["feed", "sim", "greeks", "writer"])
    assert not [c for c in sup.children.values() if c.state == "crashed"]


async def test_stack_with_every_secret_logs_none(db_settings: Settings, private_redis: PrivateRedis,
                                           tmp_path: Path) -> None:
    admin = redis.Redis(port=private_redis.port)
    # services log in as an ACL user limited to their prefix's keys and channels; the default user needs a
    # password too (requirepass)
    prefix = db_settings.redis.key_prefix
    admin.execute_command("ACL", "SETUSER", REDIS_USER, "on", f">{REDIS_PW}", f"~{prefix}*", f"&{prefix}*", "+@all",
                          "-@admin")
    admin.config_set("requirepass", REDIS_ADMIN_PW)
    admin.close()
    user = f"dhan_t_{uuid.uuid4().hex[:8]}"
    target = db_settings.mysql.target
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("DHAN_")}
    root_env = {**base_env, "DHAN_MYSQL_URL": db_settings.mysql.url.get_secret_value(), "T_APP_PW": MYSQL_PW}
    outputs: list[str] = []
    try:
        for args in (("db", "init"), ("db", "create-user", "--user", user, "--password-env", "T_APP_PW",
                                      "--host", "127.0.0.1"), ("db", "create-user", "--user", user,
                                                               "--password-env", "T_APP_PW", "--host", "localhost")):
            out = _dhan(*args, env=root_env)
            assert out.returncode == 0, out.stderr
            outputs += [out.stdout, out.stderr]
        env = {
            "DHAN_KEY_PREFIX": db_settings.redis.key_prefix,
            "DHAN_SIM_PORT": str(free_port()),
            "DHAN_SIM_TOKEN": SIM_TOKEN,
            "DHAN_REDIS_URL": f"redis://{REDIS_USER}:{REDIS_PW}@127.0.0.1:{private_redis.port}/0",
            "DHAN_MYSQL_URL": f"mysql://{user}:{MYSQL_PW}@{target.host}:{target.port}/{target.database}",
            "DHAN_SIM_RATE": "300",
            "DHAN_NIFTY_STRIKES": "2",
            "DHAN_BANKNIFTY_STRIKES": "2",
            "DHAN_SPOOL_DIR": str(tmp_path / "spool"),
            "DHAN_JOURNAL_DIR": str(tmp_path / "journal"),
            "DHAN_LOG_FORMAT": "json",
            "DHAN_LOG_LEVEL": "debug",
        }
        await _run_stack(env, tmp_path / "log", db_settings)
        logs = sorted((tmp_path / "log").glob("*.log"))
        assert {p.stem for p in logs} >= {"sim", "feed", "writer", "greeks"}
        outputs += [p.read_text(errors="replace") for p in logs]
        client = redis.Redis(port=private_redis.port, password=REDIS_ADMIN_PW)
        outputs += [repr(f) for _, f in client.xrange(f"{db_settings.redis.key_prefix}logs")]
        client.close()
        text = "\n".join(outputs)
        assert len(text) > 1000
        assert "NOPERM" not in text  # every service kept to its prefix under the ACL user
        for secret in SECRETS:
            assert secret not in text, f"a secret ({secret[:7]}...) was logged"
    finally:
        conn = _root(db_settings)
        try:
            with conn.cursor() as cur:
                cur.execute("DROP USER IF EXISTS %s@'127.0.0.1', %s@'localhost'", (user, user))
        finally:
            conn.close()
