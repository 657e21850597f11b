"""The ``dhan`` command: help everywhere, one-line errors, clean SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from shared.cli import COMMANDS, _available
from tests.conftest import free_port

ENV = {**os.environ, "DHAN_LOG_FORMAT": "json"}


def _dhan(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shared.cli", *args], capture_output=True, text=True, timeout=60,
                          env=kw.pop("env", ENV), **kw)  # type: ignore[call-overload]


def test_top_level_help_lists_commands() -> None:
    out = _dhan("--help")
    assert out.returncode == 0
    for name in ("sim", "feed", "instruments"):
        assert name in out.stdout


@pytest.mark.parametrize("name", [n for n in COMMANDS if n not in ("control", "viz")])
def test_every_available_command_has_help(name: str) -> None:
    if not _available(name):
        pytest.skip(f"{name} not built yet")
    out = _dhan(name, "--help")
    assert out.returncode == 0, out.stderr
    assert f"dhan {name}" in out.stdout


def test_unknown_command_is_one_line() -> None:
    out = _dhan("bogus")
    assert out.returncode == 2 and "unknown command" in out.stderr and "Traceback" not in out.stderr


def test_bad_setting_is_one_line() -> None:
    out = _dhan("feed", env={**ENV, "DHAN_STALL_TIMEOUT_S": "-3"})
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "DHAN_STALL_TIMEOUT_S" in out.stderr
    assert "Traceback" not in out.stderr


def test_dead_redis_is_one_line() -> None:
    out = _dhan("feed", env={**ENV, "DHAN_REDIS_URL": f"redis://:s3cretpw@127.0.0.1:{free_port()}/0"})
    assert out.returncode == 4, out.stderr
    assert "Redis" in out.stderr and "s3cretpw" not in out.stderr + out.stdout
    assert "Traceback" not in out.stderr


def test_sim_and_feed_stop_cleanly_on_sigterm(tmp_path) -> None:
    port = free_port()
    env = {**ENV, "DHAN_SIM_PORT": str(port), "DHAN_KEY_PREFIX": f"cli{port}:", "DHAN_NIFTY_STRIKES": "2",
           "DHAN_BANKNIFTY_STRIKES": "1", "DHAN_SPOOL_DIR": str(tmp_path / "spool"),
           "DHAN_JOURNAL_DIR": str(tmp_path / "journal")}
    sim = subprocess.Popen([sys.executable, "-m", "shared.cli", "sim"], env=env, stdout=subprocess.DEVNULL)
    feed = subprocess.Popen([sys.executable, "-m", "shared.cli", "feed"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert feed.stdout is not None
        deadline = time.monotonic() + 30
        seen = ""
        while "universe_changed" not in seen and time.monotonic() < deadline:
            line = feed.stdout.readline()
            if not line:
                break
            seen += line
        assert "universe_changed" in seen, seen[-2000:]
        feed.send_signal(signal.SIGTERM)
        assert feed.wait(15) == 0
        sim.send_signal(signal.SIGTERM)
        assert sim.wait(15) == 0
    finally:
        for p in (feed, sim):
            if p.poll() is None:
                p.kill()
                p.wait(10)
        if feed.stdout is not None:
            feed.stdout.close()
        import redis

        r = redis.Redis()
        keys = list(r.scan_iter(match=f"cli{port}:*"))
        if keys:
            r.delete(*keys)
