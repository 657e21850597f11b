"""The largest values the feed lets through reach MySQL whole: OI, volumes and depth quantities up to the
wire's uint32 maximum (above 2^31, so no signed INT column may hold them) and prices just below PRICE_MAX.
Events come from the feed's own normaliser, so this is what a live feed would write."""

from __future__ import annotations

from decimal import Decimal

import redis.asyncio as aioredis

from feed.normalise import Normaliser
from feed.protocol.decode import Decoder
from feed.protocol.encode import pack_full, pack_oi
from shared.settings import Settings

from .conftest import drain, query, xadd

U32 = 2**32 - 1
LTT = 1_795_600_800 - 1_795_600_800 % 86_400 + 10 * 3600  # 2026-11-25 10:00 IST, Dhan's epoch
RECV = LTT - 19_800 + 0.25
TOP = 999_999_936.0  # the largest float32 (the wire's price type) below PRICE_MAX (1e9)
TOP_DECIMAL = Decimal("999999936.0000")
DEPTH = tuple((U32, U32, 65_535, 65_535, TOP - 64.0 * (i + 1), TOP) for i in range(5))


def _full(volume: int, ltp: float) -> bytes:
    return pack_full(2, 35001, ltp=ltp, ltq=65_535, ltt=LTT, atp=ltp, volume=volume, total_sell_qty=U32,
                     total_buy_qty=U32, oi=U32, oi_high=U32, oi_low=2**31, open=ltp, close=ltp, high=ltp, low=ltp,
                     depth=DEPTH)


async def test_uint32_maxima_and_top_prices_are_stored_whole(wsettings: Settings, wredis: aioredis.Redis) -> None:
    norm, dec = Normaliser({(2, 35001): 0.05}), Decoder()
    quotes: list[bytes] = []
    ticks: list[bytes] = []
    depth: list[bytes] = []
    for i, frame in enumerate((_full(U32 - 75, TOP), _full(U32, TOP), pack_oi(2, 35001, 3_000_000_000))):
        norm.feed_frame(dec, frame, RECV + i, quotes, ticks, depth)
    assert norm.bad_total == 0 and len(ticks) == 1
    for kind, events in (("quotes", quotes), ("ticks", ticks), ("depth", depth)):
        await xadd(wredis, wsettings, kind, events)
    writer = await drain(wsettings)
    assert writer.stats.dead_letters == 0
    assert await query(wsettings, "SELECT ltp, volume, tsq, tbq, oi, oi_high, oi_low FROM dhan_quotes") == [
        (TOP_DECIMAL, U32, U32, U32, 3_000_000_000, U32, 2**31)]
    assert await query(wsettings, "SELECT ltp, cum_volume, qty, ltq, oi FROM dhan_ticks") == [
        (TOP_DECIMAL, U32, 75, 65_535, U32)]
    assert await query(wsettings, "SELECT volume, oi, high FROM dhan_trade_summary") == [(75, U32, TOP_DECIMAL)]
    assert await query(wsettings, "SELECT bid_qty_1, ask_qty_5, bid_orders_1 FROM dhan_depth") == [
        (U32, U32, 65_535)]
