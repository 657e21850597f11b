"""Child-process supervision (Qt-free): start, stop, restart, watch; restart on failure with backoff.

Used by ``dhan up`` and by the Control Center. Each child is ``python -m shared.cli <command> ...`` with the
same environment, its stdout/stderr appended to ``<log_dir>/<name>.log``. Children are bound to this
process (``shared.lifeline``): they get SIGTERM when it exits, even by SIGKILL, unless ``bind_children`` is
off (a Control Center told to leave what it launched running). A child that exits non-zero (or by
a signal) while it should run is "crashed" and, when its spec says so, restarted after a backoff that grows
with consecutive crashes and resets after ``stable_s`` of uptime. Exit code 75 means "restart me" (the
service got ``restart`` on ``dhan:control``) and restarts at once.

Each child is watched by a task the supervisor owns (``ChildState.watcher``). If a watcher dies (a restart
that cannot spawn: no log file, no process slot), the child shows ``crashed`` with the cause, the death is
logged (``supervisor_watch_failed``) and ``on_watch_failed`` is called: the scheduler stops loudly then,
``dhan up`` stops the stack with exit 1; nothing stays silently unwatched.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.backoff import backoff_s
from shared.lifeline import parent_env
from shared.logs import get_logger

__all__ = ["ChildSpec", "ChildState", "Supervisor"]

RESTART_EXIT_CODE = 75


@dataclass(frozen=True)
class ChildSpec:
    name: str
    args: tuple[str, ...]                 # arguments after ``dhan``
    restart_on_failure: bool = True
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class ChildState:
    spec: ChildSpec
    state: str = "stopped"               # starting running stopping stopped crashed exited
    pid: int | None = None
    last_pid: int | None = None          # the latest process's pid, kept after it exits (its heartbeat's pid)
    started_at: float | None = None
    exit_code: int | None = None
    restarts: int = 0
    crashes_in_row: int = 0
    last_error: str = ""
    proc: asyncio.subprocess.Process | None = None
    want_running: bool = False
    watcher: asyncio.Task[None] | None = None
    log_offset: int = 0                  # size of its log file when this process was started


class Supervisor:
    def __init__(self, log_dir: Path, *, stop_timeout_s: float = 10.0, stable_s: float = 30.0,
                 on_change: Callable[[ChildState], None] | None = None,
                 on_watch_failed: Callable[[ChildState, BaseException], None] | None = None,
                 bind_children: bool = True) -> None:
        self.log_dir = log_dir
        self.bind_children = bind_children
        self.stop_timeout_s = stop_timeout_s
        self.stable_s = stable_s
        self.children: dict[str, ChildState] = {}
        self.on_change = on_change or (lambda c: None)
        self.on_watch_failed = on_watch_failed or (lambda c, e: None)
        self.log = get_logger("supervisor")

    def add(self, spec: ChildSpec) -> ChildState:
        child = self.children.get(spec.name)
        if child is None:
            child = self.children[spec.name] = ChildState(spec)
        else:
            child.spec = spec
        return child

    async def start(self, name: str) -> ChildState:
        child = self.children[name]
        child.want_running = True
        if child.proc is not None and child.proc.returncode is None:
            return child
        await self._spawn(child)
        return child

    async def _spawn(self, child: ChildState) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{child.spec.name}.log"
        # handed to the child as its stdout and closed here right after; a quick local open, not worth a thread
        logf = open(log_path, "ab", buffering=0)  # noqa: SIM115, ASYNC230
        child.log_offset = logf.tell()
        env = {**os.environ, **child.spec.env, "PYTHONUNBUFFERED": "1"}
        if self.bind_children:
            env.update(parent_env())
        try:
            child.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "shared.cli", *child.spec.args,
                stdout=logf, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
                env=env, start_new_session=True,
            )
        finally:
            logf.close()
        child.pid = child.last_pid = child.proc.pid
        child.started_at = time.time()
        child.exit_code = None
        child.state = "running"
        self.log.info("child_started", child=child.spec.name, pid=child.pid)
        self.on_change(child)
        child.watcher = asyncio.create_task(self._watch(child, child.proc), name=f"watch.{child.spec.name}")
        child.watcher.add_done_callback(lambda task: self._on_watch_done(child, task))

    def _on_watch_done(self, child: ChildState, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        assert exc is not None
        child.state = "crashed"
        child.last_error = f"supervision failed: {type(exc).__name__}: {exc}"[:300]
        self.log.error("supervisor_watch_failed", child=child.spec.name, error=child.last_error, exc_info=exc)
        self.on_change(child)
        self.on_watch_failed(child, exc)

    async def _watch(self, child: ChildState, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        if child.proc is not proc:
            return
        child.exit_code = code
        child.pid = None
        uptime = time.time() - (child.started_at or time.time())
        if not child.want_running:
            child.state = "stopped"
            self.on_change(child)
            return
        if code == RESTART_EXIT_CODE:
            child.restarts += 1
            self.log.info("child_restart_requested", child=child.spec.name)
            await self._spawn(child)
            return
        if code == 0:
            child.state = "exited"
            child.want_running = False
            self.on_change(child)
            return
        child.state = "crashed"
        child.last_error = self.last_line(child.spec.name)
        child.crashes_in_row = 1 if uptime >= self.stable_s else child.crashes_in_row + 1
        self.log.warning("child_crashed", child=child.spec.name, exit_code=code, error=child.last_error)
        self.on_change(child)
        if child.spec.restart_on_failure and code not in (2, 3, 6):  # config/auth/schema: a restart cannot help
            delay = backoff_s(child.crashes_in_row, base_s=1.0, cap_s=30.0)
            await asyncio.sleep(delay)
            if child.want_running and child.proc is proc:
                child.restarts += 1
                await self._spawn(child)

    def last_line(self, name: str) -> str:
        """The last non-blank line its current (or last) process wrote to its log; "" when none."""
        child = self.children[name]
        path = self.log_dir / f"{name}.log"
        try:
            with open(path, "rb") as fh:
                fh.seek(max(child.log_offset, path.stat().st_size - 4096))
                lines = [ln for ln in fh.read().decode(errors="replace").splitlines() if ln.strip()]
            return lines[-1][:300] if lines else ""
        except OSError:
            return ""

    async def stop(self, name: str) -> None:
        child = self.children[name]
        child.want_running = False
        proc = child.proc
        if proc is None or proc.returncode is not None:
            child.state = "stopped" if child.state != "crashed" else child.state
            return
        child.state = "stopping"
        self.on_change(child)
        try:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), self.stop_timeout_s)
        except TimeoutError:
            self.log.warning("child_kill", child=name, after_s=self.stop_timeout_s)
            proc.kill()
            await proc.wait()
        except ProcessLookupError:
            pass
        child.state = "stopped"
        child.pid = None
        self.on_change(child)

    async def restart(self, name: str) -> None:
        await self.stop(name)
        self.children[name].restarts += 1
        await self.start(name)

    async def stop_all(self, order: list[str] | None = None) -> None:
        for name in order or list(reversed(self.children)):
            if name in self.children:
                await self.stop(name)
        for child in self.children.values():
            if child.watcher is not None:
                child.watcher.cancel()
