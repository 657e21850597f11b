"""dhan:depth20 -> dhan_depth20 (latest) and dhan_depth20_history (sampled): pure rows, then the writer on MariaDB."""

from __future__ import annotations

import random
from typing import Any

import orjson
import redis.asyncio as aioredis

from shared.clock import IST_OFFSET_S
from shared.depth_pack import pack, unpack
from shared.keys import STREAM_KINDS
from shared.settings import Settings
from writer.batch import BatchBuilder, Entry
from writer.depth20 import sample_ms_of

from .conftest import BASE_TS, drain, query, xadd

RECV0 = BASE_TS - IST_OFFSET_S  # 2026-11-25 10:00:00 IST as a true epoch (a whole second)


def book(sid: int, recv_ts: float, *, seq: int = 1, mid: float = 100.0, levels: int = 20, n: int = 20,
         seg: str = "NSE_FNO") -> dict[str, Any]:  # fmt: skip
    return {
        "v": 1, "seg": seg, "sid": sid, "levels": levels, "seq": seq, "recv_ts": recv_ts,
        "bids": [[round(mid - 0.05 * (i + 1), 2), 75 * (i + 1), i + 1] for i in range(n)],
        "asks": [[round(mid + 0.05 * (i + 1), 2), 75 * (n - i), n - i] for i in range(n)],
    }  # fmt: skip


def _entries(events: list[dict[str, Any]]) -> list[Entry]:
    return [Entry("depth20", f"{i + 1}-0".encode(), orjson.dumps(e)) for i, e in enumerate(events)]


def test_sample_interval_starts() -> None:
    assert sample_ms_of(1_000_999_999, 1000) == 1_000_000  # 1000.999999 s -> the interval from 1000 s
    assert sample_ms_of(1_001_000_000, 1000) == 1_001_000
    assert sample_ms_of(1_000_250_000, 250) == 1_000_250
    assert sample_ms_of(1_000_249_999, 250) == 1_000_000


def test_each_interval_keeps_its_first_book_and_latest_the_newest() -> None:
    events = [
        book(7, RECV0 + 0.40, seq=3, mid=101.0),
        book(7, RECV0 + 0.10, seq=2, mid=100.0),  # earliest of [0 s, 1 s), delivered second
        book(7, RECV0 + 0.10, seq=5, mid=105.0),  # same time, later seq: not first
        book(7, RECV0 + 1.00, seq=6, mid=102.0),  # opens [1 s, 2 s)
        book(7, RECV0 + 1.70, seq=7, mid=103.0),  # the newest
    ]
    batch = BatchBuilder(depth20_sample_s=1.0).build(_entries(events))
    assert batch.poison == []
    ms0 = int(RECV0) * 1000
    blob = events[1]
    assert batch.depth20_history[0] == (f"('NSE_FNO',7,20,'2026-11-25',{ms0},2,{int(RECV0)}.100000,x'{_hex(blob)}')")
    assert batch.depth20_history[1].startswith(f"('NSE_FNO',7,20,'2026-11-25',{ms0 + 1000},6,{int(RECV0) + 1}.000000,")
    assert len(batch.depth20_history) == 2
    assert batch.depth20 == [f"('NSE_FNO',7,20,7,{int(RECV0) + 1}.700000,102.9500,103.0500,20,20,x'{_hex(events[4])}')"]


def _hex(ev: dict[str, Any]) -> str:
    return pack(ev["bids"], ev["asks"]).hex()


def test_the_trading_day_is_the_ist_day_of_the_interval() -> None:
    late = RECV0 - 10 * 3600 - 1  # 2026-11-24 23:59:59 IST
    rows = BatchBuilder().build(_entries([book(1, late), book(1, late + 1.0)])).depth20_history
    assert [r.split(",")[3] for r in rows] == ["'2026-11-24'", "'2026-11-25'"]


def test_200_level_books_and_20_level_books_are_separate_keys() -> None:
    batch = BatchBuilder().build(_entries([book(1, RECV0, levels=200, n=150, seq=0), book(1, RECV0 + 0.5)]))
    assert batch.poison == []
    assert [r.split(",")[2] for r in batch.depth20] == ["20", "200"]
    assert len(batch.depth20_history) == 2


