"""Hostile entries against the real writer (Redis + MariaDB): dead-lettered with a reason, never a crash.

A process that dies on an entry takes it back first on every restart (its own pending entries), so one
bad entry would stop the writer for good; these tests run the real process where a crash is the risk.
"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis

from shared.keys import Keys
from shared.settings import Settings

from .conftest import BASE_TS, count, drain, group_pending, query, quote, tick, xadd

REPO = Path(__file__).resolve().parents[2]
MEMORY_LIMIT_BYTES = 1 << 30  # address space of the writer process: far above its needs, below 10,000 x 120 KB


async def _dead_letters(client: aioredis.Redis, settings: Settings) -> list[tuple[dict[str, Any], bytes]]:
    rows = await client.xrange(Keys(settings.redis.key_prefix).deadletter)
    return [(orjson.loads(f[b"d"]), f[b"payload"]) for _, f in rows]


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))


def _run_writer_process(settings: Settings, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``dhan writer --drain`` as its own process (a fixed consumer name, as after a restart)."""
    environ = {
        "PATH": os.environ.get("PATH", ""), "DHAN_REDIS_URL": settings.redis.url.get_secret_value(),
        "DHAN_MYSQL_URL": settings.mysql.url.get_secret_value(), "DHAN_KEY_PREFIX": settings.redis.key_prefix,
        "DHAN_HEALTH_PORT_BASE": "0", "DHAN_LOG_FORMAT": "json", "PYTHONPATH": str(REPO), **env,
    }  # fmt: skip
    return subprocess.run(
        [sys.executable, "-c", "import sys; from shared.cli import main; sys.exit(main())", "writer", "--drain",
         "--consumer", "w1"],
        cwd=cwd, env=environ, capture_output=True, text=True, timeout=120, preexec_fn=_limit_memory, check=False,
    )  # fmt: skip


async def test_a_huge_string_price_is_dead_lettered_by_the_process_not_a_crash_loop(
    wsettings: Settings, wredis: aioredis.Redis, tmp_path: Path
) -> None:
    # ltp x 10000 on this string is a 1.2 GB string: MemoryError in the process, an entry taken back first
    # by every restart. Checked types first, it is one dead letter and the writer goes on.
    hostile = {**tick(1, 20, qty=10), "ltp": "9" * 120_000}
    await xadd(wredis, wsettings, "ticks", [tick(1, 10, qty=10), hostile, tick(1, 30, qty=10)])
    env = {"DHAN_WRITER_ENTRY_MAX_BYTES": str(1 << 20)}  # the size cap is not what saves it here
    for _ in range(2):  # and a restart finds nothing left of it
        done = await asyncio.to_thread(_run_writer_process, wsettings, tmp_path, **env)
        assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    assert await count(wsettings, "dhan_ticks") == 2
    [(meta, payload)] = await _dead_letters(wredis, wsettings)
    assert meta["reason"].startswith("TypeError: bad trade price '99999") and len(meta["reason"]) < 100
    assert payload == orjson.dumps(hostile)
    assert await group_pending(wredis, wsettings) == 0


async def test_an_entry_over_the_size_cap_is_not_parsed_and_its_dead_letter_is_cut(
    wsettings: Settings, wredis: aioredis.Redis
) -> None:
    settings = wsettings.replaced(writer_entry_max_bytes=4096)
    big = {**quote(1), "src": "x" * 10_000}
    await xadd(wredis, settings, "quotes", [big, quote(2)])
    writer = await drain(settings)
    assert writer.stats.dead_letters == 1
    [(meta, payload)] = await _dead_letters(wredis, settings)
    size = len(orjson.dumps(big))
    assert meta["reason"] == f"ValueError: entry of {size:,} bytes is over the 4,096-byte cap"
    assert meta["payload_bytes"] == size and payload == orjson.dumps(big)[:4096]
    assert await count(settings, "dhan_quotes") == 1


