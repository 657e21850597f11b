"""GreeksService on the real Redis: universe hash + quote stream in, dhan:greeks stream and channel out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from feed.greeks.black76 import price, year_fraction
from feed.greeks.service import GreeksService
from shared.clock import ist_trading_day, to_dhan_epoch
from shared.events import EVENT_FIELD, decode_batch, instrument_key
from shared.keys import Keys
from shared.settings import Settings
from tests.conftest import eventually

RATE = 0.065
SIGMA = 0.15


def instrument(
    sid: int,
    instrument: str,
    role: str,
    *,
    expiry: date | None = None,
    strike: float | None = None,
    option_type: str | None = None,
    underlying: str = "NIFTY",
    seg: str = "NSE_FNO",
) -> dict[str, Any]:
    """A universe record as the feed writes it (``feed.service.member_record``)."""
    return {
        "seg": seg,
        "sid": sid,
        "symbol": f"{underlying}-{sid}",
        "underlying": underlying,
        "instrument": instrument,
        "expiry": expiry.isoformat() if expiry else None,
        "strike": strike,
        "option_type": option_type,
        "lot_size": 65,
        "tick_size": 0.05,
        "role": role,
    }


def quote_event(seg: str, sid: int, ltp: float | None, at_utc: float, **extra: Any) -> dict[str, Any]:
    return {
        "v": 1,
        "seg": seg,
        "sid": sid,
        "ltp": ltp,
        "ltq": 65,
        "exchange_ts": to_dhan_epoch(at_utc),
        "atp": ltp,
        "volume": 1000,
        "tsq": 0,
        "tbq": 0,
        "oi": None,
        "oi_high": None,
        "oi_low": None,
        "open": None,
        "close": None,
        "high": None,
        "low": None,
        "prev_close": None,
        "prev_oi": None,
        "bid": None,
        "ask": None,
        "recv_ts": at_utc + 0.002,
        "src": 4,
        **extra,
    }


async def write_universe(r: aioredis.Redis, keys: Keys, records: Iterable[dict[str, Any]]) -> None:
    await r.hset(
        keys.universe, mapping={instrument_key(x["seg"], x["sid"]): orjson.dumps(x) for x in records}
    )


async def add_quotes(r: aioredis.Redis, keys: Keys, quotes: Iterable[dict[str, Any]]) -> list[bytes]:
    pipe = r.pipeline(transaction=False)
    for q in quotes:
        pipe.xadd(keys.quotes, {EVENT_FIELD: orjson.dumps(q)})
    return list(await pipe.execute())


async def read_greeks(r: aioredis.Redis, keys: Keys) -> list[dict[str, Any]]:
    return [orjson.loads(f[EVENT_FIELD]) for _, f in await r.xrange(keys.greeks)]


async def run_drained(settings: Settings, **kw: Any) -> GreeksService:
    kw.setdefault("group_start", "0")
    svc = GreeksService(settings, drain=True, **kw)
    code = await asyncio.wait_for(svc.serve(), 30)
    assert code == 0
    return svc


class Market:
    """A small NIFTY market: two futures, an option ladder on the near expiry, an equity and the index."""

    def __init__(self, now_utc: float | None = None) -> None:
        self.now = now_utc if now_utc is not None else time.time()
        today = ist_trading_day(self.now)
        self.near, self.next = today + timedelta(days=7), today + timedelta(days=35)
        self.fut_near = instrument(101, "FUTIDX", "future", expiry=self.near)
        self.fut_next = instrument(102, "FUTIDX", "future", expiry=self.next)
        self.equity = instrument(2885, "EQUITY", "equity", seg="NSE_EQ", underlying="RELIANCE")
        self.index = instrument(13, "INDEX", "index", seg="IDX_I")
        self.options: dict[tuple[float, str], dict[str, Any]] = {}
        sid = 1000
        for strike in (25_800.0, 25_900.0, 26_000.0, 26_100.0, 26_200.0):
            for ot in ("CE", "PE"):
                sid += 1
                self.options[(strike, ot)] = instrument(
                    sid, "OPTIDX", "option", expiry=self.near, strike=strike, option_type=ot
                )

    def records(self) -> list[dict[str, Any]]:
        return [self.fut_near, self.fut_next, self.equity, self.index, *self.options.values()]

    def option_quote(
        self,
        strike: float,
        ot: str,
        f: float,
        *,
        sigma: float = SIGMA,
        at: float | None = None,
        ltp: float | None = None,
    ) -> dict[str, Any]:
        at = self.now if at is None else at
        rec = self.options[(strike, ot)]
        t = year_fraction(self.near, int(at))
        premium = (
            ltp if ltp is not None else round(price(f, strike, t, RATE, sigma, ot == "CE") / 0.05) * 0.05
        )
        return quote_event("NSE_FNO", rec["sid"], round(premium, 2), at)


async def test_greeks_for_option_quotes_on_the_near_future(
    settings: Settings, redis_client: aioredis.Redis
) -> None:
    keys, m = Keys(settings.redis.key_prefix), Market()
    await write_universe(redis_client, keys, m.records())
    f = 26_046.95
    quotes = [quote_event("NSE_FNO", 102, 26_300.0, m.now), quote_event("NSE_FNO", 101, f, m.now)]
    quotes += [m.option_quote(k, ot, f) for (k, ot) in m.options]
    await add_quotes(redis_client, keys, quotes)

    pubsub = redis_client.pubsub()
    await pubsub.subscribe(keys.greeks)
    await run_drained(settings)

    events = await read_greeks(redis_client, keys)
    assert len(events) == len(m.options)
    t = year_fraction(m.near, int(m.now))
    for ev in events:
        assert set(ev) == {
            "v",
            "seg",
            "sid",
            "underlying_seg",
            "underlying_sid",
            "strike",
            "option_type",
            "expiry",
            "price",
            "underlying_price",
            "iv",
            "delta",
            "gamma",
            "vega",
            "theta",
            "rho",
            "exchange_ts",
            "recv_ts",
        }
        assert (ev["underlying_seg"], ev["underlying_sid"], ev["underlying_price"]) == ("NSE_FNO", 101, f)
        assert ev["expiry"] == m.near.isoformat() and ev["v"] == 1
        # tick rounding moves the premium by up to 0.025: in volatility that is 0.025 / vega
        assert ev["iv"] == pytest.approx(SIGMA, abs=0.025 / ev["vega"] + 1e-6)
        assert ev["exchange_ts"] == to_dhan_epoch(m.now)
        assert (ev["delta"] > 0) == (ev["option_type"] == "CE") and ev["gamma"] > 0 and ev["theta"] < 0
        assert ev["price"] == pytest.approx(
            price(f, ev["strike"], t, RATE, ev["iv"], ev["option_type"] == "CE"), abs=1e-3
        )
    # the same events went out on the channel, as JSON arrays
    published: list[dict[str, Any]] = []

    async def got_all() -> bool:
        msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if msg is not None:
            published.extend(decode_batch(msg["data"]))
        return len(published) >= len(events)

    await eventually(got_all, message="greeks batch on the channel")
    assert published == events
    await pubsub.aclose()


async def test_non_options_give_nothing_and_everything_is_acked(
    settings: Settings, redis_client: aioredis.Redis
) -> None:
    keys, m = Keys(settings.redis.key_prefix), Market()
    await write_universe(redis_client, keys, m.records())
    await add_quotes(
        redis_client,
        keys,
        [
            quote_event("NSE_FNO", 101, 26_000.0, m.now),
            quote_event("NSE_EQ", 2885, 1500.0, m.now),
            quote_event("IDX_I", 13, 25_990.0, m.now),
            quote_event("NSE_FNO", 424242, 5.0, m.now),  # not in universe
        ],
    )
    svc = await run_drained(settings)
    assert await redis_client.xlen(keys.greeks) == 0
    assert svc.quotes == 4 and svc.greeks == 0 and svc.unknown == 1
    pending = await redis_client.xpending(keys.quotes, "greeks")
    assert pending["pending"] == 0


async def test_price_below_intrinsic_is_null_iv_not_nan(
    settings: Settings, redis_client: aioredis.Redis
) -> None:
    keys, m = Keys(settings.redis.key_prefix), Market()
    await write_universe(redis_client, keys, m.records())
    await add_quotes(
        redis_client,
        keys,
        [
            quote_event("NSE_FNO", 101, 26_500.0, m.now),
            m.option_quote(25_800.0, "CE", 26_500.0, ltp=650.0),  # intrinsic 700 (discounted ~699): arbitrage
            m.option_quote(26_000.0, "CE", 26_500.0),
        ],
    )
    svc = await run_drained(settings)
    raw = [f[EVENT_FIELD] for _, f in await redis_client.xrange(keys.greeks)]
    assert len(raw) == 2 and all(b"NaN" not in b and b"Infinity" not in b for b in raw)
    bad, good = (orjson.loads(b) for b in raw)
    assert bad["strike"] == 25_800.0 and bad["price"] == 650.0
    assert all(bad[k] is None for k in ("iv", "delta", "gamma", "vega", "theta", "rho"))
    assert good["iv"] is not None
    assert svc.unsolved == 1
    beat = await redis_client.hgetall(keys.svc("greeks"))
    assert beat[b"unsolved"] == b"1"


async def test_coalesces_a_batch_to_the_latest_quote_per_option(
    settings: Settings, redis_client: aioredis.Redis
) -> None:
    keys, m = Keys(settings.redis.key_prefix), Market()
    await write_universe(redis_client, keys, m.records())
    quotes = [quote_event("NSE_FNO", 101, 26_000.0, m.now)]
    quotes += [m.option_quote(26_000.0, "CE", 26_000.0, sigma=s) for s in (0.11, 0.12, 0.13, 0.14, 0.15)]
    quotes += [m.option_quote(26_000.0, "PE", 26_000.0, sigma=0.2)]
    await add_quotes(redis_client, keys, quotes)
    svc = await run_drained(settings)
    events = await read_greeks(redis_client, keys)
    # one event per option, for its latest quote, in the order of those latest quotes
    assert [(e["option_type"], e["price"]) for e in events] == [
        ("CE", quotes[-2]["ltp"]),
        ("PE", quotes[-1]["ltp"]),
    ]
    assert events[0]["iv"] == pytest.approx(0.15, abs=2e-3)
    assert svc.coalesced == 4 and svc.batches == 1


async def test_heartbeat_carries_rates_counts_and_lag(
    settings: Settings, redis_client: aioredis.Redis
) -> None:
    keys, m = Keys(settings.redis.key_prefix), Market()
    await write_universe(redis_client, keys, m.records())
    await add_quotes(
        redis_client,
        keys,
        [quote_event("NSE_FNO", 101, 26_000.0, m.now), m.option_quote(26_000.0, "CE", 26_000.0)],
    )
    await run_drained(settings)
    beat = {k.decode(): v.decode() for k, v in (await redis_client.hgetall(keys.svc("greeks"))).items()}
    for field in ("quotes_per_s", "greeks_per_s", "unsolved", "lag_ms", "group_lag", "quotes", "greeks"):
        assert field in beat, field
    assert (beat["name"], beat["quotes"], beat["greeks"], beat["unsolved"]) == ("greeks", "2", "1", "0")
    assert float(beat["quotes_per_s"]) >= 0.0 and int(beat["lag_ms"]) >= 0


async def test_acks_only_after_the_publish_succeeds(settings: Settings, redis_client: aioredis.Redis) -> None:
    keys, m = Keys(settings.redis.key_prefix), Market()
    await write_universe(redis_client, keys, m.records())
    await redis_client.set(keys.greeks, b"not a stream")  # every XADD to it fails with WRONGTYPE
    await add_quotes(
        redis_client,
        keys,
        [quote_event("NSE_FNO", 101, 26_000.0, m.now), m.option_quote(26_000.0, "CE", 26_000.0)],
    )
    svc = GreeksService(settings, group_start="0")
    task = asyncio.create_task(svc.serve())
    try:
        await eventually(lambda: svc.redis_errors >= 1, message="publish failure")
        pending = await redis_client.xpending(keys.quotes, "greeks")
        assert pending["pending"] == 2  # read, not acknowledged
        await redis_client.delete(
            keys.greeks
        )  # the operator fixes it: the service retries its pending entries

        async def acked() -> bool:
            return (await redis_client.xpending(keys.quotes, "greeks"))["pending"] == 0

        await eventually(acked, message="entries acknowledged after the retry")
        assert len(await read_greeks(redis_client, keys)) == 1
    finally:
        svc.stop("test")
        assert await asyncio.wait_for(task, 10) == 0


async def test_waits_for_the_universe_then_processes(
    settings: Settings, redis_client: aioredis.Redis
) -> None:
    keys, m = Keys(settings.redis.key_prefix), Market()
    await add_quotes(
        redis_client,
        keys,
        [quote_event("NSE_FNO", 101, 26_000.0, m.now), m.option_quote(26_000.0, "PE", 26_000.0)],
    )
    svc = GreeksService(settings, drain=True, group_start="0")
    task = asyncio.create_task(svc.serve())
    await eventually(lambda: svc.state == "running", message="service running")

    async def beat_seen() -> bool:
        return await redis_client.hget(keys.svc("greeks"), "step") == b"waiting for the universe"

    await eventually(beat_seen, message="heartbeat saying what it waits for")
    assert not task.done() and svc.quotes == 0  # nothing consumed without a universe
    assert svc.health_problem() == "waiting for the universe"
    await write_universe(redis_client, keys, m.records())
    assert await asyncio.wait_for(task, 20) == 0
    assert len(await read_greeks(redis_client, keys)) == 1


async def test_fresh_group_starts_at_dollar_and_seeds_from_last_quotes(
    settings: Settings, redis_client: aioredis.Redis
) -> None:
    keys, m = Keys(settings.redis.key_prefix), Market()
    await write_universe(redis_client, keys, m.records())
    old = [quote_event("NSE_FNO", 101, 25_000.0, m.now - 60), m.option_quote(26_000.0, "CE", 25_000.0)]
    await add_quotes(redis_client, keys, old)  # history from before the group existed: not replayed
    latest = [
        quote_event("NSE_FNO", 101, 26_000.0, m.now),
        m.option_quote(26_000.0, "CE", 26_000.0),
        m.option_quote(26_100.0, "PE", 26_000.0),
    ]
    await redis_client.hset(
        keys.last_quote, mapping={instrument_key(q["seg"], q["sid"]): orjson.dumps(q) for q in latest}
    )
    svc = await run_drained(settings, group_start="$")
    events = await read_greeks(redis_client, keys)
    assert sorted((e["strike"], e["option_type"]) for e in events) == [(26_000.0, "CE"), (26_100.0, "PE")]
    assert all(e["underlying_price"] == 26_000.0 for e in events)
    assert svc.seeded == 2 and svc.quotes == 0


async def test_unknown_instrument_reloads_the_universe(
    settings: Settings, redis_client: aioredis.Redis
) -> None:
    keys, m = Keys(settings.redis.key_prefix), Market()
    late = m.options.pop((26_200.0, "CE"))
    await write_universe(redis_client, keys, m.records())
    svc = GreeksService(settings, group_start="0", universe_refresh_s=3600.0)
    task = asyncio.create_task(svc.serve())
    try:
        await add_quotes(redis_client, keys, [quote_event("NSE_FNO", 101, 26_000.0, m.now)])
        await eventually(lambda: svc.quotes == 1, message="future consumed")
        await write_universe(redis_client, keys, [late])  # the feed re-centred its option window
        m.options[(26_200.0, "CE")] = late
        await add_quotes(redis_client, keys, [m.option_quote(26_200.0, "CE", 26_000.0)])

        async def published() -> bool:
            return await redis_client.xlen(keys.greeks) == 1

        await eventually(published, message="greeks of the newly listed option")
        (ev,) = await read_greeks(redis_client, keys)
        assert ev["sid"] == late["sid"] and ev["iv"] == pytest.approx(SIGMA, abs=5e-3)
    finally:
        svc.stop("test")
        assert await asyncio.wait_for(task, 10) == 0


async def test_bad_values_in_the_last_quotes_and_the_stream_never_stop_the_service(
    settings: Settings, redis_client: aioredis.Redis
) -> None:
    """A corrupt last-quote entry (an exchange time that is text) and quotes with huge or negative prices:
    the service seeds from what is sane (the corrupt entry is left out: quote_problem), computes what is sane,
    skips the rest as "no price", and keeps running."""
    keys, m = Keys(settings.redis.key_prefix), Market()
    await write_universe(redis_client, keys, m.records())
    good = m.option_quote(26_000.0, "CE", 26_000.0)
    latest = [
        quote_event("NSE_FNO", 101, 26_000.0, m.now),
        {**good, "exchange_ts": "09:15:00"},  # sorted against integers at seeding: left out
        {**m.option_quote(25_900.0, "CE", 26_000.0)},
        {**m.option_quote(26_100.0, "PE", 26_000.0), "ltp": 3e38},
    ]
    await redis_client.hset(
        keys.last_quote, mapping={instrument_key(q["seg"], q["sid"]): orjson.dumps(q) for q in latest}
    )
    await add_quotes(redis_client, keys, [quote_event("NSE_FNO", 101, 1e18, m.now), {**good, "ltp": -5.0},
                                          m.option_quote(26_200.0, "CE", 26_000.0)])
    svc = await run_drained(settings, group_start="0")
    events = await read_greeks(redis_client, keys)
    assert svc.seeded == 1 and svc.no_price == 1 and svc.quotes == 2  # the 1e18 future: dead-lettered
    assert svc.bad_entries == 1
    assert [(e["strike"], e["underlying_price"]) for e in events] == [(25_900.0, 26_000.0), (26_200.0, 26_000.0)]


async def test_entries_no_quote_can_be_made_of_are_dead_lettered_and_the_rest_computed(
    settings: Settings, redis_client: aioredis.Redis
) -> None:
    keys, m = Keys(settings.redis.key_prefix), Market()
    await write_universe(redis_client, keys, m.records())
    deep = b'{"v":1,"seg":' + b"[" * 1000 + b"]" * 1000 + b',"sid":1}'  # f"{seg}" of it: RecursionError
    option = m.option_quote(26_000.0, "CE", 26_000.0)
    bad = [
        deep,
        b"not json",
        orjson.dumps({**option, "recv_ts": "now"}),  # would have reached the greeks event as it is
        orjson.dumps({**option, "ltp": True}),
        orjson.dumps({**quote_event("NSE_FNO", 101, 26_000.0, m.now), "bid": 1e300, "ask": 1e300}),
        orjson.dumps({**option, "exchange_ts": 2**40}),
        orjson.dumps({**option, "src": "x" * 70_000}),  # over the size cap
    ]
    pipe = redis_client.pipeline(transaction=False)
    for blob in [orjson.dumps(quote_event("NSE_FNO", 101, 26_000.0, m.now)), *bad, orjson.dumps(option)]:
        pipe.xadd(keys.quotes, {EVENT_FIELD: blob})
    await pipe.execute()
    svc = await run_drained(settings)
    [ev] = await read_greeks(redis_client, keys)
    assert ev["recv_ts"] == option["recv_ts"] and ev["underlying_price"] == 26_000.0
    dead = [(orjson.loads(f[b"d"]), f[b"payload"]) for _, f in await redis_client.xrange(keys.deadletter)]
    assert svc.bad_entries == len(dead) == len(bad) and svc.metrics()["dead_letters"] == len(bad)
    reasons = [meta["reason"] for meta, _ in dead]
    assert reasons[0] == "ValueError: bad exchange segment [[[...]]]" and reasons[1].startswith("JSONDecodeError")
    assert reasons[2:6] == [
        "ValueError: bad recv_ts 'now'", "ValueError: bad ltp True", "ValueError: bad bid 1e+300",
        f"ValueError: bad exchange_ts {2**40}",
    ]
    assert reasons[6].endswith("-byte cap") and len(dead[6][1]) == settings.writer.entry_max_bytes
    assert {(meta["group"], meta["stream"]) for meta, _ in dead} == {("greeks", keys.quotes)}
    assert (await redis_client.xpending(keys.quotes, "greeks"))["pending"] == 0


async def test_seeding_skips_last_quotes_it_cannot_use(settings: Settings, redis_client: aioredis.Redis) -> None:
    keys, m = Keys(settings.redis.key_prefix), Market()
    await write_universe(redis_client, keys, m.records())
    good = [quote_event("NSE_FNO", 101, 26_000.0, m.now), m.option_quote(26_000.0, "CE", 26_000.0)]
    bad = {**m.option_quote(26_100.0, "PE", 26_000.0), "exchange_ts": "09:15"}  # sorting by time failed on it
    await redis_client.hset(keys.last_quote, mapping={
        **{instrument_key(q["seg"], q["sid"]): orjson.dumps(q) for q in good}, "NSE_FNO:x": orjson.dumps(bad),
    })  # fmt: skip
    svc = await run_drained(settings, group_start="$")
    assert svc.seeded == 1 and [e["strike"] for e in await read_greeks(redis_client, keys)] == [26_000.0]


async def test_what_it_keeps_per_instrument_stays_bounded(
    settings: Settings, redis_client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    import feed.greeks.service as service_module

    monkeypatch.setattr(service_module, "UNKNOWN_CHECKED_MAX", 100)
    keys, m = Keys(settings.redis.key_prefix), Market()
    await write_universe(redis_client, keys, m.records())
    await add_quotes(redis_client, keys, [quote_event("NSE_FNO", 101, 26_000.0, m.now),
                                          m.option_quote(26_000.0, "CE", 26_000.0)])  # fmt: skip
    await add_quotes(redis_client, keys, [quote_event("NSE_FNO", 500_000 + i, 5.0, m.now) for i in range(600)])
    svc = GreeksService(settings, group_start="0", batch_max=50, universe_refresh_s=3600.0)
    task = asyncio.create_task(svc.serve())
    try:
        await eventually(lambda: svc.quotes == 602, message="all quotes read")
        assert svc.unknown == 600 and len(svc._unknown_checked) <= 100 + 50  # one batch over the bound at most
        assert len(svc.covered) == 1
        option = m.options[(26_000.0, "CE")]
        await redis_client.hdel(keys.universe, instrument_key(option["seg"], option["sid"]))  # re-centred away
        await add_quotes(redis_client, keys, [quote_event("NSE_FNO", 700_000, 5.0, m.now)])  # unknown: reload
        await eventually(lambda: not svc.covered, message="covered follows the universe")
        assert set(svc.chain.future_price) == {"NSE_FNO:101"}
    finally:
        svc.stop("test")
        assert await asyncio.wait_for(task, 10) == 0
