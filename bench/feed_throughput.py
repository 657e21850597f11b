"""Feed throughput and latency: simulator -> feed (its own process) -> Redis.

For each target rate it runs the simulator in this process, ``dhan feed`` as a child process, and a reader
on the ticks stream here. Printed per rate (median over --runs):
  * msgs/s into Redis  - events published by the feed per second (quotes + ticks + depth), from its heartbeat
  * frames/s           - WebSocket frames the feed decoded per second
  * p50/p99 latency    - simulator send time -> the trade readable in Redis (XREAD here), in ms
Run: .venv/bin/python bench/feed_throughput.py [--rates 1000,10000,max] [--seconds 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feed.sim import SimServer  # noqa: E402
from shared.settings import Settings  # noqa: E402


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def one_run(rate: float, seconds: float, redis_url: str) -> dict[str, float]:
    prefix = f"bench{uuid.uuid4().hex[:6]}:"
    port = _free_port()
    env = {**os.environ, "DHAN_KEY_PREFIX": prefix, "DHAN_SIM_PORT": str(port), "DHAN_REDIS_URL": redis_url,
           "DHAN_SIM_RATE": str(rate), "DHAN_LOG_LEVEL": "warning", "DHAN_NIFTY_STRIKES": "40",
           "DHAN_BANKNIFTY_STRIKES": "20", "DHAN_HEARTBEAT_INTERVAL_S": "0.5"}
    settings = Settings(_env_file=None, key_prefix=prefix, sim_port=port, redis_url=redis_url, sim_rate=rate)  # type: ignore[call-arg]
    sent_at: dict[tuple[int, int, int], float] = {}
    u32 = struct.Struct("<I").unpack_from
    clock = time.time

    def record(_inst: object, pkt: bytes) -> None:
        if pkt[0] == 8 or pkt[0] == 4:  # full / quote: volume at offset 22
            sent_at[(pkt[3], u32(pkt, 4)[0], u32(pkt, 22)[0])] = clock()

    client = aioredis.Redis.from_url(redis_url)
    lat: list[float] = []
    seg_codes = {"IDX_I": 0, "NSE_EQ": 1, "NSE_FNO": 2, "MCX_COMM": 5}
    async with SimServer(settings, recorder=record):
        proc = subprocess.Popen([sys.executable, "-m", "shared.cli", "feed"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            hb_key = f"{prefix}svc:feed"
            # warm-up: until the option windows are centred and data flows
            t_end = time.monotonic() + 30
            while time.monotonic() < t_end and int((await client.hget(hb_key, "universe_changes")) or 0) < 1:
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)
            last_id = b"$"
            pub0 = await client.hmget(hb_key, "published_quotes", "published_ticks", "published_depth", "frames")
            t0 = time.monotonic()
            while time.monotonic() - t0 < seconds:
                resp = await client.xread({f"{prefix}ticks": last_id}, count=5000, block=200)
                now = time.time()
                for _, entries in resp or []:
                    for eid, fields in entries:
                        last_id = eid
                        ev = orjson.loads(fields[b"d"])
                        sent = sent_at.get((seg_codes.get(ev["seg"], -1), ev["sid"], ev["volume"]))
                        if sent is not None:
                            lat.append(now - sent)
            el = time.monotonic() - t0
            pub1 = await client.hmget(hb_key, "published_quotes", "published_ticks", "published_depth", "frames")
        finally:
            proc.terminate()
            proc.wait(15)
    keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()
    published = sum(int(b or 0) - int(a or 0) for a, b in zip(pub0[:3], pub1[:3], strict=True))
    frames = int(pub1[3] or 0) - int(pub0[3] or 0)
    lat.sort()
    pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: float("nan"))
    return {"msgs_per_s": published / el, "frames_per_s": frames / el, "p50_ms": pct(0.5), "p99_ms": pct(0.99),
            "samples": len(lat)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="1000,10000,max")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = ap.parse_args()
    for r in args.rates.split(","):
        rate = 1_000_000.0 if r == "max" else float(r)
        runs = [asyncio.run(one_run(rate, args.seconds, args.redis_url)) for _ in range(args.runs)]
        med = {k: statistics.median(x[k] for x in runs) for k in runs[0]}
        print(f"rate {r:>6}: msgs/s into Redis {med['msgs_per_s']:>9,.0f}  frames/s {med['frames_per_s']:>9,.0f}  "
              f"latency p50 {med['p50_ms']:6.2f} ms  p99 {med['p99_ms']:6.2f} ms  (trades sampled {med['samples']:,.0f},"
              f" median of {args.runs})", flush=True)


if __name__ == "__main__":
    main()
