"""Private servers of a chaos run: a redis-server with AOF and a mariadbd, each restartable (or killed) by a
fault; the shared local servers are never touched. Both are bound to the harness (``shared.lifeline``): they
stop when it exits, even by SIGKILL."""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
from pathlib import Path

import pymysql
import redis.asyncio as aioredis

from shared.lifeline import bound_argv

__all__ = ["ChaosMariaDB", "ChaosRedis", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ChaosRedis:
    """A private redis-server with AOF (fsync every write), restartable with its data; ``aof=False``: no
    persistence (the recording's)."""

    def __init__(self, work: Path, name: str = "redis", *, aof: bool = True) -> None:
        self.port = free_port()
        self.dir = work / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.aof = aof
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server binary not on PATH")
        persistence = ("--appendonly", "yes", "--appendfsync", "always") if self.aof else ("--appendonly", "no")
        self.proc = await asyncio.create_subprocess_exec(
            *bound_argv([exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *persistence,
                         "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")]),
            stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        client = aioredis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            while True:
                try:
                    if await client.ping():
                        return
                except (aioredis.ConnectionError, aioredis.BusyLoadingError, OSError):
                    if time.monotonic() > deadline:
                        raise
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    async def kill(self) -> None:
        """SIGKILL: only what AOF already holds survives."""
        if self.proc is not None:
            self.proc.kill()
            await asyncio.wait_for(self.proc.wait(), 30)
            self.proc = None


class ChaosMariaDB:
    """A private mariadbd (own datadir and port) for the ``mysql restart`` fault: the shared local server is
    never restarted. SIGKILLed by the fault, InnoDB recovers committed transactions on the next start."""

    def __init__(self, work: Path) -> None:
        self.dir = work / "mariadb"
        self.datadir = self.dir / "data"
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    def url(self, database: str) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/{database}"

    async def install(self) -> None:
        exe = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
        await asyncio.to_thread(self.dir.mkdir, parents=True, exist_ok=True)
        proc = await asyncio.create_subprocess_exec(
            *bound_argv([exe, "--no-defaults", f"--datadir={self.datadir}", "--user=root",
                         "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"]),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        if await asyncio.wait_for(proc.wait(), 180) != 0:
            raise RuntimeError("chaos: mariadb-install-db failed")

    async def start(self, timeout_s: float = 120.0) -> None:
        exe = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        self.proc = await asyncio.create_subprocess_exec(
            *bound_argv([
                exe, "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}", "--bind-address=127.0.0.1",
                f"--socket={self.dir / 'mysqld.sock'}", "--user=root", f"--pid-file={self.dir / 'mysqld.pid'}",
                "--skip-log-bin", "--skip-grant-tables", "--innodb-buffer-pool-size=64M", "--skip-name-resolve",
                f"--log-error={self.dir / 'error.log'}",
            ]),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                await asyncio.to_thread(
                    lambda: pymysql.connect(host="127.0.0.1", port=self.port, user="root", connect_timeout=1).close()
                )
                return
            except pymysql.err.OperationalError:
                if self.proc.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chaos: private mariadbd did not start; see {self.dir}/error.log") from None
                await asyncio.sleep(0.1)

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await asyncio.wait_for(self.proc.wait(), 60)
        self.proc = None
