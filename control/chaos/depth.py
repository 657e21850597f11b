"""The depth socket's chaos fault: the 20-level socket dropped, every book fresh again within one sampling
interval.

The depth store keeps a history of each instrument's latest book sampled every ``DEPTH_SAMPLE_S`` (the
default of ``DHAN_DEPTH20_SAMPLE_S``). A sample is lost when an instrument's book stays stale across a
sampling instant because the socket was down. So the fault drops the replay's 20-level connection(s), waits
for the feed's ``depth_connected``, then for a book newer than the fault of every instrument that had one
before it (the replay answers a depth subscription with the last recorded book of each instrument, as Dhan
and the simulator send a snapshot), and fails the run when that took a sampling interval or more. The gap is
logged (``chaos_depth_gap``) with the instruments counted. The socket is dropped once it has been a good
session (data for ``GOOD_SESSION_S``), whose first retry is immediate: a socket that flaps sooner rightly
backs off (``DHAN_RECONNECT_BASE_S``), which no sampling interval can hide.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import redis.asyncio as aioredis

from control.chaos.target import ChaosEnv
from feed.connection import GOOD_SESSION_S

__all__ = ["DEPTH_SAMPLE_S", "dhan_depth_drop"]

DEPTH_SAMPLE_S = 1.0
_BEFORE_ENTRIES = 5000  # the books read back from before the fault: enough for every instrument's latest


async def _depth_connects(env: ChaosEnv) -> list[float]:
    """When each ``depth_connected`` of the feed happened (its ``ts``), in order."""
    try:
        entries: Any = await env.client.xrange(env.keys.events)
    except (aioredis.RedisError, OSError):
        return []
    return [float(orjson.loads(f[b"d"])["ts"]) for _, f in entries if b'"depth_connected"' in f.get(b"d", b"")]


def _instrument(fields: dict[bytes, bytes]) -> tuple[str, int, int, float]:
    e = orjson.loads(fields[b"d"])
    return e["seg"], e["sid"], e.get("levels", 20), float(e["recv_ts"])


async def _books_before(env: ChaosEnv) -> set[tuple[str, int, int]]:
    entries: Any = await env.client.xrevrange(env.keys.depth20, count=_BEFORE_ENTRIES)
    return {_instrument(f)[:3] for _, f in entries}


async def _first_books_after(env: ChaosEnv, t0: float) -> dict[tuple[str, int, int], float]:
    """Receive time of each instrument's first book received after ``t0`` (epoch seconds)."""
    entries: Any = await env.client.xrange(env.keys.depth20, min=f"{int(t0 * 1000)}-0")
    out: dict[tuple[str, int, int], float] = {}
    for _, fields in entries:
        seg, sid, levels, ts = _instrument(fields)
        if ts > t0:
            out.setdefault((seg, sid, levels), ts)
    return out


async def dhan_depth_drop(env: ChaosEnv) -> None:
    known: set[tuple[str, int, int]] = set()

    async def flowing() -> bool:
        """A book of every instrument the feed's 20-level sockets carry (its heartbeat says how many)."""
        known.update(k for k in await _books_before(env) if k[2] == 20)
        carried, centred = await env.client.hmget(env.keys.svc("feed"), ["depth20_instruments", "universe_changes"])
        # once the options are centred (the auto set's futures come first, its options at the first centring)
        return bool(known) and carried is not None and len(known) >= int(carried) and int(centred or 0) > 0

    await env.wait(flowing, "a 20-level book of every instrument before the fault (DHAN_DEPTH20_ENABLED, a "
                            "recording with depth)")
    async def good_session() -> bool:
        connects = await _depth_connects(env)
        return bool(connects) and time.time() - connects[-1] > GOOD_SESSION_S + 0.5

    await env.wait(good_session, "the depth socket up for a good session")
    before = len(await _depth_connects(env))
    t0 = time.time()
    await env.sim_fault(kind="drop", feed="twentydepth")
    env.injected_at = time.monotonic()

    async def reconnected() -> bool:
        return len(await _depth_connects(env)) > before

    await env.wait(reconnected, "depth socket reconnected")

    async def fresh() -> bool:
        return known <= set(await _first_books_after(env, t0))

    await env.wait(fresh, "every 20-level book fresh after the drop")
    env.reconnected_at = time.monotonic()
    gap_s = max(ts for k, ts in (await _first_books_after(env, t0)).items() if k in known) - t0
    env.log.info("chaos_depth_gap", gap_s=round(gap_s, 3), instruments=len(known), sample_s=DEPTH_SAMPLE_S)
    if gap_s >= DEPTH_SAMPLE_S:
        raise RuntimeError(f"chaos: 20-level books stale for {gap_s:.2f}s after the depth socket dropped: "
                           f"samples lost at the {DEPTH_SAMPLE_S:g}s sampling interval")
