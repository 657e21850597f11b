"""Events, a step-by-step writer (the real group protocol and the writer's own MySQL code path), Qt loop runner."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import orjson
import redis.asyncio as aioredis

from shared.events import EVENT_FIELD
from shared.keys import Keys
from shared.settings import Settings

T = TypeVar("T")

DAY = 1_780_012_800  # a Dhan-epoch midnight (multiple of 86400): 2026-05-29
OPEN = DAY + 9 * 3600 + 15 * 60


def tick(seg: str, sid: int, cum: int, ltp: float, qty: int, ets: int, side: str = "B") -> dict[str, Any]:
    return {
        "v": 1,
        "seg": seg,
        "sid": sid,
        "ltp": ltp,
        "qty": qty,
        "ltq": qty,
        "volume": cum,
        "exchange_ts": ets,
        "oi": None,
        "side": side,
        "bid": ltp - 0.05,
        "ask": ltp + 0.05,
        "recv_ts": ets - 19800 + 0.25,
    }


def ticks_run(
    seg: str, sid: int, prices: Sequence[float], *, start_cum: int = 0, qty: int = 50, ets: int = OPEN, step_s: int = 7
) -> list[dict[str, Any]]:
    out, cum = [], start_cum
    for i, p in enumerate(prices):
        cum += qty + i % 3
        out.append(tick(seg, sid, cum, p, qty + i % 3, ets + i * step_s, "BS"[i % 2] if i % 5 else ""))
    return out


def quote(
    seg: str,
    sid: int,
    ltp: float,
    *,
    volume: int = 100,
    ets: int = OPEN,
    close: float | None = None,
    oi: int | None = None,
    prev_oi: int | None = None,
    bid: float | None = None,
    ask: float | None = None,
    recv_ts: float | None = None,
) -> dict[str, Any]:
    return {
        "v": 1,
        "seg": seg,
        "sid": sid,
        "ltp": ltp,
        "ltq": 1,
        "exchange_ts": ets,
        "atp": ltp,
        "volume": volume,
        "tsq": 0,
        "tbq": 0,
        "oi": oi,
        "oi_high": None,
        "oi_low": None,
        "open": ltp,
        "close": close,
        "high": ltp,
        "low": ltp,
        "prev_close": close,
        "prev_oi": prev_oi,
        "bid": bid,
        "ask": ask,
        "recv_ts": recv_ts if recv_ts is not None else ets - 19800 + 0.5,
        "src": "test",
    }


async def xadd(redis: aioredis.Redis, stream: str, events: Sequence[dict[str, Any]]) -> list[bytes]:
    pipe = redis.pipeline(transaction=False)
    for ev in events:
        pipe.xadd(stream, {EVENT_FIELD: orjson.dumps(ev)})
    return list(await pipe.execute())


async def write_universe(redis: aioredis.Redis, keys: Keys, records: Sequence[dict[str, Any]]) -> None:
    await redis.hset(keys.universe, mapping={f"{r['seg']}:{r['sid']}": orjson.dumps(r) for r in records})


def record(
    seg: str,
    sid: int,
    symbol: str,
    *,
    role: str = "future",
    underlying: str = "NIFTY",
    instrument: str = "FUTIDX",
    expiry: str | None = "2026-06-25",
    strike: float | None = None,
    option_type: str | None = None,
    tick_size: float = 0.05,
    custom: str = "",
) -> dict[str, Any]:
    return {
        "seg": seg,
        "sid": sid,
        "symbol": symbol,
        "custom_symbol": custom or symbol,
        "underlying": underlying,
        "instrument": instrument,
        "expiry": expiry,
        "strike": strike,
        "option_type": option_type,
        "lot_size": 75,
        "tick_size": tick_size,
        "role": role,
        "mode": "full",
    }


class StepWriter:
    """The writer's protocol by hand: XREADGROUP in group ``writer``, commit through the writer's own
    batch builder and MySQL sink, then XACK: so tests can stop between any two steps."""

    def __init__(self, settings: Settings, redis: aioredis.Redis, kind: str = "ticks") -> None:
        from writer.batch import BatchBuilder
        from writer.sink import MySQLSink

        self.keys = Keys(settings.redis.key_prefix)
        self.stream = self.keys.stream(kind)
        self.kind = kind
        self.redis = redis
        self.sink = MySQLSink(settings)
        self.builder = BatchBuilder()

    async def __aenter__(self) -> StepWriter:
        await self.sink.open()
        try:
            await self.redis.xgroup_create(self.stream, Keys.WRITER_GROUP, id="0", mkstream=True)
        except Exception as exc:  # BUSYGROUP: already there
            if "BUSYGROUP" not in str(exc):
                raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sink.close()

    async def deliver(self, count: int, consumer: str = "w1") -> list[tuple[bytes, bytes]]:
        reply = await self.redis.xreadgroup(Keys.WRITER_GROUP, consumer, {self.stream: ">"}, count=count)
        return [(eid, fields[EVENT_FIELD]) for _, entries in reply for eid, fields in entries]

    async def commit(self, entries: list[tuple[bytes, bytes]], *, ack: bool = True) -> None:
        from writer.batch import Entry

        batch = self.builder.build([Entry(self.kind, eid, payload) for eid, payload in entries])
        assert not batch.poison, batch.poison
        await self.sink.write(batch)
        if ack and entries:
            await self.redis.xack(self.stream, Keys.WRITER_GROUP, *[eid for eid, _ in entries])

    async def write_all(self, consumer: str = "w1") -> int:
        n = 0
        while entries := await self.deliver(1000, consumer):
            await self.commit(entries)
            n += len(entries)
        return n


def run_qt(fn: Callable[[], Awaitable[T]], *, timeout_s: float = 60.0) -> T:
    """Run ``fn()`` on a qasync loop (the windows' loop), as ``viz.boot`` does, with a deadline."""
    import qasync
    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["test"])
    assert app is not None

    async def bounded() -> T:
        return await asyncio.wait_for(fn(), timeout_s)

    with asyncio.Runner(loop_factory=qasync.QEventLoop) as runner:
        return runner.run(bounded())


