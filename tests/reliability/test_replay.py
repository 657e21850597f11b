"""Record a live session (simulator -> journaled feed -> Redis), replay it through ReplayServer into a fresh
feed, and compare: the replayed feed must publish the very events the live one did (modulo recv_ts)."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis
from structlog.testing import capture_logs

from control.audit.journal_scan import scan_journal
from control.audit.replay import ReplayServer
from control.audit.replay_cli import ReplayService
from feed.journal import HEADER_BYTES, KIND_FRAMES, JournalReader
from feed.service import FeedService
from feed.sim import SimServer
from tests.conftest import eventually

from .conftest import feed_settings
from .helpers import JournaledFeed, Running, sim_instruments, stream_events, stream_len, without_recv_ts

FAULT_TOKEN = "replay-fault-token-" + "9d2c" * 6


async def test_replay_reproduces_the_live_events(tmp_path: Path, rclient: aioredis.Redis) -> None:
    live = feed_settings(tmp_path)
    rclient.cleanup.append(live)  # type: ignore[attr-defined]
    sent: list[bytes] = []
    async with SimServer(live, recorder=lambda inst, pkt: sent.append(pkt)):
        # No options: the universe stays put (no re-centring), so both runs subscribe the same set at once.
        instruments = await sim_instruments(live, options=False)
        run = Running(JournaledFeed(live, instruments=instruments))

        async def enough() -> bool:
            return await stream_len(rclient, live, "ticks") >= 300
        await eventually(enough, timeout_s=60, message="300 trades live")
        assert await run.stop() == 0
    journal = run.svc.journal
    assert journal.path is not None and journal.counters.dropped == 0 and journal.counters.lost_frames == 0
    recorded = list(JournalReader(journal.path).frames())
    # The journal holds what the feed received: the simulator's packets, in order, with their receive times.
    assert [f for _, f in recorded] == sent[: len(recorded)] and len(recorded) >= len(sent) - 50
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(recorded))
    assert len(recorded) == run.svc.decoder.stats.frames

    again = feed_settings(tmp_path / "replay")
    rclient.cleanup.append(again)  # type: ignore[attr-defined]
    server = ReplayServer(again, [journal.path], speed=None)
    async with server:
        replayed = Running(FeedService(again, instruments=instruments))
        await eventually(server.finished.is_set, timeout_s=60, message="journal served")
        await server.drained()
        await eventually(lambda: replayed.svc.decoder.stats.frames == server.frames_routed, timeout_s=30,
                         message="every replayed frame decoded")
        assert await replayed.stop() == 0
    assert server.unrouted == 0 and server.frames_routed == len(recorded) > 300
    for kind in ("quotes", "ticks", "depth"):
        a = await stream_events(rclient, live, kind)
        b = await stream_events(rclient, again, kind)
        assert a, kind
        assert without_recv_ts(b) == without_recv_ts(a), kind


async def test_replay_honours_the_simulator_faults(tmp_path: Path, rclient: aioredis.Redis) -> None:
    """POST /fault works on a replay as on the simulator: malformed messages reach the feed, a stall sends
    nothing until the feed's watchdog reconnects, 805 and a dropped socket make it reconnect, and the replay
    goes on serving the new connection."""
    live = feed_settings(tmp_path)
    rclient.cleanup.append(live)  # type: ignore[attr-defined]
    async with SimServer(live):
        instruments = await sim_instruments(live, options=False)
        run = Running(JournaledFeed(live, instruments=instruments))
        await eventually(lambda: run.svc.decoder.stats.frames >= 2000, timeout_s=60, message="2000 frames live")
        assert await run.stop() == 0
    assert run.svc.journal.path is not None

    again = feed_settings(tmp_path / "replay", stall_timeout_s=1.0, sim_faults=True, sim_token=FAULT_TOKEN)
    rclient.cleanup.append(again)  # type: ignore[attr-defined]
    # half the recorded pace: the recording (several seconds) outlasts the faults below
    server = ReplayServer(again, [run.svc.journal.path], speed=0.5)
    async with server:
        feed = Running(FeedService(again, instruments=instruments))
        stats = feed.svc.decoder.stats
        await eventually(lambda: stats.frames > 50, timeout_s=30, message="replay reaching the feed")

        async def flowing_again() -> None:
            base = stats.frames
            await eventually(lambda: stats.frames > base + 20, timeout_s=30, message="frames after the fault")

        for variant in ("truncated", "unknown", "garbage"):  # over HTTP, as dhan chaos sends them
            bad = stats.bad
            fault = {"kind": "malformed", "variant": variant, "token": FAULT_TOKEN}
            async with aiohttp.ClientSession() as http, http.post(server.http_url + "/fault", params=fault) as resp:
                assert resp.status == 200 and (await resp.json())["connections"] == 1
            await eventually(lambda: stats.bad > bad, message=f"malformed {variant} counted")  # noqa: B023
        assert server.unrouted == 0

        for kind in ("stall", "disconnect", "drop"):
            conn = feed.svc.connections[0]
            before = conn.reconnects
            (served,) = server._conns.values()
            assert await server.inject_fault(kind, code=805, seconds=600) == 1
            sent_at_fault = served.sent
            await eventually(lambda: conn.reconnects > before and conn.connected.is_set(),  # noqa: B023
                             timeout_s=30, message=f"feed reconnected after {kind}")
            if kind == "stall":
                assert served.sent == sent_at_fault and served.stalled  # nothing went out while stalled
            await flowing_again()
        assert not server.finished.is_set()  # every fault above happened mid-replay
        assert await feed.stop() == 0


async def test_a_replay_whose_journal_cannot_be_read_fails_instead_of_hanging(tmp_path: Path,
                                                                            rclient: aioredis.Redis) -> None:
    live = feed_settings(tmp_path)
    rclient.cleanup.append(live)  # type: ignore[attr-defined]
    async with SimServer(live):
        instruments = await sim_instruments(live, options=False)
        run = Running(JournaledFeed(live, instruments=instruments))
        await eventually(lambda: run.svc.decoder.stats.frames > 50, timeout_s=30, message="frames journaled")
        assert await run.stop() == 0
    path = run.svc.journal.path
    assert path is not None
    again = feed_settings(tmp_path / "replay")
    rclient.cleanup.append(again)  # type: ignore[attr-defined]
    replay = Running(ReplayService(again, ReplayServer(again, [path], speed=None)))
    await eventually(lambda: replay.svc.state == "running", timeout_s=30)
    path.unlink()  # gone before the first client subscribes: the replay loop cannot read it
    feed = Running(FeedService(again, instruments=instruments))
    code = await asyncio.wait_for(replay.task, 30)
    assert code != 0 and replay.svc.failed_task == "sim.emitter" and "cannot read journal" in replay.svc.failure
    assert await feed.stop() == 0


async def test_a_damaged_block_is_skipped_counted_and_logged_by_the_replay(tmp_path: Path,
                                                                        rclient: aioredis.Redis) -> None:
    live = feed_settings(tmp_path)  # a block every 20 ms (journal_block_ms)
    rclient.cleanup.append(live)  # type: ignore[attr-defined]
    async with SimServer(live):
        instruments = await sim_instruments(live, options=False)
        run = Running(JournaledFeed(live, instruments=instruments))
        await eventually(lambda: run.svc.journal.counters.blocks > 6, timeout_s=30, message="several blocks journaled")
        assert await run.stop() == 0
    path = run.svc.journal.path
    assert path is not None
    frame_blocks = [b for b in JournalReader(path).blocks() if b.kind == KIND_FRAMES]
    victim = frame_blocks[len(frame_blocks) // 2]
    data = bytearray(path.read_bytes())
    data[victim.offset + HEADER_BYTES + 3] ^= 0xFF  # one flipped byte: that block fails its CRC
    path.write_bytes(bytes(data))
    again = feed_settings(tmp_path / "replay")
    rclient.cleanup.append(again)  # type: ignore[attr-defined]
    server = ReplayServer(again, [path], speed=None)
    with capture_logs() as logs:
        async with server:
            replayed = Running(FeedService(again, instruments=instruments))
            await eventually(server.finished.is_set, timeout_s=60, message="the rest of the journal served")
            assert await replayed.stop() == 0
    assert server.corrupt_blocks == 1
    assert server.frames_read == sum(len(b.records) for b in frame_blocks) - len(victim.records)
    (skipped,) = [e for e in logs if e["event"] == "journal_block_skipped"]
    assert skipped["log_level"] == "warning" and skipped["corrupt_blocks"] == 1


async def test_a_journal_with_hostile_frames_replays_without_a_crash(tmp_path: Path, rclient: aioredis.Redis) -> None:
    """The journal keeps the raw hostile frames. Served again (``dhan replay``) to a fresh feed, and decoded
    again by ``dhan verify``'s mirror, they are dropped and counted as live, and the events are the same."""
    live = feed_settings(tmp_path)
    rclient.cleanup.append(live)  # type: ignore[attr-defined]
    async with SimServer(live) as sim:
        instruments = await sim_instruments(live, options=False)
        run = Running(JournaledFeed(live, instruments=instruments))
        await eventually(lambda: run.svc.decoder.stats.frames >= 500, timeout_s=60, message="500 frames live")
        assert await sim.inject_fault("hostile", count=4) == 1
        await eventually(lambda: run.svc.normaliser.bad_total == sum(sim.hostile_sent.values()), timeout_s=30)
        frames = run.svc.decoder.stats.frames
        await eventually(lambda: run.svc.decoder.stats.frames >= frames + 200, timeout_s=60)
        assert await run.stop() == 0
    counted = dict(run.svc.normaliser.bad_values)
    assert counted == {**counted, **sim.hostile_sent} and run.svc.frame_errors == 0
    assert run.svc.journal.path is not None and run.svc.journal.counters.lost_frames == 0

    scan = scan_journal([run.svc.journal.path])  # dhan verify's decoding of the journal
    assert scan.trade_count == await stream_len(rclient, live, "ticks") > 0

    again = feed_settings(tmp_path / "replay")
    rclient.cleanup.append(again)  # type: ignore[attr-defined]
    server = ReplayServer(again, [run.svc.journal.path], speed=None)
    async with server:
        replayed = Running(FeedService(again, instruments=instruments))
        await eventually(server.finished.is_set, timeout_s=60, message="journal served")
        await server.drained()
        await eventually(lambda: replayed.svc.decoder.stats.frames == server.frames_routed, timeout_s=30,
                         message="every replayed frame decoded")
        assert replayed.svc.state == "running"
        assert await replayed.stop() == 0
    assert replayed.svc.normaliser.bad_values == counted
    for kind in ("quotes", "ticks", "depth"):
        a = await stream_events(rclient, live, kind)
        assert without_recv_ts(await stream_events(rclient, again, kind)) == without_recv_ts(a), kind
