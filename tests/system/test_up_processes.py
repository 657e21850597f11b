"""``dhan up`` as real processes: nothing outlives it (terminal closed, SIGTERM, SIGKILL, ``make run``'s
window closed), a second one on the same prefix refuses in one line, a child that cannot start stops the
whole stack with one line naming it and why."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis

from control.stack.lock import StackLock
from shared.keys import Keys
from shared.lifeline import PARENT_PID_ENV, parent_env
from shared.settings import Settings
from tests.conftest import eventually, free_port, make_settings
from tests.proctree import alive, children, descendants, with_env

SERVICES = ("sim", "feed", "writer", "greeks")
HOST = socket.gethostname()
ROOT = Path(__file__).resolve().parents[2]


def up_env(s: Settings, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != PARENT_PID_ENV}
    env.update({
        "DHAN_KEY_PREFIX": s.redis.key_prefix, "DHAN_REDIS_URL": s.redis.url.get_secret_value(),
        "DHAN_MYSQL_URL": s.mysql.url.get_secret_value(), "DHAN_SIM_PORT": str(free_port()), "DHAN_SIM_RATE": "50",
        "DHAN_NIFTY_STRIKES": "2", "DHAN_BANKNIFTY_STRIKES": "2", "DHAN_INCLUDE_NIFTY50": "false",
        "DHAN_HEARTBEAT_INTERVAL_S": "0.2", "DHAN_HEALTH_PORT_BASE": "0", "DHAN_LOG_FORMAT": "json",
        "DHAN_SPOOL_DIR": str(tmp / "spool"), "DHAN_JOURNAL_DIR": str(tmp / "journal"),
    })  # fmt: skip
    return env


def up_argv(tmp: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "shared.cli", "up", "--duration", "60", "--log-dir", str(tmp / "log"), *extra]


def popen(argv: list[str], env: dict[str, str], tmp: Path, *, terminal: int | None = None,
          new_session: bool = False) -> subprocess.Popen[bytes]:
    """``argv`` with its output in ``tmp/up.out`` (or on ``terminal``, its stdin too) and ``tmp/up.err``."""
    with open(tmp / "up.out", "wb") as out, open(tmp / "up.err", "wb") as err:
        return subprocess.Popen(argv, env=env, stdin=terminal, stdout=out if terminal is None else terminal,
                                stderr=err, start_new_session=new_session)


def start_up(env: dict[str, str], tmp: Path) -> subprocess.Popen[bytes]:
    """``dhan up --plain`` bound to this test process (a killed test leaves nothing either)."""
    return popen(up_argv(tmp, "--plain"), {**env, **parent_env()}, tmp)


async def stack_running(root: int, settings: Settings, redis: aioredis.Redis) -> dict[str, int]:
    """Until each service of the stack under ``root`` has a heartbeat ``running`` naming its pid: name -> pid."""
    keys = Keys(settings.redis.key_prefix)
    found: dict[str, int] = {}

    async def all_running() -> bool:
        pids = descendants(root)
        for name in SERVICES:
            hb = await redis.hgetall(keys.svc(name))
            pid = int(hb.get(b"pid", b"0") or 0)
            if hb.get(b"state") != b"running" or pid not in pids:
                return False
            found[name] = pid
        return True

    await eventually(all_running, timeout_s=90, interval_s=0.1, message="sim, feed, writer, greeks running")
    return dict(found)


def _err(tmp: Path) -> str:
    return (tmp / "up.err").read_text(errors="replace")


def nothing_left(s: Settings) -> bool:
    return not with_env("DHAN_KEY_PREFIX", s.redis.key_prefix)


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """One private database with the schema for the module's stacks (each has its own key prefix)."""
    import pymysql

    name = f"dhan_t_{uuid.uuid4().hex[:12]}"
    url = os.environ.get("DHAN_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test").rsplit("/", 1)[0] + f"/{name}"
    subprocess.run([sys.executable, "-m", "shared.cli", "db", "init"], env={**os.environ, "DHAN_MYSQL_URL": url},
                   check=True, capture_output=True, timeout=120)
    yield url
    target = make_settings(mysql_url=url).mysql.target
    conn = pymysql.connect(**{k: v for k, v in target.connect_kwargs(with_db=False).items() if k != "autocommit"})
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


@pytest.fixture
def db_settings(database_url: str) -> Settings:
    return make_settings(mysql_url=database_url)


