"""Load for bench/viz_frames.py: a 200-instrument universe, stored history, and a producer process.

The producer XADDs quotes for all instruments, trades (a third of them on the NIFTY future), greeks and
depth at a given total rate, continuing cumulative volumes above ``start_cum`` (a lower one would be a
duplicate to the windows and dropped, as it should be).
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis

from shared.db import init_schema
from shared.settings import Settings
from writer.batch import BatchBuilder, Entry
from writer.sink import MySQLSink

__all__ = ["OPEN", "produce", "seed", "universe"]

OPEN = int(time.time()) + 19_800  # Dhan epoch now: today's session on the machine's clock
OPEN -= OPEN % 86_400 - (9 * 3600 + 15 * 60)  # 09:15 today


def universe() -> list[dict[str, Any]]:
    def rec(seg: str, sid: int, sym: str, **kw: Any) -> dict[str, Any]:
        base = {
            "seg": seg,
            "sid": sid,
            "symbol": sym,
            "custom_symbol": kw.pop("custom", sym),
            "underlying": "NIFTY",
            "instrument": "FUTIDX",
            "expiry": "2099-01-29",
            "strike": None,
            "option_type": None,
            "lot_size": 75,
            "tick_size": 0.1,
            "role": "future",
            "mode": "full",
        }
        base.update(kw)
        return base

    out = [
        rec("IDX_I", 13, "NIFTY", role="index", instrument="INDEX", expiry=None, tick_size=0.05),
        rec("IDX_I", 25, "BANKNIFTY", role="index", instrument="INDEX", expiry=None, underlying="BANKNIFTY"),
    ]
    out += [
        rec("NSE_FNO", 35001 + i, f"FUT{i}", custom=f"{u} FUT {i}", underlying=u, expiry=f"2099-0{1 + i // 2}-29")
        for i, u in enumerate(("NIFTY", "BANKNIFTY", "NIFTY", "BANKNIFTY"))
    ]
    out += [
        rec(
            "NSE_EQ",
            1000 + i,
            f"STK{i:02d}",
            role="equity",
            instrument="EQUITY",
            expiry=None,
            underlying=f"STK{i:02d}",
            tick_size=0.05,
        )
        for i in range(50)
    ]
    for i in range(72):
        strike = 24200.0 + 50 * i
        for j, t in enumerate(("CE", "PE")):
            out.append(
                rec(
                    "NSE_FNO",
                    40000 + 2 * i + j,
                    f"NIFTY{strike:.0f}{t}",
                    role="option",
                    instrument="OPTIDX",
                    strike=strike,
                    option_type=t,
                    custom=f"NIFTY {strike:.0f} {t}",
                    tick_size=0.05,
                )
            )
    return out


def _price(rec: dict[str, Any], rng: random.Random, level: float) -> float:
    if rec["role"] == "option":
        k = rec["strike"]
        intrinsic = max(0.0, level - k) if rec["option_type"] == "CE" else max(0.0, k - level)
        return float(round(intrinsic + 80 * math.exp(-abs(level - k) / 400) + rng.random(), 1))
    if rec["role"] == "equity":
        return float(round(1000 + rec["sid"] % 50 * 37 + rng.uniform(-20, 20), 1))
    return round(level + (300 if "BANK" in rec["underlying"] else 0) + rng.uniform(-2, 2), 1)


def produce(redis_url: str, prefix: str, rate: float, stop_at: float, start_cum: int, start_ets: int) -> None:
    """Producer process: quotes for all instruments, trades (a third on the NIFTY future), greeks, depth."""
    client = redis.Redis.from_url(redis_url)
    recs = universe()
    rng = random.Random(5)
    level, cum = 26000.0, dict.fromkeys((r["sid"] for r in recs), start_cum)
    vol: dict[int, int] = dict.fromkeys((r["sid"] for r in recs), start_cum)  # quotes move forward too
    ets = start_ets
    batch_s = 0.02
    while time.time() < stop_at:
        t0 = time.time()
        pipe = client.pipeline(transaction=False)
        n = max(1, int(rate * batch_s))
        level += rng.uniform(-1, 1)
        ets += 1 if rng.random() < 0.05 else 0
        for k in range(n):
            rec = rng.choice(recs) if k % 3 else recs[2]
            px = _price(rec, rng, level)
            seg, sid = rec["seg"], rec["sid"]
            kind = k % 10
            if kind < 5:
                vol[sid] += rng.randint(1, 50)
                ev = {
                    "v": 1,
                    "seg": seg,
                    "sid": sid,
                    "ltp": px,
                    "ltq": 1,
                    "exchange_ts": ets,
                    "atp": px,
                    "volume": vol[sid],
                    "tsq": 1,
                    "tbq": 1,
                    "oi": 1000 + vol[sid] // 10,
                    "oi_high": None,
                    "oi_low": None,
                    "open": px,
                    "close": px - 5,
                    "high": px,
                    "low": px,
                    "prev_close": px - 5,
                    "prev_oi": 1000,
                    "bid": px - 0.1,
                    "ask": px + 0.1,
                    "recv_ts": time.time(),
                    "src": "bench",
                }
                pipe.xadd(f"{prefix}quotes", {"d": orjson.dumps(ev)})
            elif kind < 8:
                q = rng.randint(1, 100)
                cum[sid] += q
                ev = {
                    "v": 1,
                    "seg": seg,
                    "sid": sid,
                    "ltp": px,
                    "qty": q,
                    "ltq": q,
                    "volume": cum[sid],
                    "exchange_ts": ets,
                    "oi": None,
                    "side": rng.choice("BS"),
                    "bid": px - 0.1,
                    "ask": px + 0.1,
                    "recv_ts": time.time(),
                }
                pipe.xadd(f"{prefix}ticks", {"d": orjson.dumps(ev)})
            elif kind == 8 and rec["role"] == "option":
                ev = {
                    "v": 1,
                    "seg": seg,
                    "sid": sid,
                    "underlying_seg": "NSE_FNO",
                    "underlying_sid": 35001,
                    "strike": rec["strike"],
                    "option_type": rec["option_type"],
                    "expiry": rec["expiry"],
                    "price": px,
                    "underlying_price": level,
                    "iv": 0.12 + abs(rec["strike"] - level) / 20000,
                    "delta": 0.5,
                    "gamma": 0.001,
                    "vega": 1200.0,
                    "theta": -3000.0,
                    "rho": 1.0,
                    "exchange_ts": ets,
                    "recv_ts": time.time(),
                }
                pipe.xadd(f"{prefix}greeks", {"d": orjson.dumps(ev)})
            else:
                ev = {
                    "v": 1,
                    "seg": seg,
                    "sid": sid,
                    "exchange_ts": ets,
                    "recv_ts": time.time(),
                    "bids": [[px - 0.1 * (i + 1), 100, 2] for i in range(5)],
                    "asks": [[px + 0.1 * (i + 1), 100, 2] for i in range(5)],
                }
                pipe.xadd(f"{prefix}depth", {"d": orjson.dumps(ev)})
        pipe.execute()
        time.sleep(max(0.0, batch_s - (time.time() - t0)))


async def seed(
    settings: Settings, history: int, prior_days: int = 0, day_offsets: tuple[float, ...] = (0, -40, 80, -120)
) -> tuple[int, int]:
    """Universe, stored quotes/greeks, and ``history`` trades of the NIFTY future through the writer's path;
    as many trades on each of ``prior_days`` earlier days (the charts' previous sessions), the walk of ``k``
    days ago starting ``day_offsets[k]`` away from today's."""
    await init_schema(settings)
    redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
    recs = universe()
    await redis.hset(
        f"{settings.redis.key_prefix}universe", mapping={f"{r['seg']}:{r['sid']}": orjson.dumps(r) for r in recs}
    )
    sink, builder = MySQLSink(settings), BatchBuilder()
    await sink.open()
    rng = random.Random(3)
    entries = []
    for day in range(prior_days, -1, -1):  # the earlier days first, today last
        px, cum = 26000.0 + day_offsets[day % len(day_offsets)], 0
        for i in range(history):
            px = round(px + rng.choice((-0.1, 0, 0.1)) * rng.randint(1, 3), 1)
            q = rng.randint(1, 100)
            cum += q
            ev = {
                "v": 1,
                "seg": "NSE_FNO",
                "sid": 35001,
                "ltp": px,
                "qty": q,
                "ltq": q,
                "volume": cum,
                "exchange_ts": OPEN - day * 86_400 + i * 20_000 // max(history, 1),
                "oi": None,
                "side": rng.choice("BS"),
                "bid": px - 0.1,
                "ask": px + 0.1,
                "recv_ts": time.time(),
            }
            entries.append(Entry("ticks", b"%d-0" % (i + 1), orjson.dumps(ev)))
    for r in recs:
        quote_ev = {
            "v": 1,
            "seg": r["seg"],
            "sid": r["sid"],
            "ltp": _price(r, rng, 26000.0),
            "ltq": 1,
            "exchange_ts": OPEN,
            "atp": None,
            "volume": 1000,
            "tsq": None,
            "tbq": None,
            "oi": 900,
            "oi_high": None,
            "oi_low": None,
            "open": None,
            "close": 100.0,
            "high": None,
            "low": None,
            "prev_close": 100.0,
            "prev_oi": 800,
            "bid": None,
            "ask": None,
            "recv_ts": time.time(),
            "src": "bench",
        }
        entries.append(Entry("quotes", b"0-1", orjson.dumps(quote_ev)))
    for k in range(0, len(entries), 5000):
        await sink.write(builder.build(entries[k : k + 5000]))
    await sink.close()
    await redis.aclose()
    return cum, OPEN + 20_000
