"""The OI window's day replay from ``dhan_candles_1m`` equals the replay from every stored trade.

Ticks go through the writer's own path (which keeps the candles in the ticks' transaction); the reference is
the read the window made before the candles existed: each contract's last trade of each minute, from
``dhan_ticks``.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import redis.asyncio as aioredis

from shared.db import create_pool
from shared.events import instrument_key
from shared.settings import Settings
from tests.viz.helpers import DAY, OPEN, store, tick
from viz.data import history
from viz.models.contracts import OptionSpec
from viz.models.oi import OiChainModel
from viz.models.oi_day import MinuteRow, OiDay, replay_minutes

Env = tuple[Settings, aioredis.Redis]
SEG = "NSE_FNO"
STRIKES = (100.0, 110.0, 120.0)
SIDS = {(k, t): 1 + 2 * i + (t == "PE") for i, k in enumerate(STRIKES) for t in ("CE", "PE")}
TRADE_MINUTES_SQL = (  # the last trade of each contract in each minute, from every trade
    "SELECT t.exchange_segment, t.security_id, t.exchange_ts, t.oi, t.cum_volume FROM dhan_ticks AS t JOIN ("
    "SELECT exchange_segment, security_id, MAX(cum_volume) AS cv FROM dhan_ticks "
    "WHERE trade_date = %s GROUP BY exchange_segment, security_id, exchange_ts DIV 60) AS m "
    "ON t.exchange_segment = m.exchange_segment AND t.security_id = m.security_id "
    "AND t.trade_date = %s AND t.cum_volume = m.cv"
)


def _specs() -> list[OptionSpec]:
    return [OptionSpec(instrument_key(SEG, sid), strike, kind) for (strike, kind), sid in SIDS.items()]


def _ticks() -> list[dict[str, Any]]:
    """A varied day: several trades in some minutes, minutes without a contract, an OI-less trade, a gap."""
    out: list[dict[str, Any]] = []
    for (strike, _kind), sid in SIDS.items():
        cum = 0
        for i in range(40):
            if (i + sid) % 4 == 0:
                continue  # this contract does not trade at this step
            qty = 25 * (1 + (i * sid) % 5)
            cum += qty
            ev = tick(SEG, sid, cum, strike / 10 + i * 0.05, qty, OPEN + i * 23 + sid + (i > 30) * 600)
            ev["oi"] = None if (i, sid) == (7, 2) else 75 * (1 + (i * (sid + 2)) % 31)
            out.append(ev)
    return out


def _replay(rows: list[MinuteRow]) -> OiDay:
    model, day = OiChainModel(), OiDay()
    model.set_contracts(_specs())
    replay_minutes(model, day, rows)
    return day


def _same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True))


async def test_candle_minutes_replay_the_day_as_the_trades_do(viz_db: Env) -> None:
    settings, redis = viz_db
    ticks = _ticks()
    yesterday = [tick(SEG, 1, 10, 9.0, 10, OPEN - 86_400 + 30)]  # another day: in neither read
    yesterday[0]["oi"] = 1
    await store(settings, redis, "ticks", yesterday + ticks[: len(ticks) // 2])
    await store(settings, redis, "ticks", ticks[len(ticks) // 2 :] + ticks[:5])  # a redelivery changes nothing
    today = date(1970, 1, 1) + timedelta(days=DAY // 86_400)  # the ticks' trading day
    pool = await create_pool(settings, maxsize=1)
    try:
        candles = await history.fetch_oi_minutes(pool, [(SEG, sid) for sid in SIDS.values()], today)
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(TRADE_MINUTES_SQL, (today, today))
            trades = [
                (instrument_key(r[0], r[1]), int(r[2]), None if r[3] is None else int(r[3]), int(r[4]))
                for r in await cur.fetchall()
            ]
            await conn.rollback()
        assert await history.fetch_oi_minutes(pool, [], today) == []
    finally:
        pool.close()
        await pool.wait_closed()
    assert len(trades) > 60 and any(r[2] is None for r in trades)  # a day worth comparing
    assert sorted(candles) == sorted((k, ets - ets % 60, oi, cum) for k, ets, oi, cum in trades)
    by_candles, by_trades = _replay(candles), _replay(trades)
    assert by_candles.minutes == by_trades.minutes and len(by_trades.minutes) > 10
    for name in ("pcr_oi", "pcr_volume", "max_pain"):
        assert _same(getattr(by_candles, name), getattr(by_trades, name)), name
    assert len(set(by_trades.pcr_oi)) > 3 and len(set(by_trades.max_pain)) > 1  # the series move
