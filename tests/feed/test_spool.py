"""Spool (feed/spool.py, feed/publisher.py): damaged files are quarantined and never block the rest; a full
disk keeps events in memory, raises spool_failing, and past the memory cap sheds superseded events first."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis
from structlog.testing import capture_logs

from feed.publisher import KIND_DEPTH, KIND_QUOTES, KIND_TICKS, Publisher
from feed.shed import instrument_prefix, shed
from feed.spool import REC, parse_spool
from shared.keys import Keys
from tests.conftest import PrivateRedis, eventually, make_settings
from tests.feed.diskfull import small_disk

KINDS = ("quotes", "ticks", "depth", "greeks")


def _ev(sid: int, n: int, ts: float = 1.0) -> bytes:
    return orjson.dumps({"v": 1, "seg": "NSE_FNO", "sid": sid, "n": n, "recv_ts": ts})


def _records(items: list[tuple[int, bytes]]) -> bytes:
    return b"".join(REC.pack(k, len(p)) + p for k, p in items)


def test_parse_skips_an_unknown_kind_alone_and_stops_where_framing_is_lost() -> None:
    a, b, c = (KIND_TICKS, _ev(1, 1)), (KIND_QUOTES, _ev(1, 2)), (KIND_TICKS, _ev(1, 3))
    good, problems = parse_spool(_records([a, (7, _ev(1, 9)), b, c]), 4)
    assert good == [a, b, c] and problems == [(len(_records([a])), "unknown kind 7")]
    data = _records([a, b]) + REC.pack(1, 5) + b"xxxxx" + _records([c])  # not an event: framing cannot be trusted
    good, problems = parse_spool(data, 4)
    assert good == [a, b] and "framing lost" in problems[0][1]
    good, problems = parse_spool(_records([a, b])[:-3], 4)  # a cut end
    assert good == [a] and "runs past the end" in problems[0][1]


def test_shed_drops_superseded_latest_state_before_any_trade() -> None:
    items = [(KIND_QUOTES, _ev(1, 1, 10.0)), (KIND_TICKS, _ev(1, 2, 11.0)), (KIND_DEPTH, _ev(2, 3, 12.0)),
             (KIND_QUOTES, _ev(1, 4, 13.0)), (KIND_DEPTH, _ev(2, 5, 14.0)), (KIND_QUOTES, _ev(3, 6, 15.0)),
             (KIND_TICKS, _ev(3, 7, 16.0))]
    kept, dropped = shed(items, 5, frozenset({KIND_QUOTES, KIND_DEPTH}), KINDS)
    # the older quote of sid 1 and the older depth of sid 2 go; every trade and every latest state stays
    assert [orjson.loads(p)["n"] for _, p in kept] == [2, 4, 5, 6, 7]
    assert dropped.by_kind == {KIND_QUOTES: 1, KIND_DEPTH: 1} and dropped.superseded == 2
    assert dropped.instruments == {"NSE_FNO:1": {"from": 10.0, "to": 10.0, "quotes": 1},
                                   "NSE_FNO:2": {"from": 12.0, "to": 12.0, "depth": 1}}
    # still too many once nothing is superseded: the oldest go, trades included
    kept, dropped = shed(items, 3, frozenset({KIND_QUOTES, KIND_DEPTH}), KINDS)
    assert [orjson.loads(p)["n"] for _, p in kept] == [5, 6, 7]
    assert dropped.superseded == 2 and dropped.by_kind == {KIND_QUOTES: 2, KIND_DEPTH: 1, KIND_TICKS: 1}
    assert instrument_prefix(_ev(35001, 1)) == b'{"v":1,"seg":"NSE_FNO","sid":35001'


async def _ticks(client: aioredis.Redis, prefix: str) -> list[int]:
    return [orjson.loads(f[b"d"])["n"] for _, f in await client.xrange(prefix + "ticks")]


async def test_a_damaged_spool_file_is_quarantined_and_the_rest_is_sent(tmp_path: Path,
                                                                        redis_client: aioredis.Redis) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    first = [(KIND_TICKS, _ev(1, n)) for n in range(3)]
    (spool / "spool-00000000000000000001-000001.bin").write_bytes(
        _records(first[:2]) + REC.pack(9, 9) + b'{"bad":1}' + _records(first[2:]))
    (spool / "spool-00000000000000000002-000001.bin").write_bytes(_records([(KIND_TICKS, _ev(1, 3))]))
    settings = make_settings(spool_dir=spool)
    pub = Publisher(settings, redis_client, Keys(settings.redis.key_prefix), publish=False)
    stop = asyncio.Event()
    with capture_logs() as logs:
        task = asyncio.create_task(pub.run(stop))
        pub.add(KIND_TICKS, [_ev(1, 4)])
        await eventually(lambda: pub.published[KIND_TICKS] == 5, message="every good record and the new one")
        stop.set()
        await asyncio.wait_for(task, 10)  # the publisher lived through it
    await pub.close()
    assert await _ticks(redis_client, settings.redis.key_prefix) == [0, 1, 2, 3, 4]
    assert [p.name for p in (spool / "quarantine").iterdir()] == ["spool-00000000000000000001-000001.bin"]
    assert not list(spool.glob("spool-*.bin"))
    assert pub.metrics()["spool_quarantined"] == 1 and pub.metrics()["spool_bad_records"] == 1
    damaged = [e for e in logs if e["event"] == "spool_damaged"]
    assert damaged and damaged[0]["why"] == "unknown kind 9" and damaged[0]["log_level"] == "error"


async def test_full_disk_keeps_events_raises_spool_failing_then_sheds_superseded_first(
        private_redis: PrivateRedis, tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk") as disk:
        disk.fill()
        settings = make_settings(redis_url=private_redis.url, spool_dir=disk.path / "spool",
                                 publish_buffer_max=1000, publish_memory_max=3000, publish_batch_max=500)
        client = aioredis.Redis.from_url(private_redis.url, socket_connect_timeout=0.5)
        events: list[dict[str, Any]] = []
        pub = Publisher(settings, client, Keys(settings.redis.key_prefix), publish=False, on_event=events.append)
        stop = asyncio.Event()
        task = asyncio.create_task(pub.run(stop))
        private_redis.stop()
        with capture_logs() as logs:
            # 20 instruments quote 100 times each, and trade 60 times each: 3,200 events past a cap of 3,000
            n = 0
            for round_no in range(100):
                pub.add(KIND_QUOTES, [_ev(sid, (n := n + 1), ts=float(round_no)) for sid in range(20)])
                if round_no < 60:
                    pub.add(KIND_TICKS, [_ev(sid, (n := n + 1), ts=float(round_no)) for sid in range(20)])
            assert pub.spool_error == "No space left on device"
            assert pub.spooled_files == 0 and pub.spool_write_errors >= 1
            problem = pub.health_problem()
            assert problem is not None and "No space left on device" in problem
            assert pub.metrics()["spool_failing"] == 1
        # the spool was not retried on every add (backoff), and nothing was dropped before the cap
        assert sum(1 for e in logs if e["event"] == "spool_write_failed") == 1
        assert pub.spool_write_errors < 10
        assert pub.dropped[KIND_TICKS] == 0 and pub.dropped[KIND_QUOTES] > 0
        assert pub.buffered == 3200 - pub.dropped[KIND_QUOTES]
        (gap,) = events
        assert gap["type"] == "dropped" and set(gap["instruments"]) == {f"NSE_FNO:{sid}" for sid in range(20)}
        assert gap["instruments"]["NSE_FNO:0"]["quotes"] >= 1 and gap["instruments"]["NSE_FNO:0"]["from"] == 0.0
        held = pub.buffered
        private_redis.start()
        await eventually(lambda: pub.buffered == 0, timeout_s=30, message="held events published")
        assert pub.published[KIND_TICKS] == 1200 and sum(pub.published) == held
        assert pub.spool_error == "" and pub.health_problem() is None
        stop.set()
        await asyncio.wait_for(task, 10)
        await pub.close()
        await client.aclose()


async def test_spool_write_succeeds_again_once_space_is_back(private_redis: PrivateRedis, tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", size_kb=1024) as disk:
        disk.fill()
        settings = make_settings(redis_url=private_redis.url, spool_dir=disk.path / "spool",
                                 publish_buffer_max=1000)
        pub = Publisher(settings, aioredis.Redis.from_url(private_redis.url), Keys(settings.redis.key_prefix),
                        publish=False)
        added = 1001
        pub.add(KIND_TICKS, [_ev(1, n) for n in range(added)])
        assert pub.spool_error and pub.buffered == added and pub.spooled_files == 0
        disk.free()

        def add_one() -> bool:
            nonlocal added
            pub.add(KIND_TICKS, [_ev(2, added)])
            added += 1
            return pub.spooled_files == 1

        await eventually(add_one, timeout_s=15, message="spill retried after its backoff")
        assert pub.spool_error == "" and pub.spilled == 500 and pub.buffered == added - 500
        read = pub.spool.read_head()
        assert read is not None and [orjson.loads(p)["n"] for _, p in read[1]] == list(range(500))


async def test_spill_for_exit_on_a_full_disk_says_how_many_events_are_lost(tmp_path: Path,
                                                                          redis_client: aioredis.Redis) -> None:
    with small_disk(tmp_path / "disk") as disk:
        disk.fill()
        settings = make_settings(spool_dir=disk.path / "spool")
        pub = Publisher(settings, redis_client, Keys(settings.redis.key_prefix), publish=False)
        pub.add(KIND_TICKS, [_ev(1, n) for n in range(700)])
        with capture_logs() as logs:
            pub.spill_for_exit()
        (lost,) = [e for e in logs if e["event"] == "events_lost_at_exit"]
        assert lost["events"] == 700 and lost["log_level"] == "error" and pub.lost_at_exit == 700
