"""Redis or MySQL unreachable: the window says so, keeps painting, retries, and recovers."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from PyQt6.QtCore import QTimer
from structlog.testing import capture_logs

from shared.db import init_schema
from shared.keys import Keys
from shared.settings import Settings
from tests.conftest import PrivateRedis, eventually, free_port, make_settings
from tests.viz.helpers import open_window, quote, record, run_qt, store, write_universe, xadd


async def qt_timer_fires(ms: int = 5) -> None:
    """Resolves when a Qt timer fires: the UI thread is free (not blocked by a retry)."""
    fired = asyncio.get_running_loop().create_future()
    QTimer.singleShot(ms, lambda: fired.done() or fired.set_result(True))
    await fired


def test_redis_unreachable_is_reported_and_retried(qt_state: Any) -> None:
    from viz.windows.volume_profile import VolumeProfileWindow

    settings = make_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")

    async def scenario() -> None:
        async with open_window(VolumeProfileWindow, settings) as w:
            await eventually(lambda: w.status_model.redis.ok is False, timeout_s=15)
            w.refresh_status()
            text = w.status_label.text()
            assert "Redis: UNREACHABLE (connection refused), retrying in" in text
            assert f"at redis://127.0.0.1:{settings.redis.url.get_secret_value().rsplit(':', 1)[1]}" in text
            assert "start Redis or set DHAN_REDIS_URL" in text
            await eventually(lambda: w.status_model.redis.retry_at is not None)
            await qt_timer_fires()
            first = w.status_model.redis.retry_at
            await eventually(lambda: w.status_model.redis.retry_at != first, timeout_s=15, message="a second attempt")

    run_qt(scenario)


def test_mysql_schema_missing_then_created(db_settings: Settings, qt_state: Any) -> None:
    from viz.windows.quote_board import QuoteBoardWindow

    settings = db_settings  # its database does not exist yet

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        keys = Keys(settings.redis.key_prefix)
        await write_universe(redis, keys, [record("NSE_FNO", 1, "NIFTY-FUT", custom="NIFTY JUN FUT")])
        try:
            async with open_window(QuoteBoardWindow, settings) as w:
                await eventually(lambda: w.status_model.mysql.ok is False, timeout_s=15)
                assert "does not exist: run dhan db init" in w.status_model.mysql.error
                assert w.status_model.redis.ok is True and not w.loaded.is_set()
                await qt_timer_fires()
                await init_schema(settings)
                await store(settings, redis, "quotes", [quote("NSE_FNO", 1, 26000.0, close=25900.0)])
                await eventually(lambda: w.loaded.is_set(), timeout_s=30, message="recovered after db init")
                assert w.status_model.mysql.ok and w.board.rows["NSE_FNO:1"].ltp == 26000.0
        finally:
            keys_left = [k async for k in redis.scan_iter(match=f"{settings.redis.key_prefix}*")]
            if keys_left:
                await redis.delete(*keys_left)
            await redis.aclose()

    run_qt(scenario)


def test_redis_outage_during_live(sync_db: Settings, private_redis: PrivateRedis, qt_state: Any) -> None:
    from viz.windows.quote_board import QuoteBoardWindow

    settings = make_settings(
        redis_url=private_redis.url, mysql_url=sync_db.mysql.url.get_secret_value(), key_prefix=sync_db.redis.key_prefix
    )

    async def seed() -> aioredis.Redis:
        redis = aioredis.Redis.from_url(private_redis.url)
        await write_universe(redis, Keys(settings.redis.key_prefix),
                             [record("NSE_FNO", 1, "NIFTY-FUT", custom="NIFTY FUT")])
        return redis

    async def scenario() -> None:
        redis = await seed()
        await store(settings, redis, "quotes", [quote("NSE_FNO", 1, 26000.0, close=25900.0)])
        await redis.aclose()
        async with open_window(QuoteBoardWindow, settings) as w:
            await eventually(lambda: w.loaded.is_set(), timeout_s=20)
            private_redis.stop()
            await eventually(lambda: w.status_model.redis.ok is False, timeout_s=20, message="outage seen")
            await qt_timer_fires()
            private_redis.start()  # comes back empty (no persistence): the feed would rewrite the universe
            redis = await seed()
            await eventually(lambda: w.status_model.redis.ok is True and w.status_model.phase == "live", timeout_s=30)
            await xadd(redis, Keys(settings.redis.key_prefix).quotes, [quote("NSE_FNO", 1, 26010.0, volume=500)])
            await eventually(lambda: w.board.rows["NSE_FNO:1"].ltp == 26010.0, timeout_s=20)
            await redis.aclose()

    run_qt(scenario)


async def test_cancel_is_not_mistaken_for_an_outage() -> None:
    """redis-py may turn a cancelled read into ConnectionError once its connection closes: still a stop."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    from viz.data.link import DataLink
    from viz.models.status import StatusModel

    status = StatusModel()
    link = DataLink(make_settings(), status)
    started = asyncio.Event()
    runs = 0

    async def routine() -> None:
        nonlocal runs
        runs += 1
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RedisConnectionError("Connection closed by server.") from None

    task = asyncio.create_task(link.run_forever(routine, "test"))
    await started.wait()
    assert not await link.cancel_and_close([task], grace_s=1.0, deadline_s=1.0)
    assert task.cancelled() and runs == 1 and status.redis.ok is None  # no retry, no outage reported


def test_first_frame_with_data_shows_a_current_status_bar(sync_db: Settings, qt_state: Any) -> None:
    # A screen grab taken when the window reports its data drawn (viz_loaded) must not show "starting".
    from viz.windows.quote_board import QuoteBoardWindow

    settings = sync_db

    async def scenario() -> None:
        redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
        await write_universe(redis, Keys(settings.redis.key_prefix),
                             [record("NSE_FNO", 1, "NIFTY-FUT", custom="NIFTY FUT")])
        await store(settings, redis, "quotes", [quote("NSE_FNO", 1, 26000.0, close=25900.0)])
        await redis.aclose()
        with capture_logs() as logs:
            async with open_window(QuoteBoardWindow, settings) as w:
                w._status_timer.stop()  # the periodic refresh would hide whether the load itself refreshes it
                await eventually(lambda: w.loaded.is_set(), timeout_s=20, message="history painted")
                text = w.status_label.text()
                assert "Redis: connected" in text and "MySQL: connected" in text, text
                await eventually(lambda: any(e["event"] == "viz_loaded" for e in logs), message="viz_loaded")
                w.mark_loaded()  # a later reload is painted again but not announced again
                w.frame()
                await qt_timer_fires()
        assert [e["window"] for e in logs if e["event"] == "viz_loaded"] == ["quote-board"]

    run_qt(scenario)
