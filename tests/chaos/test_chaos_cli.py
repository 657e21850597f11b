"""``dhan chaos`` stopped by SIGTERM (a CI timeout, an operator's kill) cleans up like a finished run: exit 143
with one line, its children gone, the private database dropped and the temporary work folder removed."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pymysql
import pytest

from shared.settings import Settings
from tests.conftest import eventually


def _databases(settings: Settings) -> set[str]:
    kwargs = {k: v for k, v in settings.mysql.target.connect_kwargs(with_db=False).items() if k != "autocommit"}
    conn = pymysql.connect(**kwargs)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES LIKE 'dhan\\_chaos\\_%'")
            return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


def _descendants(root: int) -> set[int]:
    """Live processes under ``root`` (children, grandchildren...), from /proc."""
    parent: dict[int, int] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z":  # a zombie has ended
            parent[int(pid)] = int(fields[1])
    out: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, pp in parent.items() if pp in frontier} - out
        out |= frontier
    return out


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if state[state.rindex(")") + 2] != "Z":
            alive.add(pid)
    return alive


@pytest.mark.timeout(300)
async def test_sigterm_stops_children_and_removes_private_data(db_settings: Settings, tmp_path: Path) -> None:
    env = {**os.environ, "DHAN_MYSQL_URL": db_settings.mysql.url.get_secret_value(), "TMPDIR": str(tmp_path),
           "DHAN_KEY_PREFIX": db_settings.redis.key_prefix}
    before = await asyncio.to_thread(_databases, db_settings)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.cli", "chaos", "--fault", "malformed frames", "--record-frames", "500000",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    found = re.search(r"work folder (\S+)", first)
    assert found, first
    work = found.group(1)

    children: set[int] = set()

    async def recording() -> bool:  # children running: a private redis-server, the simulator, the feed
        children.update(await asyncio.to_thread(_descendants, proc.pid))
        return len(children) >= 3

    await eventually(recording, timeout_s=60, interval_s=0.1, message="the recording stack running")
    assert await asyncio.to_thread(_databases, db_settings) - before  # its private database exists
    proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 143, err.decode()[-2000:]
    assert "stopped by SIGTERM" in err.decode()
    assert not await asyncio.to_thread(_alive, children)
    assert not await asyncio.to_thread(os.path.exists, work)
    assert await asyncio.to_thread(_databases, db_settings) - before == set()
