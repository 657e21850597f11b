"""The compose stack without an engine: docker-compose.yml's dhan services run here as processes.

Each service starts with the file's own command and environment, in the order its ``depends_on`` gives
(``service_healthy`` waits for that service's own healthcheck command to pass, ``service_completed_successfully``
for exit 0), and every healthcheck must pass. Redis runs with the compose file's flags (password, AOF,
noeviction cap) and MariaDB gives the services' user the privileges the mysql image gives it (ALL on the one
database), so the URLs compose builds are exercised as they are. What differs from a container, and only that:
host names and ports (redis, mysql, sim -> loopback; free ports), the volume paths (-> tmp) and a simulated
session clock that is open now. Then rows must arrive in MySQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pymysql
import pytest

from shared.settings import Settings
from tests.conftest import eventually, free_port
from tests.deploy.deployfiles import ROOT, interpolate, load_compose

COMPOSE = load_compose()
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
HEADLESS = ("sim", "feed", "writer", "greeks", "monitor", "scheduler")
DHAN_BIN = Path(sys.executable).parent / "dhan"
HEALTHCHECK = ROOT / "docker" / "healthcheck.py"   # installed in the image as dhan-healthcheck
PASSWORDS = {"REDIS_PASSWORD": f"r{uuid.uuid4().hex[:16]}", "MYSQL_PASSWORD": f"m{uuid.uuid4().hex[:16]}",
             "MYSQL_ROOT_PASSWORD": "unused-here"}


def _free_base(offsets: int) -> int:
    """A port base whose next ``offsets`` ports are all free on loopback."""
    for _ in range(50):
        base = free_port()
        if base + offsets > 65000:
            continue
        socks = []
        try:
            for i in range(offsets):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", base + i))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range")


class PasswordRedis:
    """redis-server with the compose service's flags: requirepass from a config file, AOF, noeviction cap."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.dir = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.skip("redis-server binary not on PATH")
        script = " ".join(SERVICES["redis"]["command"])
        flags = script.split("redis-server /tmp/redis-auth.conf", 1)[1].split()
        env = {k: interpolate(str(v), PASSWORDS) for k, v in SERVICES["redis"]["environment"].items()}
        flags = [f.strip('"').replace("$$REDIS_MAXMEMORY", env["REDIS_MAXMEMORY"]) for f in flags]
        conf = self.dir / "redis-auth.conf"
        conf.write_text(f'requirepass "{PASSWORDS["REDIS_PASSWORD"]}"\n')
        self.proc = subprocess.Popen([exe, str(conf), *flags, "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")])

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


class ComposeUser:
    """The mysql image's MYSQL_USER on MariaDB: a password and ALL privileges on the one database only."""

    def __init__(self, settings: Settings) -> None:
        self.admin = settings.mysql.target
        self.user = f"dhan_{uuid.uuid4().hex[:8]}"
        self.database = self.admin.database

    def _run(self, *statements: str) -> None:
        kw = {k: v for k, v in self.admin.connect_kwargs(with_db=False).items() if k != "autocommit"}
        conn = pymysql.connect(**kw)
        try:
            with conn.cursor() as cur:
                for sql in statements:
                    cur.execute(sql)
        finally:
            conn.close()

    def create(self) -> None:
        pw = PASSWORDS["MYSQL_PASSWORD"]
        stmts = []
        for host in ("%", "localhost", "127.0.0.1"):  # 'localhost' also beats an anonymous ''@'localhost'
            stmts += [f"CREATE USER '{self.user}'@'{host}' IDENTIFIED BY '{pw}'",
                      f"GRANT ALL ON `{self.database}`.* TO '{self.user}'@'{host}'"]
        self._run(*stmts)

    def drop(self) -> None:
        self._run(*(f"DROP USER IF EXISTS '{self.user}'@'{h}'" for h in ("%", "localhost", "127.0.0.1")))


