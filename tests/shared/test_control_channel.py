"""dhan:control (shared.control_channel): one command format, one listener that keeps what is addressed to
its owner and says when a message is not a command."""

from __future__ import annotations

import asyncio

import orjson
import redis.asyncio as aioredis
from structlog.testing import capture_logs

from shared.control_channel import ControlCommand, ControlListener, parse_command, publish_command
from shared.keys import Keys
from shared.logs import get_logger
from shared.settings import Settings
from tests.conftest import eventually


def test_a_command_is_a_json_object_with_a_target_and_a_cmd() -> None:
    cmd = parse_command(b'{"target": "feed", "cmd": "restart", "by": "scheduler", "ts": 1.5, "why": "x"}')
    assert cmd == ControlCommand("feed", "restart", "scheduler", {"target": "feed", "cmd": "restart",
                                                                  "by": "scheduler", "ts": 1.5, "why": "x"})
    for bad in (b"not json", b"[1, 2]", b'"stop"', b'{"cmd": "stop"}', b'{"target": "feed"}',
                b'{"target": 7, "cmd": "stop"}', None):
        assert parse_command(bad) is None, bad


async def test_the_listener_hands_over_what_is_addressed_to_it(settings: Settings,
                                                             redis_client: aioredis.Redis) -> None:
    keys = Keys(settings.redis.key_prefix)
    heard: list[ControlCommand] = []

    async def handle(command: ControlCommand) -> None:
        heard.append(command)

    stopping = asyncio.Event()
    listener = ControlListener(redis_client, keys, handle, log=get_logger("test"),
                               accepts=lambda target: target in ("all", "writer"))
    with capture_logs() as logs:
        task = asyncio.create_task(listener.run(stopping))
        assert await listener.wait_ready(5.0)
        await redis_client.publish(keys.control, b"{not json")
        await redis_client.publish(keys.control, orjson.dumps({"target": "feed", "cmd": "stop"}))
        await publish_command(redis_client, keys, "writer", "restart", by="scheduler", now=1_700_000_000.1234)
        await publish_command(redis_client, keys, "all", "stop", by="control@host", now=1_700_000_001.0)
        await eventually(lambda: len(heard) == 2)
        stopping.set()
        await task
    assert [(c.target, c.cmd, c.by) for c in heard] == [("writer", "restart", "scheduler"),
                                                        ("all", "stop", "control@host")]
    assert heard[0].fields["ts"] == 1_700_000_000.123
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["control_message_invalid"]
