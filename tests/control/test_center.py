"""ControlCenter without a window: services started elsewhere are seen and controlled through Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis
from structlog.testing import capture_logs

from control.center.engine import ControlCenter
from control.center.service_rows import HOST
from shared.settings import Settings
from tests.conftest import eventually, make_settings


def _env(s: Settings) -> dict[str, str]:
    return {"DHAN_KEY_PREFIX": s.redis.key_prefix, "DHAN_HEARTBEAT_INTERVAL_S": "0.2", "DHAN_HEALTH_PORT_BASE": "0",
            "DHAN_REDIS_URL": s.redis.url.get_secret_value(), "DHAN_MYSQL_URL": s.mysql.url.get_secret_value(),
            "DHAN_SPOOL_DIR": str(s.publish.spool_dir), "DHAN_JOURNAL_DIR": str(s.journal.dir)}


@pytest.fixture
async def center(tmp_path: Path) -> AsyncIterator[ControlCenter]:
    s = make_settings(monitor_stale_s=1.0)
    cc = ControlCenter(s, log_dir=tmp_path / "log", env_path=tmp_path / ".env", child_env=_env(s))
    await cc.start()
    yield cc
    await cc.stop()
    r: aioredis.Redis = aioredis.Redis.from_url(s.redis.url.get_secret_value())
    keys = [k async for k in r.scan_iter(match=f"{s.redis.key_prefix}*")]
    if keys:
        await r.delete(*keys)
    await r.aclose()


async def _external(s: Settings, tmp: Path, name: str = "monitor") -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.cli", name, env={**os.environ, **_env(s)}, cwd=tmp,
        stdout=asyncio.subprocess.DEVNULL)


def _state(cc: ControlCenter, name: str) -> str:
    r = cc.row(name)
    return r.state if r is not None else ""


async def test_external_service_is_seen_stale_and_stopped_through_control(center: ControlCenter,
                                                                        tmp_path: Path) -> None:
    proc = await _external(center.settings, tmp_path)
    try:
        await eventually(lambda: _state(center, "monitor") == "running", timeout_s=20, message="seen running")
        row = center.row("monitor")
        assert row is not None and not row.local and row.where == f"{HOST} pid {proc.pid}"
        assert row.rss_mb is not None and row.rss_mb > 10
        assert center.runs_elsewhere("monitor")
        assert "already runs" in await center.start_service("monitor")    # no second copy
        proc.send_signal(signal.SIGSTOP)                          # alive but silent
        await eventually(lambda: _state(center, "monitor") == "stale heartbeat", timeout_s=20, message="stale")
        proc.send_signal(signal.SIGCONT)
        await eventually(lambda: _state(center, "monitor") == "running", timeout_s=20, message="back")
        assert "stop sent" in await center.stop_service("monitor")
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        await eventually(lambda: _state(center, "monitor") == "stopped", timeout_s=20, message="stopped")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_restart_of_an_external_service_asks_it_to_exit_75(center: ControlCenter, tmp_path: Path) -> None:
    proc = await _external(center.settings, tmp_path)
    try:
        await eventually(lambda: _state(center, "monitor") == "running", timeout_s=20, message="seen running")
        assert "restart sent" in await center.restart_service("monitor")
        assert await asyncio.wait_for(proc.wait(), 20) == 75      # its supervisor restarts it
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_local_service_and_the_schedulers_start_request(center: ControlCenter) -> None:
    assert "started" in await center.start_service("monitor")
    await eventually(lambda: _state(center, "monitor") == "running", timeout_s=20, message="local running")
    row = center.row("monitor")
    assert row is not None and row.local and row.restarts == 0
    # stopped through dhan:control (as the scheduler does at the close): the process exits 0
    await center.publish_control("monitor", "stop")
    await eventually(lambda: _state(center, "monitor") == "stopped", timeout_s=20, message="stopped by control")
    # the scheduler's start request: honoured, since this Control Center ran it before
    assert center.redis is not None
    await center.redis.publish(center.keys.control, orjson.dumps({"target": "monitor", "cmd": "start"}))
    await eventually(lambda: _state(center, "monitor") == "running", timeout_s=20, message="started on request")
    # never run here: a start request for the writer is not ours to honour
    await center.redis.publish(center.keys.control, orjson.dumps({"target": "writer", "cmd": "start"}))
    await center.redis.publish(center.keys.control, orjson.dumps({"target": "monitor", "cmd": "noop"}))
    await eventually(lambda: any(n == "monitor" and st == "running" for _, n, st, _ in list(center.transitions)[1:]),
                     message="transition recorded")
    child = center.child("writer")
    assert child is not None and child.started_at is None
    await center.stop_all()
    await eventually(lambda: _state(center, "monitor") == "stopped", timeout_s=20, message="stop all")
    assert all(c.pid is None for c in center.supervisor.children.values())


async def test_a_stuck_service_says_in_which_step(center: ControlCenter, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The feed's scrip master comes from a server that never answers: Start All's step says where it hangs."""
    from aiohttp import web

    import control.center.start_all as start_all

    hold = asyncio.Event()

    async def never(_: web.Request) -> web.Response:
        await hold.wait()
        return web.Response(text="")

    app = web.Application()
    app.router.add_get("/master.csv", never)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    feed = center.supervisor.children["feed"]
    feed.spec = dataclasses.replace(feed.spec, restart_on_failure=False, env={
        **feed.spec.env, "DHAN_INSTRUMENTS_URL": f"http://127.0.0.1:{port}/master.csv"})
    monkeypatch.setattr(start_all, "SERVICE_DEADLINE_S", 3.0)
    center.startup.reset([("feed", "feed running")])
    assert center.redis is not None
    run = start_all.StartAll(center, center.startup, center.settings, center.redis, center.keys, center.supervisor)
    try:
        await run.start_service("feed")
        step = center.startup.step("feed")
        assert step.status == "stuck" and step.detail == "stuck in step 'loading instruments'", step
        row = center.row("feed")
        assert row is not None and row.state == "starting" and row.step == "loading instruments"
    finally:
        hold.set()
        await center.stop_service("feed")
        await runner.cleanup()


async def test_apply_settings_restarts_the_affected_running_services(center: ControlCenter) -> None:
    await center.start_service("monitor")
    await eventually(lambda: _state(center, "monitor") == "running", timeout_s=20, message="running")
    first_pid = center.child("monitor").pid  # type: ignore[union-attr]
    new = center.settings.replaced(monitor_lag_max=5)
    text = await center.apply_settings(new, ["monitor", "writer"])
    assert text == "settings saved; restarted monitor" and center.settings is new
    await eventually(lambda: _state(center, "monitor") == "running", timeout_s=20, message="running again")
    child = center.child("monitor")
    assert child is not None and child.pid != first_pid and child.restarts == 1


async def test_a_dead_task_or_action_is_logged_and_shown(center: ControlCenter) -> None:
    """The Control Center's tasks are owned as a service's are (shared.tasks); a death keeps the window up and
    is shown in its message line."""
    async def broken() -> None:
        raise RuntimeError("ledger unreadable")

    with capture_logs() as logs:
        task = center.submit(broken(), "acknowledge")
        await eventually(lambda: task.done() and "failed" in center.message)
    assert center.message == "control.action.acknowledge failed: ledger unreadable"
    [event] = [e for e in logs if e["event"] == "task_failed"]
    assert event["task"] == "control.action.acknowledge" and event["exc_info"] is task.exception()
    assert "refresh" in center.tasks and "control" in center.tasks  # the others run on
