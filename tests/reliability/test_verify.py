"""dhan verify against a real private MariaDB: a live session (simulator -> journaled feed -> Redis) written
by the real writer in drain mode, then the journal compared with MySQL, broken on purpose, and repaired."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from control.audit.journal_scan import scan_journal, trade_recv_ts
from control.audit.repair import repair
from control.audit.verify import check
from control.audit.verify_cli import run as verify_cli
from feed.sim import SimServer
from shared.db import init_schema
from shared.keys import Keys
from shared.settings import Settings
from tests.conftest import eventually
from tests.writer.conftest import (
    CANDLES_RECOMPUTED_SQL,
    CANDLES_SQL,
    RECOMPUTED_SQL,
    SUMMARY_SQL,
    count,
    drain,
    query,
)

from .conftest import feed_settings
from .helpers import JournaledFeed, Running, execute, stream_len


async def record(settings: Settings, rclient: aioredis.Redis, trades: int) -> Path:
    """A live session until ``trades`` trades are in Redis (options and re-centring included)."""
    async with SimServer(settings):
        run = Running(JournaledFeed(settings))

        async def enough() -> bool:
            return await stream_len(rclient, settings, "ticks") >= trades
        await eventually(enough, timeout_s=60, message=f"{trades} trades live")
        assert await run.stop() == 0
    assert run.svc.journal.path is not None and run.svc.journal.counters.dropped == 0
    return run.svc.journal.path


@pytest.fixture
async def session(tmp_path: Path, db_settings: Settings, rclient: aioredis.Redis) -> Settings:
    await init_schema(db_settings)
    s = feed_settings(tmp_path).replaced(mysql_url=db_settings.mysql.url)
    rclient.cleanup.append(s)  # type: ignore[attr-defined]
    return s


def _args(path: Path, *, repair: bool = False) -> argparse.Namespace:
    return argparse.Namespace(journal=[path], repair=repair, json=False)


async def test_clean_session_verifies_with_zero_problems(
    session: Settings, rclient: aioredis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    path = await record(session, rclient, 300)
    await drain(session)
    scan = scan_journal([path])
    report = await check(session, scan)
    assert report.problems == 0, report.examples
    assert scan.trade_count == report.found == await count(session, "dhan_ticks") >= 300
    assert scan.trade_count == await stream_len(rclient, session, "ticks")
    assert report.missing == report.extra == report.duplicated == report.value_mismatched == 0
    assert report.quotes_equal == report.quotes_compared == await count(session, "dhan_quotes") > 50
    assert report.summaries_checked == report.instrument_days > 10 and report.summaries_mismatched == 0
    assert report.candles_checked == report.instrument_days and report.candles_mismatched == 0
    assert report.candle_minutes == await count(session, "dhan_candles_1m") > 0
    assert scan.sessions == 1 and scan.read.torn_tail_bytes == 0 and scan.bad_packets == 0
    assert await verify_cli(_args(path), session) == 0
    assert "result    OK" in capsys.readouterr().out


async def test_deleted_ticks_are_reported_missing_and_repair_restores_them(
    session: Settings, rclient: aioredis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    path = await record(session, rclient, 300)
    await drain(session)
    before = await query(session, "SELECT * FROM dhan_ticks ORDER BY 1, 2, 3, 4")
    gone = before[::7]
    for row in gone:
        await execute(session, "DELETE FROM dhan_ticks WHERE exchange_segment = %s AND security_id = %s "
                    "AND trade_date = %s AND cum_volume = %s", row[:4])
    seg, sid = gone[0][:2]
    assert await execute(session, "UPDATE dhan_quotes SET ltp = ltp + 1 WHERE exchange_segment = %s "
                         "AND security_id = %s", (seg, sid)) == 1
    scan = scan_journal([path])
    report = await check(session, scan)
    assert report.missing == len(gone) and report.problems > 0 and not report.duplicated_keys
    assert {(s, i, d.isoformat(), c) for s, i, d, c, *_ in gone} == {
        (s, i, _day(d), c) for s, i, d, c in report.missing_keys}
    # each missing trade's journal receive time is the recv_ts the writer had stored for it
    recv = {(s, i, _day(d), c): ts for (s, i, d, c), ts in trade_recv_ts(scan, report.missing_keys).items()}
    assert recv == pytest.approx({(s, i, d.isoformat(), c): float(row[9]) for row in gone
                                  for s, i, d, c in [row[:4]]}, abs=1e-6)
    assert report.summaries_mismatched > 0  # the summaries still count the deleted rows
    assert report.candles_mismatched > 0  # and so do the candles
    assert report.quotes_mismatched == 1
    assert await verify_cli(_args(path), session) == 1
    assert "missing" in capsys.readouterr().out

    assert await verify_cli(_args(path, repair=True), session) == 0
    assert "-- after the repair --" in capsys.readouterr().out
    assert await query(session, "SELECT * FROM dhan_ticks ORDER BY 1, 2, 3, 4") == before
    assert await query(session, SUMMARY_SQL) == await query(session, RECOMPUTED_SQL)
    assert await query(session, CANDLES_SQL) == await query(session, CANDLES_RECOMPUTED_SQL)
    assert (await check(session, scan_journal([path]))).problems == 0


async def test_a_tampered_candle_is_reported_and_repaired(
    session: Settings, rclient: aioredis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    path = await record(session, rclient, 300)
    await drain(session)
    truth = await query(session, CANDLES_SQL)
    seg, sid, day, minute = truth[len(truth) // 2][:4]
    assert await execute(session, "UPDATE dhan_candles_1m SET high = high + 0.05 WHERE exchange_segment = %s "
                         "AND security_id = %s AND trade_date = %s AND minute_ts = %s", (seg, sid, day, minute)) == 1
    report = await check(session, scan_journal([path]))
    assert (report.candles_mismatched, report.problems, report.summaries_mismatched) == (1, 1, 0)
    assert [(s, i, _day(d)) for s, i, d in report.candle_keys_bad] == [(seg, sid, day.isoformat())]
    [example] = report.examples["candles"]
    assert example.startswith(f"{seg}:{sid} {day.isoformat()} minute_ts {minute}: stored ")
    assert await verify_cli(_args(path), session) == 1
    assert "1 differ from a recomputation" in capsys.readouterr().out
    assert await verify_cli(_args(path, repair=True), session) == 0
    assert await query(session, CANDLES_SQL) == truth


async def test_rows_stored_twice_are_reported_with_their_keys(session: Settings, rclient: aioredis.Redis) -> None:
    path = await record(session, rclient, 300)
    await drain(session)
    # only without its primary key can dhan_ticks hold a trade twice (as a broken writer or import might)
    await execute(session, "ALTER TABLE dhan_ticks DROP PRIMARY KEY")
    twice = (await query(session, "SELECT * FROM dhan_ticks ORDER BY 1, 2, 3, 4"))[::9]
    for row in twice:
        await execute(session, "INSERT INTO dhan_ticks SELECT * FROM dhan_ticks WHERE exchange_segment = %s "
                      "AND security_id = %s AND trade_date = %s AND cum_volume = %s", row[:4])
    report = await check(session, scan_journal([path]))
    assert report.duplicated == len(twice) > 0 and report.missing == 0
    assert {(s, i, _day(d), c) for s, i, d, c in report.duplicated_keys} == {
        (s, i, d.isoformat(), c) for s, i, d, c, *_ in twice}


async def test_trimmed_stream_gap_is_refilled_from_the_journal(
    session: Settings, rclient: aioredis.Redis
) -> None:
    path = await record(session, rclient, 300)
    keys = Keys(session.redis.key_prefix)
    total = await stream_len(rclient, session, "ticks")
    # a stream cap trimmed these before the writer read them
    lost = await rclient.xrange(keys.ticks, count=40)
    await rclient.xdel(keys.ticks, *[entry_id for entry_id, _ in lost])
    await drain(session)
    assert await count(session, "dhan_ticks") == total - 40
    report = await check(session, scan_journal([path]))
    assert report.missing == 40 and report.found == total - 40
    assert report.summaries_mismatched == 0  # the writer never counted them: consistent, only incomplete
    result = await repair(session, [path], report)
    assert result.ticks_inserted == 40 and result.ticks_poison == 0
    assert await count(session, "dhan_ticks") == total
    assert await query(session, SUMMARY_SQL) == await query(session, RECOMPUTED_SQL)
    assert (await check(session, scan_journal([path]))).problems == 0


def _day(days: int) -> str:
    from control.audit.journal_scan import day_text

    return day_text(days)
