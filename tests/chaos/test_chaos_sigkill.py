"""``dhan chaos`` SIGKILLed (no chance to clean up): its private redis-server, simulator and feed still stop."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pymysql
import pytest

from shared.lifeline import PARENT_PID_ENV
from shared.settings import Settings
from tests.conftest import eventually
from tests.proctree import alive, cmdline, descendants


def _databases(settings: Settings) -> set[str]:
    kwargs = {k: v for k, v in settings.mysql.target.connect_kwargs(with_db=False).items() if k != "autocommit"}
    conn = pymysql.connect(**kwargs)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES LIKE 'dhan\\_chaos\\_%'")
            return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


def _drop(settings: Settings, names: set[str]) -> None:
    kwargs = {k: v for k, v in settings.mysql.target.connect_kwargs(with_db=False).items() if k != "autocommit"}
    conn = pymysql.connect(**kwargs)
    try:
        with conn.cursor() as cur:
            for name in names:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


@pytest.mark.timeout(180)
async def test_sigkill_of_chaos_stops_its_private_servers_and_services(db_settings: Settings,
                                                                       tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != PARENT_PID_ENV}
    env.update({"DHAN_MYSQL_URL": db_settings.mysql.url.get_secret_value(), "TMPDIR": str(tmp_path),
                "DHAN_KEY_PREFIX": db_settings.redis.key_prefix})
    before = await asyncio.to_thread(_databases, db_settings)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.cli", "chaos", "--fault", "malformed frames", "--record-frames", "500000",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env=env,
    )  # its work folder is made under TMPDIR: the test's own, removed with it
    tree: set[int] = set()
    try:
        def recording() -> bool:  # a private redis-server, the simulator, the feed
            tree.update(descendants(proc.pid))
            names = " ".join(cmdline(p) for p in alive(tree))
            return "redis-server" in names and " sim" in names and " feed" in names

        await eventually(recording, timeout_s=60, interval_s=0.1, message="the recording stack running")
        proc.kill()
        await proc.wait()
        await eventually(lambda: not alive(tree), timeout_s=30, message="redis-server, sim and feed gone")
    finally:
        for pid in alive(tree):
            os.kill(pid, signal.SIGKILL)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await asyncio.to_thread(_drop, db_settings, await asyncio.to_thread(_databases, db_settings) - before)
