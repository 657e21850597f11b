"""A recorded-looking session of one instrument's 20-level books and trades, from the simulator's book model.

For benchmarks and screenshots: :func:`session` steps a :class:`feed.sim.book.SimInstrument` (the top five
levels) and its :class:`feed.sim.deep.DeepBook` (levels 6 to 200) along a random walk, as the simulator does,
and returns the ``dhan:depth20`` events (FEATURES.md shape) and ``dhan:ticks`` events of that walk. Seeded:
the same arguments give the same session.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis

from feed.sim.book import KIND_FUTURE, SimInstrument
from feed.sim.deep import DeepBook
from shared.events import EVENT_FIELD
from shared.keys import Keys
from shared.settings import Settings
from writer.service import WriterService

__all__ = ["UNIVERSE_RECORD", "Session", "seed", "session"]


@dataclass(frozen=True, slots=True)
class Session:
    books: list[dict[str, Any]]  # dhan:depth20 events, in time order
    trades: list[dict[str, Any]]  # dhan:ticks events, in time order


def session(
    *, start: float, seconds: float, rate: float = 20.0, seg: str = "NSE_FNO", sid: int = 35001,
    price: float = 26046.9, tick: float = 0.1, lot: int = 75, vol_per_s: float = 0.00006, seed: int = 7,
    levels: int = 20,
) -> Session:  # fmt: skip
    """Books at ``rate`` a second for ``seconds`` from true epoch ``start``; a trade on about 3 updates in 4."""
    rng = random.Random(seed)
    inst = SimInstrument(2, sid, KIND_FUTURE, tick, lot)
    inst.spread_ticks = 1
    inst.open_day(rng, price, int(start) + 19_800, price, 1_000_000)
    deep = DeepBook(inst, seed)
    books: list[dict[str, Any]] = []
    trades: list[dict[str, Any]] = []
    log_mid, step_sigma = math.log(price), vol_per_s / math.sqrt(rate)
    n = int(seconds * rate)
    for i in range(n):
        t = start + i / rate + rng.random() * 0.2 / rate
        log_mid += rng.gauss(0.0, step_sigma)
        before = inst.volume
        traded, _ = inst.step(rng, math.exp(log_mid), int(t) + 19_800)
        deep.step(inst)
        bids = [[round(p, 2), q, o] for p, q, o in deep.rows(inst, bid=True, levels=levels)]
        asks = [[round(p, 2), q, o] for p, q, o in deep.rows(inst, bid=False, levels=levels)]
        books.append({"v": 1, "seg": seg, "sid": sid, "levels": levels, "seq": deep.sequence, "recv_ts": t,
                      "bids": bids, "asks": asks})  # fmt: skip
        if traded:
            ltp = round(inst.ltp, 2)
            side = "B" if ltp >= asks[0][0] else "S"
            trades.append({
                "v": 1, "seg": seg, "sid": sid, "ltp": ltp, "qty": inst.volume - before, "ltq": inst.ltq,
                "volume": inst.volume, "exchange_ts": int(t) + 19_800, "oi": inst.oi, "side": side,
                "bid": bids[0][0], "ask": asks[0][0], "recv_ts": t,
            })  # fmt: skip
    return Session(books, trades)


UNIVERSE_RECORD: dict[str, Any] = {
    "seg": "NSE_FNO", "sid": 35001, "symbol": "NIFTY-Dec2026-FUT", "custom_symbol": "NIFTY DEC FUT",
    "underlying": "NIFTY", "instrument": "FUTIDX", "expiry": "2026-12-29", "strike": None, "option_type": None,
    "lot_size": 75, "tick_size": 0.1, "role": "future", "mode": "full",
}  # fmt: skip


async def seed(settings: Settings, demo: Session, *, stored: int | None = None) -> None:
    """Put a session where the depth window reads it: the universe (the NIFTY future), the books and trades
    in their streams, and the first ``stored`` books (all by default) and their trades written to MySQL by
    a writer in drain mode (the rest stay in the streams, for the seam's catch-up)."""


    keys = Keys(settings.redis.key_prefix)
    books = demo.books if stored is None else demo.books[:stored]
    cut = books[-1]["recv_ts"] if books else 0.0
    trades = [t for t in demo.trades if t["recv_ts"] <= cut]
    client = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
    try:
        await client.hset(keys.universe, mapping={"NSE_FNO:35001": orjson.dumps(UNIVERSE_RECORD)})
        for stream, events in ((keys.depth20, books), (keys.ticks, trades)):
            for start in range(0, len(events), 2000):
                pipe = client.pipeline(transaction=False)
                for ev in events[start : start + 2000]:
                    pipe.xadd(stream, {EVENT_FIELD: orjson.dumps(ev)})
                await pipe.execute()
        # no health endpoint: a stack on this machine may hold the writer's port
        code = await WriterService(settings.replaced(health_port_base=0), drain=True).serve()
        if code != 0:
            raise RuntimeError(f"the writer exited with {code}")
        rest_b = demo.books[len(books):]
        rest_t = [t for t in demo.trades if t["recv_ts"] > cut]
        for stream, events in ((keys.depth20, rest_b), (keys.ticks, rest_t)):
            pipe = client.pipeline(transaction=False)
            for ev in events:
                pipe.xadd(stream, {EVENT_FIELD: orjson.dumps(ev)})
            await pipe.execute()
    finally:
        await client.aclose()