@pytest.fixture
def reaper(db_settings: Settings) -> Iterator[list[subprocess.Popen[bytes]]]:
    """What a failed test must not leave behind: its processes (the checks themselves are in each test)."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for pid in with_env("DHAN_KEY_PREFIX", db_settings.redis.key_prefix):
        os.kill(pid, signal.SIGKILL)
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


Reaper = list[subprocess.Popen[bytes]]


async def test_terminal_closed_stops_the_stack_cleanly(db_settings: Settings, tmp_path: Path,
                                                       redis_client: aioredis.Redis, reaper: Reaper) -> None:
    """The live screen on a terminal that goes away: SIGHUP, then a clean stop without writing to it."""
    import pty

    master, slave = pty.openpty()
    # a session of its own with the pty as controlling terminal, as a terminal window's shell has
    argv = [sys.executable, "-c", "import fcntl,os,sys,termios;os.setsid();fcntl.ioctl(0,termios.TIOCSCTTY,0);"
            "os.execvp(sys.argv[1],sys.argv[1:])", *up_argv(tmp_path)]
    proc = popen(argv, {**up_env(db_settings, tmp_path), **parent_env()}, tmp_path, terminal=slave)
    os.close(slave)
    reaper.append(proc)
    os.set_blocking(master, False)

    def drain() -> None:  # the screen is redrawn twice a second: keep the pty from filling up
        try:
            while os.read(master, 65536):
                pass
        except OSError:
            pass

    task = asyncio.create_task(stack_running(proc.pid, db_settings, redis_client))
    while not task.done():
        drain()
        await asyncio.sleep(0.05)
    pids = set(task.result().values())
    os.close(master)                                      # the terminal window closes: hangup
    code = await asyncio.to_thread(proc.wait, 60)
    assert code == 0, _err(tmp_path)[-3000:]
    assert "Traceback" not in _err(tmp_path)
    assert not alive(pids)
    await eventually(lambda: nothing_left(db_settings), message="nothing of the stack left")


def _last_stop(log: Path) -> dict[str, object] | None:
    """The last ``stopped`` event of a child's JSON log, reduced to its error field."""
    stops = [rec for rec in map(_json_line, log.read_text().splitlines()) if rec.get("event") == "stopped"]
    return {"error": stops[-1].get("error")} if stops else None


def _json_line(line: str) -> dict[str, object]:
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError:
        return {}
    return rec if isinstance(rec, dict) else {}


async def test_sigkill_of_dhan_up_stops_every_child_and_frees_the_prefix(
        db_settings: Settings, tmp_path: Path, redis_client: aioredis.Redis, reaper: Reaper) -> None:
    proc = start_up(up_env(db_settings, tmp_path), tmp_path)
    reaper.append(proc)
    pids = set((await stack_running(proc.pid, db_settings, redis_client)).values())
    proc.kill()
    await asyncio.to_thread(proc.wait, 10)
    await eventually(lambda: not alive(pids), timeout_s=30, message="every child gone after SIGKILL")
    keys = Keys(db_settings.redis.key_prefix)
    for name in SERVICES:  # each stopped cleanly (SIGTERM from the kernel): its last log event says so
        # (its log, not its last heartbeat: that one expires 5 intervals after a quick child stopped)
        assert _last_stop(tmp_path / "log" / f"{name}.log") == {"error": None}, name
    held = orjson.loads(await redis_client.get(keys.up_lock))
    assert held["pid"] == proc.pid                        # left behind by the killed one ...
    lock = StackLock(redis_client, keys)
    await lock.acquire()                                  # ... and taken over at once: its holder is dead
    await lock.release()
    assert nothing_left(db_settings)


