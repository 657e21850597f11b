"""Redis and MariaDB for bench/stack.py: private servers (default), so their CPU is the stack's alone, or the
shared local ones (``--shared-servers``: their CPU then includes every other user's and is not reported).

The private pair lives in a temporary folder: ``redis-server`` without persistence, ``mariadbd`` with its
own datadir (``mariadb-install-db``), the binlog off and a 256 MB buffer pool. Both stop with the bench.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pymysql
import redis

from devkit.settings import free_port
from shared.lifeline import bound_argv

__all__ = ["Servers", "private_servers", "shared_servers"]


@dataclass
class Servers:
    redis_url: str
    mysql_base: str  # mysql://user@host:port (a database name is appended per run)
    pids: dict[str, int] = field(default_factory=dict)  # "redis", "mariadb": their CPU is ours (private)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    folder: Path | None = None

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def shared_servers(redis_url: str, mysql_base: str) -> Servers:
    return Servers(redis_url, mysql_base)


def _wait(what: str, ok: object, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:  # the condition "accepts a connection", polled (startup takes ~0.1-3 s)
        try:
            ok()  # type: ignore[operator]
            return
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"bench/stack.py: private {what} did not start") from None
            time.sleep(0.05)


def private_servers() -> Servers:
    """A redis-server and a mariadbd of our own, each on a free port."""
    mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    install = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
    if not shutil.which("redis-server") or not Path(mariadbd).exists() or not Path(install).exists():
        raise SystemExit("bench/stack.py: redis-server / mariadbd not installed; use --shared-servers")
    folder = Path(tempfile.mkdtemp(prefix="dhan-stack-"))
    rport, mport = free_port(), free_port()
    out = Servers(f"redis://127.0.0.1:{rport}/0", f"mysql://root@127.0.0.1:{mport}", folder=folder)
    try:
        rproc = subprocess.Popen(bound_argv(["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                                             "--save", "", "--appendonly", "no", "--dir", str(folder)]),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.procs.append(rproc)
        subprocess.run([install, "--no-defaults", f"--datadir={folder / 'data'}", "--user=root",
                        "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"],
                       check=True, capture_output=True, timeout=120)
        mproc = subprocess.Popen(bound_argv([
            mariadbd, "--no-defaults", f"--datadir={folder / 'data'}", f"--port={mport}", "--bind-address=127.0.0.1",
            f"--socket={folder / 'mysqld.sock'}", "--user=root", f"--pid-file={folder / 'mysqld.pid'}",
            "--skip-log-bin", "--innodb-buffer-pool-size=256M", "--skip-name-resolve",
            f"--log-error={folder / 'error.log'}"]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.procs.append(mproc)
        _wait("redis-server", lambda: redis.Redis(port=rport).ping(), rproc)
        _wait("mariadbd", lambda: pymysql.connect(host="127.0.0.1", port=mport, user="root",
                                                  connect_timeout=1).close(), mproc)
        out.pids = {"redis": rproc.pid, "mariadb": mproc.pid}
    except BaseException:
        out.stop()
        raise
    return out
