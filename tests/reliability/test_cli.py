"""``dhan replay`` and ``dhan verify`` as commands: one-line errors, and a replay that ends by itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from control.audit.replay import ReplayServer
from control.audit.replay_cli import ReplayService, parse_speed
from feed.service import FeedService
from feed.sim import SimServer
from shared.cli import main
from shared.errors import ConfigError
from tests.conftest import eventually

from .conftest import feed_settings
from .helpers import JournaledFeed, Running, sim_instruments, stream_len


@pytest.mark.parametrize("argv", [["verify", "no-such.djr"], ["replay", "no-such.djr"],
                                  ["replay", "x.djr", "--speed", "fast"], ["replay", "x.djr", "--speed", "0"]])
def test_bad_input_is_one_line(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.djr").write_bytes(b"not a journal")
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and err.startswith(f"dhan {argv[0]}: error: "), err
    assert "Traceback" not in err


def test_speed_values() -> None:
    assert parse_speed("max") is None and parse_speed("MAX") is None
    assert parse_speed("1") == 1.0 and parse_speed("10") == 10.0
    with pytest.raises(ConfigError):
        parse_speed("-1")


async def test_replay_service_serves_a_feed_then_stops_by_itself(tmp_path: Path, rclient: aioredis.Redis) -> None:
    live = feed_settings(tmp_path, nifty_strikes=0, banknifty_strikes=0)
    rclient.cleanup.append(live)  # type: ignore[attr-defined]
    async with SimServer(live):
        instruments = await sim_instruments(live, options=False)
        run = Running(JournaledFeed(live, instruments=instruments))

        async def some() -> bool:
            return await stream_len(rclient, live, "ticks") >= 50
        await eventually(some, timeout_s=60, message="50 trades live")
        assert await run.stop() == 0
    path = run.svc.journal.path
    assert path is not None
    again = feed_settings(tmp_path / "again")
    rclient.cleanup.append(again)  # type: ignore[attr-defined]
    service = ReplayService(again, ReplayServer(again, [path], speed=10.0))
    served = asyncio.create_task(service.serve())
    await eventually(lambda: service.state == "running", timeout_s=20, message="replay listening")
    feed = Running(FeedService(again, instruments=instruments))
    assert await asyncio.wait_for(served, 60) == 0  # the journal served and read: the replay ended by itself
    assert service.server.frames_routed == run.svc.journal.counters.written_frames
    await eventually(lambda: feed.svc.decoder.stats.frames == service.server.frames_routed, timeout_s=20)
    assert await feed.stop() == 0
