"""A MariaDB server of the test's own (own datadir and port under tmp), to crash and restart at will."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pymysql
import pytest

from tests.conftest import free_port, real_clock_env

MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
INSTALL_DB = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"


class PrivateMariaDB:
    """``install()`` once, then ``start()`` / ``kill()`` as often as the test needs; same data each time."""

    def __init__(self, tmp: Path) -> None:
        self.dir = tmp
        self.datadir = tmp / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, database: str) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/{database}"

    def install(self) -> None:
        if not Path(MARIADBD).exists() or not Path(INSTALL_DB).exists():
            pytest.skip("mariadbd / mariadb-install-db not installed")
        subprocess.run(
            [INSTALL_DB, "--no-defaults", f"--datadir={self.datadir}", "--user=root",
             "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"],
            check=True, capture_output=True, timeout=120, env=real_clock_env(),
        )  # fmt: skip

    def start(self, timeout_s: float = 60.0) -> None:
        self.proc = subprocess.Popen(
            [MARIADBD, "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.dir / 'mysqld.sock'}", "--user=root",
             f"--pid-file={self.dir / 'mysqld.pid'}", "--skip-log-bin", "--skip-grant-tables",
             "--innodb-buffer-pool-size=64M", "--skip-name-resolve", f"--log-error={self.dir / 'error.log'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=real_clock_env(),
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while True:  # poll the condition "accepts a connection" (startup takes ~0.2-2 s)
            try:
                pymysql.connect(host="127.0.0.1", port=self.port, user="root", connect_timeout=1).close()
                return
            except pymysql.err.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"private mariadbd did not start; see {self.dir / 'error.log'}") from None
                time.sleep(0.05)

    def kill(self) -> None:
        """Crash it (SIGKILL): no clean shutdown, InnoDB recovers committed transactions on the next start."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None