def greeks_event(
    seg: str,
    sid: int,
    strike: float,
    option_type: str,
    iv: float,
    *,
    ets: int = OPEN,
    underlying_price: float = 26000.0,
    expiry: str = "2026-06-25",
) -> dict[str, Any]:
    return {
        "v": 1,
        "seg": seg,
        "sid": sid,
        "underlying_seg": "NSE_FNO",
        "underlying_sid": 35001,
        "strike": strike,
        "option_type": option_type,
        "expiry": expiry,
        "price": 100.0,
        "underlying_price": underlying_price,
        "iv": iv,
        "delta": 0.5 if option_type == "CE" else -0.5,
        "gamma": 0.001,
        "vega": 12.5,
        "theta": -8.0,
        "rho": 1.0,
        "exchange_ts": ets,
        "recv_ts": ets - 19800 + 0.75,
    }


def depth_event(seg: str, sid: int, mid: float, *, ets: int = OPEN) -> dict[str, Any]:
    return {
        "v": 1,
        "seg": seg,
        "sid": sid,
        "exchange_ts": ets,
        "recv_ts": ets - 19800 + 0.5,
        "bids": [[round(mid - 0.05 * (i + 1), 2), 100 * (i + 1), i + 1] for i in range(5)],
        "asks": [[round(mid + 0.05 * (i + 1), 2), 90 * (i + 1), i + 2] for i in range(5)],
    }


async def store(settings: Settings, redis: aioredis.Redis, kind: str, events: Sequence[dict[str, Any]]) -> list[bytes]:
    """XADD events and run them through the writer path into MySQL (delivered, committed, acked)."""
    keys = Keys(settings.redis.key_prefix)
    ids = await xadd(redis, keys.stream(kind), events)
    async with StepWriter(settings, redis, kind) as w:
        await w.write_all()
    return ids


class open_window:
    """Build, show and start a window as ``viz.boot`` does; close and shut it down after the block."""

    def __init__(self, cls: type, settings: Settings, **options: Any) -> None:
        from viz.windows.base import VizOptions

        self.window = cls(settings, VizOptions(**options))

    async def __aenter__(self) -> Any:
        self.window.show()
        await self.window.start()
        return self.window

    async def __aexit__(self, *exc: object) -> None:
        self.window.close()
        await self.window.stop()