class Stack:
    def __init__(self, tmp: Path, redis: PasswordRedis, user: ComposeUser, prefix: str) -> None:
        self.tmp = tmp
        self.redis = redis
        self.user = user
        self.prefix = prefix
        self.health_base = _free_base(6)
        self.sim_port = free_port()
        self.procs: dict[str, asyncio.subprocess.Process] = {}

    def _local_url(self, url: str, port: int, user: str | None = None) -> str:
        parts = urlsplit(url)
        cred = parts.netloc.rsplit("@", 1)[0]
        if user is not None:
            cred = f"{user}:{cred.split(':', 1)[1]}"
        return urlunsplit((parts.scheme, f"{cred}@127.0.0.1:{port}", parts.path.replace("dhan_trading",
                                                                                          self.user.database), "", ""))

    def environment(self, name: str) -> dict[str, str]:
        compose_env = {k: interpolate(str(v), PASSWORDS) for k, v in SERVICES[name]["environment"].items()}
        remote_base = int(compose_env["DHAN_HEALTH_PORT_BASE"])
        env = {k: v for k, v in os.environ.items() if not k.startswith("DHAN_")}
        env.update(compose_env)
        env.update({
            "DHAN_REDIS_URL": self._local_url(compose_env["DHAN_REDIS_URL"], self.redis.port),
            "DHAN_MYSQL_URL": self._local_url(compose_env["DHAN_MYSQL_URL"], self.user.admin.port, self.user.user),
            "DHAN_SIM_HOST": "127.0.0.1",
            "DHAN_HEALTH_HOST": "127.0.0.1",
            "DHAN_HEALTH_PORT_BASE": str(self.health_base),
            "DHAN_SPOOL_DIR": str(self.tmp / "spool"),
            "DHAN_JOURNAL_DIR": str(self.tmp / "journal"),
            "DHAN_KEY_PREFIX": self.prefix,
            "DHAN_SIM_PORT": str(self.sim_port),
            "DHAN_SIM_SESSION_CLOCK": "open",
            "DHAN_HEARTBEAT_INTERVAL_S": "0.5",
        })
        assert remote_base == 9300
        return env

    def argv(self, name: str) -> list[str]:
        command = [str(c) for c in SERVICES[name]["command"]]
        return [("127.0.0.1" if c == "0.0.0.0" else c) for c in command]

    async def start(self, name: str) -> None:
        with (self.tmp / f"{name}.log").open("wb") as log:  # the child keeps its own descriptor
            self.procs[name] = await asyncio.create_subprocess_exec(
                str(DHAN_BIN), *self.argv(name), env=self.environment(name), cwd=self.tmp, stdout=log, stderr=log)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")[-3000:]

    def health_url(self, name: str) -> str:
        test = SERVICES[name]["healthcheck"]["test"]
        assert test[:2] == ["CMD", "dhan-healthcheck"]
        return re.sub(r":(\d+)/", lambda m: f":{int(m.group(1)) - 9300 + self.health_base}/", test[2])

    async def health_body(self, name: str) -> dict[str, Any]:
        def get() -> dict[str, Any]:
            with urllib.request.urlopen(self.health_url(name), timeout=5) as resp:
                return dict(json.loads(resp.read()))

        return await asyncio.to_thread(get)

    async def healthcheck(self, name: str) -> tuple[int, str]:
        url = self.health_url(name)
        proc = await asyncio.create_subprocess_exec(sys.executable, "-I", str(HEALTHCHECK), url,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode().strip()

    async def wait_healthy(self, name: str, timeout_s: float) -> None:
        last = ""

        async def healthy() -> bool:
            nonlocal last
            proc = self.procs[name]
            assert proc.returncode is None, f"{name} exited {proc.returncode}:\n{self.log(name)}"
            code, last = await self.healthcheck(name)
            return code == 0

        try:
            await eventually(healthy, timeout_s=timeout_s, interval_s=0.25, message=f"{name} healthy")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last check: {last}\n{self.log(name)}") from None

    async def wait_completed(self, name: str, timeout_s: float) -> None:
        code = await asyncio.wait_for(self.procs[name].wait(), timeout_s)
        assert code == 0, f"{name} exited {code}:\n{self.log(name)}"

    async def stop_all(self) -> dict[str, int]:
        codes: dict[str, int] = {}
        for name, proc in reversed(list(self.procs.items())):
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            try:
                codes[name] = await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                codes[name] = await proc.wait()
        return codes


def _order() -> list[str]:
    """The one-shots and the headless services in an order that satisfies every depends_on."""
    wanted = ["dbinit", "instruments", *HEADLESS]
    done: list[str] = []
    while len(done) < len(wanted):
        ready = [n for n in wanted if n not in done
                 and all(d in done or d in ("redis", "mysql") for d in SERVICES[n].get("depends_on", {}))]
        assert ready, f"dependency cycle among {set(wanted) - set(done)}"
        done.append(ready[0])
    return done


@pytest.fixture
async def stack(tmp_path: Path, db_settings: Settings) -> AsyncIterator[Stack]:
    redis = PasswordRedis(tmp_path)
    redis.start()
    user = ComposeUser(db_settings)
    user.create()
    s = Stack(tmp_path, redis, user, db_settings.redis.key_prefix)
    try:
        yield s
    finally:
        await s.stop_all()
        user.drop()
        redis.stop()


@pytest.mark.timeout(300)
async def test_compose_services_start_in_order_turn_healthy_and_fill_mysql(stack: Stack) -> None:
    for name in _order():
        for dep, spec in SERVICES[name].get("depends_on", {}).items():
            if dep in ("redis", "mysql"):
                continue  # already up
            if spec["condition"] == "service_healthy":
                await stack.wait_healthy(dep, timeout_s=60)
            else:
                assert spec["condition"] == "service_completed_successfully"
                await stack.wait_completed(dep, timeout_s=60)
        await stack.start(name)
    for name in HEADLESS:
        await stack.wait_healthy(name, timeout_s=60)
        # the port answered for this service, not a neighbour's
        assert (await stack.health_body(name))["service"] == stack.argv(name)[0], name

    kw = stack.user.admin.connect_kwargs(with_db=False)
    kw.pop("autocommit")
    kw["database"] = stack.user.database

    def counts() -> tuple[int, int, int]:
        conn = pymysql.connect(**kw)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT (SELECT COUNT(*) FROM dhan_quotes), (SELECT COUNT(*) FROM dhan_ticks), "
                            "(SELECT COUNT(*) FROM dhan_instruments)")
                row = cur.fetchone()
                return (int(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)
        finally:
            conn.close()

    await stack.wait_completed("instruments", timeout_s=60)   # nothing waits for it; it must still finish
    await eventually(lambda: min(counts()) > 0, timeout_s=60, interval_s=0.5,
                     message="instruments, quotes and ticks in MySQL")
    codes = await stack.stop_all()
    assert codes == dict.fromkeys(codes, 0), codes   # clean SIGTERM everywhere (what docker stop sends)
    assert set(codes) == {"dbinit", "instruments", *HEADLESS}
