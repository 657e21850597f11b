"""Children die with their parent (``shared.lifeline``), tested with real processes: an intermediary parent
starts the child and is SIGKILLed; the child must go by itself. SIGHUP stops a service cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import redis.asyncio as aioredis

from shared.keys import Keys
from shared.lifeline import PARENT_PID_ENV
from shared.settings import Settings
from tests.conftest import eventually, free_port
from tests.proctree import alive, cmdline, dead_pid

# A parent that starts one child the way product code does, prints the child's pid, then waits for it.
_PARENT = """
import subprocess, sys
import os
from shared.lifeline import bound_argv, parent_env
mode, argv = sys.argv[1], sys.argv[2:]
if mode == "shim":
    child = subprocess.Popen(bound_argv(argv))
elif mode == "env":
    child = subprocess.Popen(argv, env={**os.environ, **parent_env()})
else:
    child = subprocess.Popen(argv)
print(child.pid, flush=True)
child.wait()
"""


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != PARENT_PID_ENV}
    env.update({"DHAN_KEY_PREFIX": settings.redis.key_prefix, "DHAN_REDIS_URL": settings.redis.url.get_secret_value(),
                "DHAN_HEARTBEAT_INTERVAL_S": "0.2", "DHAN_HEALTH_PORT_BASE": "0", "DHAN_SIM_PORT": str(free_port()),
                "DHAN_LOG_FORMAT": "json"})
    return env


def _start_parent(mode: str, argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], int]:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, mode, *argv], env=env, stdout=subprocess.PIPE,
                              text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    return parent, child


async def test_a_foreign_binary_started_through_the_shim_dies_when_its_parent_is_sigkilled(
        settings: Settings) -> None:
    parent, child = _start_parent("shim", ["sleep", "300"], _env(settings))
    try:
        await eventually(lambda: cmdline(child).startswith("sleep"), message="the shim exec'd sleep")
        parent.kill()
        parent.wait(10)
        await eventually(lambda: not alive({child}), timeout_s=10, message="sleep gone with its parent")
    finally:
        if alive({child}):
            os.kill(child, signal.SIGKILL)
        parent.stdout.close()  # type: ignore[union-attr]


async def test_a_dhan_child_given_the_parent_pid_stops_cleanly_when_its_parent_is_sigkilled(
        settings: Settings, redis_client: aioredis.Redis) -> None:
    parent, child = _start_parent("env", [sys.executable, "-m", "shared.cli", "sim", "--rate", "5"],
                                  _env(settings))
    key = Keys(settings.redis.key_prefix).svc("sim")

    async def sim_state() -> str:
        fields = await redis_client.hgetall(key)
        return fields.get(b"state", b"").decode() if fields.get(b"pid") == str(child).encode() else ""

    async def running() -> bool:
        return await sim_state() == "running"

    try:
        await eventually(running, timeout_s=30, message="sim running")
        parent.kill()
        parent.wait(10)
        await eventually(lambda: not alive({child}), timeout_s=20, message="the sim gone with its parent")
        assert await sim_state() == "stopped"  # SIGTERM: a clean stop, its last heartbeat says so
    finally:
        if alive({child}):
            os.kill(child, signal.SIGKILL)
        parent.stdout.close()  # type: ignore[union-attr]


def test_a_child_whose_parent_is_already_gone_does_not_start() -> None:
    gone = dead_pid()
    env = {**os.environ, PARENT_PID_ENV: str(gone)}
    out = subprocess.run([sys.executable, "-m", "shared.cli", "sim", "--help"], env=env, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 1
    assert out.stderr.strip() == f"dhan sim: its parent process {gone} is gone; not starting"


def test_the_variable_passed_on_through_an_intermediary_leaves_the_child_unbound_and_running() -> None:
    # make, a shell: the variable names a live process that is not the child's parent
    env = {**os.environ, PARENT_PID_ENV: str(os.getpid())}
    out = subprocess.run(["sh", "-c", f"'{sys.executable}' -m shared.cli --version; exit $?"], env=env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "dhan-trading" in out.stdout


async def test_sighup_stops_a_service_cleanly(settings: Settings, redis_client: aioredis.Redis) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.cli", "sim", "--rate", "5", env=_env(settings),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    key = Keys(settings.redis.key_prefix).svc("sim")

    async def running() -> bool:
        return (await redis_client.hget(key, "state")) == b"running"

    try:
        await eventually(running, timeout_s=30, message="sim running")
        assert 0 < await redis_client.pttl(key) <= 1000            # a live heartbeat: 5 intervals of 0.2 s
        proc.send_signal(signal.SIGHUP)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, err.decode()[-2000:]
        assert await redis_client.hget(key, "state") == b"stopped"
        # the last one stays a minute, not 1 s: a reader that is busy for a while still sees how it ended
        assert await redis_client.pttl(key) > 30_000
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_log_lines_to_a_stdout_gone_away_are_dropped_not_raised() -> None:
    """The reader of stdout exited (or its terminal closed): logging must not break the process's shutdown."""
    code = ("import sys\nfrom shared.logs import configure_logging, get_logger\n"
            "configure_logging('t', fmt='json')\nlog = get_logger('t')\n"
            "for i in range(3):\n    log.info('line', i=i)\nprint('went on', file=sys.stderr)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()                                   # the reader is gone before the first line
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(30) == 0, err
    assert err == "went on\n"