async def test_a_second_dhan_up_on_the_same_prefix_refuses_naming_the_first(
        db_settings: Settings, tmp_path: Path, redis_client: aioredis.Redis, reaper: Reaper) -> None:
    env = up_env(db_settings, tmp_path)
    first = start_up(env, tmp_path)
    reaper.append(first)
    pids = set((await stack_running(first.pid, db_settings, redis_client)).values())
    second = await asyncio.create_subprocess_exec(
        *up_argv(tmp_path / "second"), env={**env, "DHAN_SIM_PORT": str(free_port())},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(second.communicate(), 60)
    assert second.returncode == 1
    prefix = db_settings.redis.key_prefix
    line = f"another dhan up is running on prefix {prefix} (pid {first.pid} on host {HOST}, since "
    assert re.fullmatch(re.escape(f"dhan up: error: {line}") + r"\d\d:\d\d\); stop it or use another "
                        r"DHAN_KEY_PREFIX\n", err.decode()), err.decode()
    assert not (tmp_path / "second" / "log").exists()    # it started nothing
    assert alive(pids) == pids                            # and left the first one's children alone
    first.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(first.wait, 60) == 0, _err(tmp_path)[-3000:]
    assert not alive(pids) and nothing_left(db_settings)
    assert await redis_client.get(Keys(db_settings.redis.key_prefix).up_lock) is None  # released


async def test_a_child_that_cannot_start_stops_everything_and_says_why(db_settings: Settings, tmp_path: Path,
                                                                       reaper: Reaper) -> None:
    env = up_env(db_settings, tmp_path)
    port = int(env["DHAN_SIM_PORT"])
    with socket.socket() as taken:                        # someone else's server on the simulator's port
        taken.bind(("127.0.0.1", port))
        taken.listen()
        proc = await asyncio.create_subprocess_exec(
            *up_argv(tmp_path), env={**env, **parent_env()}, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        started: set[int] = set()
        task = asyncio.create_task(proc.communicate())

        def ended() -> bool:
            started.update(children(proc.pid))
            return task.done()

        await eventually(ended, timeout_s=60, interval_s=0.02, message="dhan up ended")
        _, err = task.result()
    text = err.decode()
    assert proc.returncode == 1, text
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("dhan up: error: sim did not start: exit 2: ")
    assert f"cannot listen on 127.0.0.1:{port}" in lines[0] and "address already in use" in lines[0]
    assert lines[0].endswith(f"stopped everything (logs in {tmp_path / 'log'}/)")
    assert not (tmp_path / "log" / "feed.log").exists()   # the feed never ran against the other server
    assert not alive(started) and nothing_left(db_settings)


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
async def test_make_run_window_closed_leaves_nothing(db_settings: Settings, tmp_path: Path,
                                                     redis_client: aioredis.Redis, reaper: Reaper) -> None:
    """What a terminal does when its window closes: SIGHUP to the foreground job's process group (make and
    ``dhan up``). make waits for its child on SIGHUP, then dies of it; nothing may be left."""
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "dhan").exists():
        pytest.skip("no dhan script beside this python (not a venv with the package installed)")
    stamp = tmp_path / "stamp"        # -o: the venv is taken as installed (the suite runs from it)
    args = " ".join([*up_argv(tmp_path)[4:], "--plain"])
    make = popen(["make", "-s", "-C", str(ROOT), "run", f"BIN={bin_dir}", f"STAMP={stamp}", "-o", str(stamp),
                  f"ARGS={args}"], up_env(db_settings, tmp_path), tmp_path, new_session=True)
    reaper.append(make)
    pids = set((await stack_running(make.pid, db_settings, redis_client)).values())
    tree = descendants(make.pid)
    assert pids < tree
    os.killpg(make.pid, signal.SIGHUP)
    assert await asyncio.to_thread(make.wait, 60) == -signal.SIGHUP
    await eventually(lambda: not alive(tree), timeout_s=30, message="nothing left of make run")
    assert nothing_left(db_settings)


async def test_grandchildren_go_when_a_supervisor_above_dhan_up_is_sigkilled(
        db_settings: Settings, tmp_path: Path, redis_client: aioredis.Redis, reaper: Reaper) -> None:
    """A supervisor's child that itself supervises (here ``dhan up``): killing the top one ends the whole tree."""
    script = ("import asyncio,sys\nfrom pathlib import Path\n"
              "from control.stack.supervisor import ChildSpec, Supervisor\n"
              "async def main():\n    sup = Supervisor(Path(sys.argv[1]))\n"
              "    sup.add(ChildSpec('up', tuple(sys.argv[2:])))\n    await sup.start('up')\n"
              "    await asyncio.Event().wait()\nasyncio.run(main())\n")
    top = popen([sys.executable, "-c", script, str(tmp_path / "top"), *up_argv(tmp_path, "--plain")[3:]],
                up_env(db_settings, tmp_path), tmp_path)
    reaper.append(top)
    pids = set((await stack_running(top.pid, db_settings, redis_client)).values())
    tree = descendants(top.pid)
    assert pids < tree and len(tree) == len(pids) + 1    # dhan up and its four children
    top.kill()
    await asyncio.to_thread(top.wait, 10)
    await eventually(lambda: not alive(tree), timeout_s=30, message="dhan up and its children gone")
    assert nothing_left(db_settings)
