"""dhan replay re-serves the depth feeds' frames of a journal: a replayed feed publishes the books the live one
did, and a replayed feed without depth still gets every live-feed frame."""

from __future__ import annotations

from pathlib import Path

import orjson
import redis.asyncio as aioredis

from control.audit.replay import ReplayServer
from feed.journal import JournalReader
from feed.publisher import KIND_DEPTH20
from feed.service import FeedService
from feed.sim import SimServer
from shared.keys import Keys
from shared.settings import Settings
from tests.conftest import eventually

from .conftest import feed_settings
from .helpers import Running, sim_instruments, without_recv_ts


async def depth_events(client: aioredis.Redis, settings: Settings) -> list[dict[str, object]]:
    return [orjson.loads(f[b"d"]) for _, f in await client.xrange(Keys(settings.redis.key_prefix).depth20)]


def published(svc: FeedService) -> int:
    return svc.publisher.published[KIND_DEPTH20] if svc.publisher is not None else 0


async def test_replay_reproduces_the_live_depth_books(tmp_path: Path, rclient: aioredis.Redis) -> None:
    live = feed_settings(tmp_path, depth20_enabled=True)
    rclient.cleanup.append(live)  # type: ignore[attr-defined]
    async with SimServer(live):
        # No options: the universe stays put, so the auto depth set is the two front futures in both runs.
        instruments = await sim_instruments(live, options=False)
        run = Running(FeedService(live, instruments=instruments))
        await eventually(lambda: published(run.svc) >= 300, timeout_s=60, message="300 depth books live")
        assert await run.stop() == 0
    assert run.svc.journal.path is not None
    recorded = list(JournalReader(run.svc.journal.path).depth_frames())
    assert len(recorded) == run.svc.metrics()["depth_frames"]

    again = feed_settings(tmp_path / "replay", depth20_enabled=True)
    rclient.cleanup.append(again)  # type: ignore[attr-defined]
    server = ReplayServer(again, [run.svc.journal.path], speed=None)
    async with server:
        replayed = Running(FeedService(again, instruments=instruments))
        await eventually(server.finished.is_set, timeout_s=60, message="journal served")
        await server.drained()
        want = len(await depth_events(rclient, live))
        await eventually(lambda: published(replayed.svc) >= want, timeout_s=30, message="every book replayed")
        assert await replayed.stop() == 0
    stats = server.stats()
    assert stats["depth_frames_read"] == len(recorded) and stats["depth_unrouted"] == 0
    a, b = await depth_events(rclient, live), await depth_events(rclient, again)
    assert len(a) >= 300 and without_recv_ts(b) == without_recv_ts(a)
