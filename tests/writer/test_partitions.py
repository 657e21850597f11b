"""Partition maintenance failing for real: the lock held by another session, a dhan_ticks without pmax.

Neither may end the writer (its routine retries with backoff); each raises one alert in the shared format,
which the Control Center's reader shows, and a success afterwards resolves it.
"""

from __future__ import annotations

import orjson
import pymysql
import redis.asyncio as aioredis

from control.center.alerts_feed import AlertFeed
from shared.keys import Keys
from shared.schema import PARTITION_LOCK
from shared.settings import Settings
from tests.conftest import eventually
from writer.alerts import RULE_PARTITIONS

from .conftest import count, query, running_writer, tick, xadd


def _connect(settings: Settings) -> pymysql.connections.Connection:
    kw = {k: v for k, v in settings.mysql.target.connect_kwargs(with_db=False).items() if k != "autocommit"}
    return pymysql.connect(autocommit=True, database=settings.mysql.target.database, **kw)


async def _alerts(client: aioredis.Redis, settings: Settings) -> list[dict]:
    return [orjson.loads(f[b"d"]) for _, f in await client.xrange(Keys(settings.redis.key_prefix).alerts)]


async def test_lock_held_elsewhere_is_retried_under_one_alert_resolved_by_the_next_success(
    wsettings: Settings, wredis: aioredis.Redis
) -> None:
    settings = wsettings.replaced(writer_partition_lock_timeout_s=1)
    holder = _connect(settings)  # e.g. a dhan db init in progress, for longer than the writer waits
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT GET_LOCK(%s, 10)", (PARTITION_LOCK,))
            assert cur.fetchone() == (1,)
        async with running_writer(settings) as writer:
            await eventually(lambda: writer.stats.partition_failures >= 2, timeout_s=20, message="retried")
            [alert] = await _alerts(wredis, settings)  # once per incident, however many attempts
            assert (alert["rule"], alert["state"], alert["severity"]) == (RULE_PARTITIONS, "firing", "warning")
            assert "held the partition maintenance lock for 1s" in alert["detail"]
            await xadd(wredis, settings, "ticks", [tick(1, 5)])  # the writer writes meanwhile
            await eventually(lambda: count(settings, "dhan_ticks"), message="tick written")
            with holder.cursor() as cur:
                cur.execute("SELECT RELEASE_LOCK(%s)", (PARTITION_LOCK,))

            async def resolved() -> bool:
                return [a["state"] for a in await _alerts(wredis, settings)] == ["firing", "resolved"]

            await eventually(resolved, timeout_s=20, message="alert resolved")
            assert writer.state == "running" and writer.metrics()["partition_failures_total"] >= 2
    finally:
        holder.close()
    feed = AlertFeed(wredis, Keys(settings.redis.key_prefix))
    await feed.load_backlog()
    [row] = feed.rows()
    assert (row.rule, row.state, len(row.history)) == (RULE_PARTITIONS, "resolved", 2)
    assert row.detail.startswith("dhan_ticks partition maintenance failed")


async def test_a_table_without_pmax_raises_a_critical_alert_and_the_writer_keeps_writing(
    wsettings: Settings, wredis: aioredis.Redis
) -> None:
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
        "PARTITION BY RANGE COLUMNS (trade_date) (PARTITION p1 VALUES LESS THAN ('2030-01-01'))",
    )
    async with running_writer(wsettings) as writer:
        await eventually(lambda: writer.stats.partition_failures >= 1, timeout_s=20, message="maintenance failed")
        await eventually(lambda: _alerts(wredis, wsettings), message="alert published")
        [alert] = await _alerts(wredis, wsettings)
        assert (alert["rule"], alert["state"], alert["severity"]) == (RULE_PARTITIONS, "firing", "critical")
        assert "has no pmax partition" in alert["detail"]
        await xadd(wredis, wsettings, "ticks", [tick(1, 5), tick(1, 6)])
        await eventually(lambda: _rows(wsettings, 2), message="ticks written")
        assert writer.state == "running"


async def _rows(settings: Settings, n: int) -> bool:
    return await count(settings, "dhan_ticks") == n
