"""The journal's write-ahead file: a SIGKILLed feed loses no journal frame whose events went out.

A killed process keeps what it handed the kernel, so the tests kill real processes: a journal writer script
(frames written ahead, the writer thread held back or partly done, the file started over several times) and
a real ``dhan feed`` against the simulator, whose every trade in the Redis stream must be in the journal
after the next start recovered the write-ahead file."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from control.audit.journal_scan import day_of, scan_journal
from control.stack.supervisor import ChildSpec, Supervisor
from control.stack.up import wait_http
from feed.journal import KIND_META, Journal, JournalReader, missing_from, wal_path
from shared.keys import Keys
from tests.conftest import eventually, make_settings

from .test_journal import DAY1_EVENING, frames

ADDED = {"NSE_EQ:2885": {"seg": "NSE_EQ", "sid": 2885, "tick_size": 0.1}}


# --- matching the journal's end inside the write-ahead file (pure) ---
def _recs(n: int, start: int = 0) -> list[tuple[float, bytes]]:
    return [(1000.0 + i, b"f%d" % i) for i in range(start, start + n)]


def test_missing_from_finds_the_journal_end_inside_the_file() -> None:
    wal = _recs(10, start=5)  # records 5..14
    assert missing_from(wal, _recs(9)) == 4  # journal holds 0..8: 9..14 are missing
    assert missing_from(wal, _recs(15)) == 10  # all of it already in the journal
    assert missing_from(wal, _recs(5)) == 0  # the journal ends just before the file begins
    assert missing_from(wal, []) == 0  # no journal yet
    assert missing_from([], _recs(3)) == 0


def test_missing_from_needs_the_whole_run_not_one_equal_record() -> None:
    p, a, q = (1.0, b"p"), (2.0, b"same"), (3.0, b"q")
    # the journal's last record appears twice in the file; only the earlier one follows the journal's run
    assert missing_from([p, a, q, a], [(0.5, b"o"), p, a]) == 2
    note = (7.0, {"type": "universe", "added": {}, "removed": []})
    assert missing_from([*_recs(3), note, (8.0, b"z")], [*_recs(3), note]) == 4  # a note ends the journal


# --- a journal writer killed with frames only in the write-ahead file ---
_WRITER = textwrap.dedent("""
    import asyncio, sys
    import feed.journal.wal as walmod
    from feed.journal import Journal
    from shared.settings import Settings
    from tests.reliability.test_journal import DAY1_EVENING, frames

    async def main():
        directory, chunk, held, reset = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
        walmod.WAL_RESET_BYTES = reset
        s = Settings(_env_file=None, journal_dir=directory, journal_block_ms=60000, journal_block_kb=8)
        j = Journal(s, instance="feed", clock=lambda: DAY1_EVENING - 3600)
        await j.start()
        items = frames(5000, DAY1_EVENING - 3600)
        for start in range(0, len(items), chunk):
            for ts, frame in items[start:start + chunk]:
                j.append(frame, ts)
            if start == 2500:
                j.note_universe({"NSE_EQ:2885": b'{"seg":"NSE_EQ","sid":2885,"tick_size":0.1}'}, [])
                j.note("marker", {"at": start})  # any note of the feed's is a stream record too
            j.write_ahead()  # as the publisher does before each send
            if start + chunk < len(items) - held:
                j.writer.wake.set()  # let the writer thread take this chunk (its timer is a minute)
                while j.writer.written_seq < j.wal.handed_seq:
                    await asyncio.sleep(0.005)
        print("ready", j.writer.written_seq, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
""")


@pytest.mark.parametrize(
    ("chunk", "held", "reset_bytes"),
    [(500, 5000, 8 << 20),   # the writer thread wrote nothing: all 5000 frames only in the write-ahead file
     (500, 1500, 8 << 20),   # it wrote 3500: the rest is matched and appended
     (250, 700, 40_000)],    # the write-ahead file started over several times on the way
)
async def test_frames_of_a_killed_writer_are_recovered_once_in_order(
    tmp_path: Path, chunk: int, held: int, reset_bytes: int
) -> None:
    proc = subprocess.Popen(  # noqa: ASYNC220 (started once; its output is read off the loop)
        [sys.executable, "-c", _WRITER, str(tmp_path), str(chunk), str(held), str(reset_bytes)],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2],
    )
    try:
        assert proc.stdout is not None
        line = "?"
        while line and not line.startswith("ready"):  # log lines come first (structlog writes to stdout)
            line = await asyncio.to_thread(proc.stdout.readline)
        assert line.startswith("ready"), "the writer script ended early"
        written_before_kill = int(line.split()[1])
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert wal_path(tmp_path, "feed").stat().st_size > 0
    main_path = next(tmp_path.glob("*.djr"))  # noqa: ASYNC240 (a test's tmp dir)
    in_journal = sum(1 for _ in JournalReader(main_path).frames())
    taken = sum(min(chunk, 5000 - s) for s in range(0, 5000, chunk) if s + chunk < 5000 - held)
    assert in_journal == taken and written_before_kill == taken + 2 * (taken >= 2500 + chunk)  # (+ the notes)

    settings = make_settings(journal_dir=tmp_path, journal_block_kb=8)
    j = Journal(settings, instance="feed", clock=lambda: DAY1_EVENING - 3000)
    await j.start()
    assert j.counters.recovered_frames == 5000 - in_journal
    await j.stop()

    records = list(JournalReader(main_path).records())
    assert [r for r in records if isinstance(r[1], bytes)] == frames(5000, DAY1_EVENING - 3600)
    metas = [(i, r[1]) for i, r in enumerate(records) if isinstance(r[1], dict)]
    universe = [(i, m) for i, m in metas if m["type"] == "universe"]
    assert len(universe) == 1 and universe[0][1]["added"] == ADDED  # once, though in both files when matched
    assert sum(1 for r in records[: universe[0][0]] if isinstance(r[1], bytes)) == 2500 + chunk  # its place
    kinds = [m["type"] for _, m in metas]
    assert kinds.count("recovered") == 1 and kinds.count("session") == 2
    assert kinds.count("marker") == 1 and metas[kinds.index("marker")][0] == universe[0][0] + 1
    assert not wal_path(tmp_path, "feed").exists()  # a clean stop leaves no write-ahead file


async def test_clean_stop_removes_the_file_and_a_restart_recovers_nothing(tmp_path: Path) -> None:
    settings = make_settings(journal_dir=tmp_path, journal_block_kb=8)
    items = frames(2000, DAY1_EVENING - 3600)
    for _ in range(2):
        j = Journal(settings, instance="feed", clock=lambda: DAY1_EVENING - 3600)
        await j.start()
        for ts, frame in items:
            j.append(frame, ts)
        j.write_ahead()
        assert j.counters.wal_writes == 1 and wal_path(tmp_path, "feed").stat().st_size > 2000 * 12
        await j.stop()
        assert j.counters.recovered_frames == 0 and not wal_path(tmp_path, "feed").exists()
    got = list(JournalReader(next(tmp_path.glob("*.djr"))).frames())  # noqa: ASYNC240 (a test's tmp dir)
    assert got == items + items


async def test_write_ahead_off_keeps_no_file(tmp_path: Path) -> None:
    j = Journal(make_settings(journal_dir=tmp_path, journal_write_ahead=False), instance="feed")
    await j.start()
    j.append(b"x" * 20, DAY1_EVENING)
    j.write_ahead()
    assert j.counters.wal_writes == 0 and not wal_path(tmp_path, "feed").exists()
    await j.stop()


# --- the real feed, SIGKILLed: every trade it published is in the journal after its next start ---
def _feed_env(settings: Any, **extra: str) -> dict[str, str]:
    return {
        "DHAN_REDIS_URL": settings.redis.url.get_secret_value(), "DHAN_KEY_PREFIX": settings.redis.key_prefix,
        "DHAN_SIM_PORT": str(settings.sim.port), "DHAN_SIM_RATE": "400", "DHAN_JOURNAL_DIR": str(settings.journal.dir),
        "DHAN_SPOOL_DIR": str(settings.publish.spool_dir), "DHAN_HEALTH_PORT_BASE": "0", "DHAN_NIFTY_STRIKES": "2",
        "DHAN_BANKNIFTY_STRIKES": "1", **extra,
    }


async def _stream_trades(client: aioredis.Redis, settings: Any) -> set[tuple[str, int, int, int]]:
    out: set[tuple[str, int, int, int]] = set()
    for _, fields in await client.xrange(Keys(settings.redis.key_prefix).stream("ticks")):
        ev = orjson.loads(fields[b"d"])
        out.add((ev["seg"], ev["sid"], day_of(ev["exchange_ts"]), ev["volume"]))
    return out


@pytest.mark.timeout(300)
async def test_sigkilled_feed_keeps_every_published_trade_in_its_journal(tmp_path: Path) -> None:
    settings = make_settings(journal_dir=tmp_path / "journal", spool_dir=tmp_path / "spool")
    # a journal block timer of a minute: without the write-ahead file a kill would lose every frame
    env = _feed_env(settings, DHAN_JOURNAL_BLOCK_MS="60000")
    sup = Supervisor(tmp_path / "logs")
    sup.add(ChildSpec("sim", ("sim",), restart_on_failure=False, env=env))
    sup.add(ChildSpec("feed", ("feed",), restart_on_failure=False, env=env))
    client = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
    ticks_key = Keys(settings.redis.key_prefix).stream("ticks")
    try:
        await sup.start("sim")
        await wait_http(f"http://127.0.0.1:{settings.sim.port}/health", 60)
        await sup.start("feed")

        async def trades_above(n: int) -> bool:
            return int(await client.xlen(ticks_key)) > n

        await eventually(lambda: trades_above(200), timeout_s=120, interval_s=0.05, message="trades published")
        feed = sup.children["feed"]
        assert feed.pid is not None
        os.killpg(feed.pid, signal.SIGKILL)
        await eventually(lambda: feed.state == "crashed", timeout_s=30, interval_s=0.05,
                         message="the killed feed seen as crashed")
        killed_at = int(await client.xlen(ticks_key))
        await sup.start("feed")  # recovers the write-ahead file, then goes on
        await eventually(lambda: trades_above(killed_at + 100), timeout_s=120, interval_s=0.05,
                         message="trades after the restart")
        await sup.stop("feed")
        published = await _stream_trades(client, settings)
    finally:
        await sup.stop_all(["feed", "sim"])
        keys = [k async for k in client.scan_iter(match=f"{settings.redis.key_prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    journals = sorted((tmp_path / "journal").glob("*.djr"))
    scan = scan_journal(journals)
    journaled = {(seg, sid, day, cum) for (seg, sid, day), t in scan.trades.items() for cum in t.cum}
    assert len(published) > 300
    assert published - journaled == set(), f"{len(published - journaled)} published trades not in the journal"
    recovered = [b.meta for b in JournalReader(journals[-1]).blocks()
                 if b.kind == KIND_META and b.meta and b.meta.get("type") == "recovered"]
    assert recovered and recovered[0]["frames"] > 0



def test_verify_names_a_write_ahead_file_left_by_a_killed_feed(tmp_path: Path) -> None:
    from control.audit.verify_cli import pending_write_ahead
    from feed.journal import SIGNATURE

    journal = tmp_path / "2026-11-25.feed.djr"
    journal.write_bytes(SIGNATURE)
    (tmp_path / "feed.wal").write_bytes(SIGNATURE)  # started anew by a running feed: nothing pending
    assert pending_write_ahead([journal]) == []
    (tmp_path / "feed.wal").write_bytes(SIGNATURE + b"DJB\x01" + bytes(40))
    assert pending_write_ahead([journal]) == [tmp_path / "feed.wal"]
