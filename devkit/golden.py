"""The golden session: a recorded journal committed in ``tests/data/golden/`` and what the feed makes of it.

``record_session`` runs the simulator and a journaled feed (no options, so the universe never re-centres and
one connection carries everything) until enough trades went out; ``replay_digest`` serves a journal through
:class:`~control.audit.replay.ReplayServer` at full speed to a fresh feed, as of the journal's own day, and digests what
that feed publishes: per stream the event count and a SHA-256 of the events without ``recv_ts`` in stream order,
plus each instrument's last cumulative volume. ``scripts/record_golden_session.py`` writes both files; the test
(test_golden.py) replays the committed journal and compares. A change in the journal format, the decoder or the
normaliser shows up as a different digest: regenerate only when the change is meant, and say so in the commit.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis

from control.audit.replay import ReplayServer, journal_start
from devkit.running import Running
from devkit.waiting import eventually
from feed.instruments.parse import fetch_scrip_master, parse_scrip_master
from feed.service import FeedService
from feed.sim import SimServer
from shared.clock import ist_trading_day
from shared.keys import Keys
from shared.settings import Settings

__all__ = ["GOLDEN_DIR", "record_session", "replay_digest"]

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "golden"
KINDS = ("quotes", "ticks", "depth")


async def _instruments(settings: Settings) -> list[Any]:
    text = await fetch_scrip_master(f"http://127.0.0.1:{settings.sim.port}/api-scrip-master.csv")
    return [i for i in parse_scrip_master(text) if i.option_type is None]


async def record_session(settings: Settings, client: aioredis.Redis, trades: int) -> Path:
    """Simulator -> journaled feed until ``trades`` trades were published; the journal's path."""
    ticks = Keys(settings.redis.key_prefix).stream("ticks")
    async with SimServer(settings):
        run = Running(FeedService(settings, instruments=await _instruments(settings)))

        async def enough() -> bool:
            return int(await client.xlen(ticks)) >= trades

        await eventually(enough, timeout_s=120, message=f"{trades} trades recorded")
        assert await run.stop() == 0
    path = run.svc.journal.path
    assert path is not None and run.svc.journal.counters.lost_frames == 0
    return path


async def replay_digest(settings: Settings, client: aioredis.Redis, journal: Path) -> dict[str, Any]:
    """Replay ``journal`` to a fresh feed (the universe of the journal's day) and digest its streams."""
    first_ts, _ = journal_start([journal])
    day: date = ist_trading_day(first_ts)
    server = ReplayServer(settings, [journal], speed=None)
    async with server:
        feed = FeedService(settings, instruments=await _instruments(settings), today=day)
        run = Running(feed)
        await eventually(server.finished.is_set, timeout_s=120, message="journal served")
        await server.drained()
        await eventually(lambda: feed.decoder.stats.frames == server.frames_routed, timeout_s=60,
                         message="every replayed frame decoded")
        assert await run.stop() == 0
    keys = Keys(settings.redis.key_prefix)
    out: dict[str, Any] = {"journal": journal.name, "day": day.isoformat(), "frames": server.frames_routed,
                           "unrouted": server.unrouted}
    last_cum: dict[str, int] = {}
    for kind in KINDS:
        digest = hashlib.sha256()
        n = 0
        for _, fields in await client.xrange(keys.stream(kind)):
            event = orjson.loads(fields[b"d"])
            event.pop("recv_ts", None)
            digest.update(orjson.dumps(event, option=orjson.OPT_SORT_KEYS) + b"\n")
            n += 1
            if kind == "ticks":
                last_cum[f"{event['seg']}:{event['sid']}"] = int(event["volume"])
        out[kind] = {"events": n, "sha256": digest.hexdigest()}
    out["last_cum_volume"] = dict(sorted(last_cum.items()))
    return out
