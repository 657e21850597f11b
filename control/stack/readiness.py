"""When a supervised child counts as started: its own heartbeat says ``running``.

A heartbeat counts only when it names the child's pid on this host: another process of the same name on the
same prefix (a second stack, a service started by hand) must not make a child that failed look started. The
child's process ending first, or no such heartbeat within the deadline, is a :class:`ChildFailed` with the
reason in one line (the last line the child wrote to its log, or how it was killed).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import Mapping

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from control.stack.supervisor import ChildState, Supervisor
from shared.errors import DhanError
from shared.keys import Keys

__all__ = ["READY_TIMEOUT_S", "ChildFailed", "heartbeat_is_childs", "wait_ready"]

READY_TIMEOUT_S = 60.0
HOST = socket.gethostname()


class ChildFailed(DhanError):
    """A child exited, or did not become ready, while the stack was starting."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name} did not start: {reason}")
        self.name = name
        self.reason = reason


def _text(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def heartbeat_is_childs(hb: Mapping[str, str] | Mapping[bytes, bytes], child: ChildState) -> bool:
    """The heartbeat was written by the child's current process (its pid, on this host)."""
    fields = {_text(k): _text(v) for k, v in hb.items()}
    return (child.pid is not None and fields.get("pid") == str(child.pid)
            and fields.get("host", HOST) == HOST)


def _exit_reason(code: int | None, last_line: str) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}" + (f": {last_line[:300]}" if last_line else "")


async def wait_ready(sup: Supervisor, name: str, redis: aioredis.Redis, keys: Keys, *,
                     timeout_s: float = READY_TIMEOUT_S, poll_s: float = 0.1) -> None:
    """Until the child ``name`` (started) writes a heartbeat with its pid and state ``running``."""
    child = sup.children[name]
    proc = child.proc
    if proc is None:
        raise ChildFailed(name, "it was not started")
    deadline = time.monotonic() + timeout_s
    step = ""
    while True:
        if proc.returncode is not None or child.proc is not proc:
            raise ChildFailed(name, _exit_reason(proc.returncode, sup.last_line(name)))
        try:
            hb = {_text(k): _text(v) for k, v in (await redis.hgetall(keys.svc(name))).items()}
        except (RedisError, OSError):
            hb = {}
        if heartbeat_is_childs(hb, child):
            if hb.get("state") == "running":
                return
            step = hb.get("step", "") or hb.get("state", "")
        if time.monotonic() > deadline:
            where = f" (still '{step}')" if step else " (no heartbeat of its own)"
            raise ChildFailed(name, f"not running within {timeout_s:g}s{where}; see {sup.log_dir / name}.log")
        await asyncio.sleep(poll_s)
