"""``dhan:control``: the one format of a command, the one way to send it and the one listener.

A command is a JSON object ``{"target": <service, instance or "all">, "cmd": "stop"|"restart"|"start"|...,
"by": <who sent it>, "ts": <epoch seconds>}`` published on the control channel. Every service listens through
the service base (stop and restart addressed to it); the Control Center listens for ``start`` of services
it runs; the scheduler and the Control Center send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.asyncio as aioredis

from shared.bus import follow_channel
from shared.keys import Keys

__all__ = ["ControlCommand", "ControlListener", "encode_command", "parse_command", "publish_command"]


@dataclass(frozen=True, slots=True)
class ControlCommand:
    target: str
    cmd: str
    by: str = ""
    fields: dict[str, Any] = field(default_factory=dict)  # the whole message, extra fields included


def encode_command(target: str, cmd: str, *, by: str, now: float) -> bytes:
    return orjson.dumps({"target": target, "cmd": cmd, "by": by, "ts": round(now, 3)})


def parse_command(data: Any) -> ControlCommand | None:
    """The command in a control message; None when it is not a JSON object naming a target and a command."""
    try:
        msg = orjson.loads(data)
    except (orjson.JSONDecodeError, TypeError):
        return None
    if not isinstance(msg, dict) or not isinstance(msg.get("target"), str) or msg.get("cmd") is None:
        return None
    by = msg.get("by")
    return ControlCommand(msg["target"], str(msg["cmd"]), "" if by is None else str(by), msg)


async def publish_command(client: aioredis.Redis, keys: Keys, target: str, cmd: str, *, by: str,
                          now: float) -> None:
    """Send one command (raises the client's error when Redis fails)."""
    await client.publish(keys.control, encode_command(target, cmd, by=by, now=now))


class ControlListener:
    """Follows the control channel until ``stopping``, resubscribing after a lost connection, and hands each
    command for which ``accepts(target)`` holds to ``handle``. ``ready`` is set while it is subscribed."""

    def __init__(self, client: aioredis.Redis, keys: Keys, handle: Callable[[ControlCommand], Awaitable[None]],
                 *, log: Any, accepts: Callable[[str], bool] | None = None) -> None:
        self.client = client
        self.keys = keys
        self.handle = handle
        self.accepts = accepts
        self.log = log
        self.ready = asyncio.Event()

    async def run(self, stopping: asyncio.Event) -> None:
        await follow_channel(self.client, self.keys.control, stopping, self._on_message, log=self.log,
                             lost_event="control_channel_lost", on_subscribed=self._on_subscribed)

    async def wait_ready(self, timeout_s: float) -> bool:
        """Wait until subscribed: a command sent right after this returns True is heard."""
        try:
            await asyncio.wait_for(self.ready.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def _on_subscribed(self, subscribed: bool) -> None:
        if subscribed:
            self.ready.set()
        else:
            self.ready.clear()

    async def _on_message(self, data: Any) -> None:
        command = parse_command(data)
        if command is None:
            self.log.warning("control_message_invalid")
            return
        if self.accepts is None or self.accepts(command.target):
            await self.handle(command)