async def test_hostile_values_are_dead_lettered_with_one_line_reasons_and_good_rows_stored(
    wsettings: Settings, wredis: aioredis.Redis
) -> None:
    deep = b'{"v":1,"seg":' + b"[" * 1000 + b"]" * 1000 + b"}"  # orjson parses it; repr() of it recurses
    bad_ticks: list[dict[str, Any] | bytes] = [
        orjson.dumps(tick(1, 2)).replace(b'"oi":1000', b'"oi":18446744073709551616'),  # over BIGINT UNSIGNED
        {**tick(1, 3), "qty": -5},
        {**tick(1, 4), "ltp": 1e300},
        {**tick(1, 5), "recv_ts": 1e300},
        {**tick(1, 6), "exchange_ts": 2**40},
        {**tick(1, 7), "seg": "NSE_FNO\n"},
        {**tick(1, 8), "ltp": True},
        {**tick(1, 9), "v": [[[[[[[[1]]]]]]]]},
        deep,
    ]
    good = [tick(1, 10, qty=10, oi=2**31 + 5), {**tick(1, 11, qty=1), "oi": 2**64 - 1}]
    await xadd(wredis, wsettings, "ticks", [*bad_ticks, *good])
    await xadd(wredis, wsettings, "quotes", [{**quote(3), "tbq": -1}, {**quote(4), "ltp": float(10**15)}, quote(5)])
    writer = await drain(wsettings)
    metas = [m for m, _ in await _dead_letters(wredis, wsettings)]
    assert writer.stats.dead_letters == len(metas) == len(bad_ticks) + 2
    assert writer.stats.internal_errors == 0
    reasons = [m["reason"] for m in metas]
    assert all("\n" not in r and len(r) < 120 for r in reasons), reasons
    assert "ValueError: unsupported event version [[[...]]]" in reasons
    assert "TypeError: bad exchange segment [[[...]]]" in reasons
    assert any("bad exchange segment 'NSE_FNO\\n'" in r for r in reasons)
    assert sorted(r[0] for r in await query(wsettings, "SELECT oi FROM dhan_ticks")) == [2**31 + 5, 2**64 - 1]
    assert [r[0] for r in await query(wsettings, "SELECT security_id FROM dhan_quotes")] == [5]
    assert await query(wsettings, "SELECT COUNT(*) FROM dhan_ticks WHERE exchange_segment <> 'NSE_FNO'") == [(0,)]


async def test_a_row_mysql_refuses_is_bisected_out_and_dead_lettered(
    wsettings: Settings, wredis: aioredis.Redis
) -> None:
    # A dhan_ticks without its catch-all pmax (not made by dhan db init): a trade past the last partition has
    # no place (MySQL 1526). That one entry is dead-lettered; the batch around it is written.
    await query(wsettings, "DROP TABLE dhan_ticks")
    await query(
        wsettings,
        "CREATE TABLE dhan_ticks (exchange_segment VARCHAR(16) NOT NULL, security_id INT UNSIGNED NOT NULL, "
        "trade_date DATE NOT NULL, cum_volume BIGINT UNSIGNED NOT NULL, ltp DECIMAL(18,4) NOT NULL, "
        "qty BIGINT UNSIGNED NOT NULL, ltq INT UNSIGNED NULL, exchange_ts INT UNSIGNED NOT NULL, "
        "exchange_time_ist DATETIME NOT NULL, recv_ts DECIMAL(17,6) NOT NULL, oi BIGINT UNSIGNED NULL, "
        "side CHAR(1) NOT NULL DEFAULT '', side_rule CHAR(1) NOT NULL DEFAULT '', bid DECIMAL(18,4) NULL, "
        "ask DECIMAL(18,4) NULL, "
        "PRIMARY KEY (exchange_segment, security_id, trade_date, cum_volume)) ENGINE=InnoDB "
        "PARTITION BY RANGE COLUMNS (trade_date) (PARTITION p1 VALUES LESS THAN ('2027-01-01'))",
    )
    settings = wsettings.replaced(writer_batch_max=50)
    far = tick(2, 5, ts=BASE_TS + 400 * 86_400)  # 2027-12-30: no partition holds it
    events = [*[tick(1, v, qty=1) for v in range(1, 21)], far, *[tick(1, v, qty=1) for v in range(21, 41)]]
    ids = await xadd(wredis, settings, "ticks", events)
    writer = await drain(settings)
    assert await count(settings, "dhan_ticks") == 40
    [(meta, payload)] = await _dead_letters(wredis, settings)
    assert meta["id"] == ids[20].decode() and meta["reason"].startswith("rejected by MySQL: MySQL 1526")
    assert payload == orjson.dumps(far) and writer.stats.dead_letters == 1
    assert await group_pending(wredis, settings) == 0