def test_bad_books_are_poison_with_a_reason() -> None:
    cases = [
        ({"levels": 5}, "bad levels 5"),
        ({"seq": -1}, "bad seq -1"),
        ({"bids": [[1.0, 1, 1]] * 21}, "bids must be a list of at most 20 levels"),
        ({"asks": [[1.0, -5, 1]]}, "bad ask quantity -5"),
        ({"asks": "x"}, "asks must be a list"),
        ({"recv_ts": 0}, "bad recv_ts 0"),
    ]
    for change, reason in cases:
        batch = BatchBuilder().build(_entries([{**book(1, RECV0), **change}, book(2, RECV0)]))
        assert len(batch.poison) == 1 and reason in batch.poison[0].reason, (change, batch.poison)
        assert len(batch.depth20) == 1  # the good one still goes through


HISTORY_SQL = "SELECT * FROM dhan_depth20_history ORDER BY 1, 2, 3, 4, 5"
LATEST_SQL = "SELECT * FROM dhan_depth20 ORDER BY 1, 2, 3"


def _day(sids: range, seconds: int, *, per_s: int, seed: int) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    out = []
    for s in range(seconds * per_s):
        for sid in sids:
            out.append(book(sid, RECV0 + s / per_s + rnd.random() * 0.01, seq=s, mid=100 + rnd.randint(-20, 20) * 0.05))
    return out


async def test_writer_stores_latest_and_samples_and_a_redelivery_changes_nothing(
    wsettings: Settings, wredis: aioredis.Redis
) -> None:
    assert "depth20" in STREAM_KINDS
    settings = wsettings.replaced(writer_batch_max=7, depth20_sample_s=1.0)
    events = _day(range(1, 4), 6, per_s=5, seed=1)
    await xadd(wredis, settings, "depth20", events)
    service = await drain(settings)
    assert service.stats.rows["depth20_history"] >= 18
    history = await query(settings, HISTORY_SQL)
    latest = await query(settings, LATEST_SQL)
    assert len(history) == 3 * 6 and len(latest) == 3
    # each interval holds the earliest book received in it
    for _seg, sid, _levels, _date, sample_ms, seq, _recv, blob in history:
        firsts = [e for e in events if e["sid"] == sid and sample_ms_of(round(e["recv_ts"] * 1e6), 1000) == sample_ms]
        first = min(firsts, key=lambda e: (round(e["recv_ts"] * 1e6), e["seq"]))
        assert (seq, unpack(blob)) == (
            first["seq"],
            ([tuple(x) for x in first["bids"]], [tuple(x) for x in first["asks"]]),
        )
    newest = max((e for e in events if e["sid"] == 2), key=lambda e: e["recv_ts"])
    row = next(r for r in latest if r[1] == 2)
    assert (
        row[3] == newest["seq"]
        and float(row[5]) == newest["bids"][0][0]
        and unpack(row[9])[0][0][0] == newest["bids"][0][0]
    )
    # the same events again, shuffled and cut into other batches (a replay): the same rows
    again = events[:]
    random.Random(2).shuffle(again)
    await xadd(wredis, settings, "depth20", again)
    await drain(settings.replaced(writer_batch_max=11))
    assert await query(settings, HISTORY_SQL) == history
    assert await query(settings, LATEST_SQL) == latest


async def test_a_later_batch_with_an_earlier_book_takes_the_interval(
    wsettings: Settings, wredis: aioredis.Redis
) -> None:
    await xadd(wredis, wsettings, "depth20", [book(9, RECV0 + 0.5, seq=4, mid=101.0)])
    await drain(wsettings)
    await xadd(wredis, wsettings, "depth20", [book(9, RECV0 + 0.2, seq=3, mid=99.0), book(9, RECV0 + 0.5, seq=2)])
    await drain(wsettings)
    (row,) = await query(wsettings, HISTORY_SQL)
    assert row[5] == 3 and unpack(row[7])[0][0][0] == 98.95
    (latest,) = await query(wsettings, LATEST_SQL)
    assert latest[3] == 4  # the latest keeps the newest (recv_ts, seq), whatever arrived after it


async def test_history_is_partitioned_by_month(wsettings: Settings) -> None:
    parts = [r[0] for r in await query(
        wsettings,
        "SELECT PARTITION_NAME FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = 'dhan_depth20_history' ORDER BY PARTITION_ORDINAL_POSITION",
    )]  # fmt: skip
    ticks = [r[0] for r in await query(
        wsettings,
        "SELECT PARTITION_NAME FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = 'dhan_ticks' ORDER BY PARTITION_ORDINAL_POSITION",
    )]  # fmt: skip
    assert parts == ticks and len(parts) > 2 and parts[-1] == "pmax"
