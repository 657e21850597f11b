"""The Control Center's local supervisor with real processes: what it launched stops when it is SIGKILLed,
and Start All does not take another stack's simulator on the port for its own."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from control.center.engine import ControlCenter
from shared.keys import Keys
from shared.lifeline import PARENT_PID_ENV
from shared.settings import Settings
from tests.conftest import eventually, track_prefix
from tests.proctree import alive, children, with_env


def _env(s: Settings, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != PARENT_PID_ENV}
    env.update({
        "DHAN_KEY_PREFIX": s.redis.key_prefix, "DHAN_REDIS_URL": s.redis.url.get_secret_value(),
        "DHAN_MYSQL_URL": s.mysql.url.get_secret_value(), "DHAN_SIM_PORT": str(s.sim.port), "DHAN_SIM_RATE": "50",
        "DHAN_NIFTY_STRIKES": "2", "DHAN_BANKNIFTY_STRIKES": "2", "DHAN_INCLUDE_NIFTY50": "false",
        "DHAN_HEARTBEAT_INTERVAL_S": "0.2", "DHAN_HEALTH_PORT_BASE": "0", "DHAN_LOG_FORMAT": "json",
        "DHAN_SPOOL_DIR": str(tmp / "spool"), "DHAN_JOURNAL_DIR": str(tmp / "journal"),
        "QT_QPA_PLATFORM": "offscreen",
    })  # fmt: skip
    return env


@pytest.fixture
def leftovers(db_settings: Settings) -> Iterator[None]:
    """Whatever a failed test left running under its prefix is killed (the checks are in the tests)."""
    yield
    for pid in with_env("DHAN_KEY_PREFIX", db_settings.redis.key_prefix):
        os.kill(pid, signal.SIGKILL)


def _start_control(env: dict[str, str], tmp: Path) -> subprocess.Popen[bytes]:
    with open(tmp / "control.out", "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "control", "--start-all", "--log-dir", str(tmp / "log"),
             "--env-file", str(tmp / ".env"), "--duration", "120"],
            env=env, cwd=tmp, stdout=out, stderr=subprocess.STDOUT)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP], ids=["SIGKILL", "SIGHUP"])
async def test_what_the_control_center_launched_stops_with_it(sig: signal.Signals, db_settings: Settings,
                                                             tmp_path: Path, redis_client: aioredis.Redis,
                                                             leftovers: None) -> None:
    """SIGKILL: the kernel stops its children (bound to it); SIGHUP (its terminal closed): it stops them."""
    proc = _start_control(_env(db_settings, tmp_path), tmp_path)
    keys = Keys(db_settings.redis.key_prefix)
    launched: set[int] = set()

    async def three_running() -> bool:  # Start All has the simulator, the writer and the feed up
        mine = children(proc.pid)
        launched.update(mine)
        running = 0
        for name in ("sim", "writer", "feed"):
            hb = await redis_client.hgetall(keys.svc(name))
            running += hb.get(b"state") == b"running" and int(hb.get(b"pid", b"0") or 0) in mine
        return running == 3 or proc.poll() is not None

    try:
        await eventually(three_running, timeout_s=120, interval_s=0.1, message="sim, writer, feed launched")
        assert proc.poll() is None, (tmp_path / "control.out").read_text()[-3000:]
        proc.send_signal(sig)
        code = await asyncio.to_thread(proc.wait, 60)
        assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 0), (tmp_path / "control.out").read_text()
        await eventually(lambda: not alive(launched), timeout_s=30, message="what it launched stopped")
        await eventually(lambda: not with_env("DHAN_KEY_PREFIX", db_settings.redis.key_prefix), timeout_s=30,
                         message="nothing of its stack left")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


async def test_start_all_does_not_take_another_stacks_simulator_for_its_own(
        db_settings: Settings, tmp_path: Path, leftovers: None) -> None:
    from control.stack.up import wait_http

    s = db_settings
    other_env = {**_env(s, tmp_path), "DHAN_KEY_PREFIX": f"{s.redis.key_prefix}other:"}
    track_prefix(other_env["DHAN_KEY_PREFIX"])
    other = await asyncio.create_subprocess_exec(sys.executable, "-m", "shared.cli", "sim", env=other_env,
                                                 stdout=asyncio.subprocess.DEVNULL)
    cc = ControlCenter(s, log_dir=tmp_path / "log", env_path=tmp_path / ".env", child_env=_env(s, tmp_path),
                       auto_restart=False)
    try:
        await wait_http(f"http://{s.sim.host}:{s.sim.port}/health", 30)  # another stack's simulator answers
        await cc.start()
        summary = await asyncio.wait_for(cc.start_all(), 120)
        assert summary.startswith("Start All stopped: failed: Simulator answering - sim did not start: exit 2: ")
        assert "address already in use" in summary, summary
        assert cc.child("feed") is not None and cc.child("feed").started_at is None  # type: ignore[union-attr]
    finally:
        await cc.stop()
        other.terminate()
        await other.wait()
