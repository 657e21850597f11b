"""Feed throughput and latency: simulator -> feed (its own process) -> Redis.

For each target rate it runs the simulator and ``dhan feed`` as child processes and a reader on the ticks
stream here (three processes, so no one's event loop delays another's timestamps).
Printed per rate (median over --runs):
  * msgs/s into Redis  - events published by the feed per second (quotes + ticks + depth), from its heartbeat
  * frames/s           - WebSocket frames the feed decoded per second
  * p50/p99 latency    - simulator send time -> the trade readable in Redis (XREAD here), in ms
  * feed CPU           - the feed process's CPU time (user + system) per 1,000 events published, in ms
Run: .venv/bin/python bench/feed_throughput.py [--rates 1000,10000,max] [--seconds 10] [--runs 3]
     [--mode full|quote|ticker] [--feed-src DIR ...]
``--mode`` subscribes the tradables in that feed mode (DHAN_FEED_MODE). ``--feed-src`` runs the feed from
another source tree (e.g. ``git archive main`` unpacked, its extension built) beside this one, run by run
interleaved, so two versions are compared in one session on the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import pickle
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feed.sim import SimServer
from shared.lifeline import die_with, parent_env
from shared.settings import Settings


def _cpu_s(pid: int) -> float:
    """A process's CPU time so far (user + system), in seconds, from /proc."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sim_child(settings: Settings, out_path: str, ready: Any, parent_pid: int) -> None:
    """Child process: the simulator, recording the send time of every full/quote packet by (seg, id, volume)."""
    die_with(parent_pid)  # a bench killed midway leaves no simulator behind

    sent_at: dict[tuple[int, int, int], float] = {}
    last_volume: dict[tuple[int, int], int] = {}
    u32 = struct.Struct("<I").unpack_from
    clock = time.time

    def record(_inst: object, pkt: bytes) -> None:
        # A trade is a rise of the cumulative volume over the instrument's previous packet, as the feed sees it.
        # The first packet of an instrument (at subscribe, after a re-centre) carries the day's volume so far:
        # the feed takes it as a baseline, not a trade, so it is no sample (counted, it made "latencies" of
        # seconds: the time until the option's next real trade). Repeats of a volume keep the first send time.
        if pkt[0] == 8 or pkt[0] == 4:  # full / quote: volume at offset 22
            inst = (pkt[3], u32(pkt, 4)[0])
            volume = u32(pkt, 22)[0]
            previous = last_volume.get(inst)
            last_volume[inst] = volume
            if previous is not None and volume > previous:
                sent_at.setdefault((*inst, volume), clock())

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        turn_ms = float(os.environ.get("DHAN_BENCH_SIM_TURN_MS", "0"))  # bench/stack.py --sim-turn-ms
        async with SimServer(settings, recorder=record, turn_s=turn_ms / 1000.0 or None):
            ready.set()
            await stop.wait()
        with open(out_path, "wb") as fh:
            pickle.dump(sent_at, fh)

    asyncio.run(main())


async def one_run(rate: float, seconds: float, redis_url: str, mode: str, src: str) -> dict[str, float]:
    prefix = f"bench{uuid.uuid4().hex[:6]}:"
    port = _free_port()
    env = {**os.environ, "DHAN_KEY_PREFIX": prefix, "DHAN_SIM_PORT": str(port), "DHAN_REDIS_URL": redis_url,
           "DHAN_SIM_RATE": str(rate), "DHAN_LOG_LEVEL": "warning", "DHAN_NIFTY_STRIKES": "40",
           "DHAN_BANKNIFTY_STRIKES": "20", "DHAN_HEARTBEAT_INTERVAL_S": "0.5", "DHAN_FEED_MODE": mode}
    settings = Settings(_env_file=None, key_prefix=prefix, sim_port=port, redis_url=redis_url, sim_rate=rate,  # type: ignore[call-arg]
                        log_level="warning")
    out_path = f"/tmp/{prefix[:-1]}-sent.pickle"
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    sim = ctx.Process(target=_sim_child, args=(settings, out_path, ready, os.getpid()), daemon=True)
    sim.start()
    ready.wait(30)
    client = aioredis.Redis.from_url(redis_url)
    seen: list[tuple[tuple[int, int, int], float]] = []
    seg_codes = {"IDX_I": 0, "NSE_EQ": 1, "NSE_FNO": 2, "MCX_COMM": 5}
    proc = subprocess.Popen([sys.executable, "-m", "shared.cli", "feed"], env={**env, **parent_env()}, cwd=src,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        hb_key = f"{prefix}svc:feed"
        t_end = time.monotonic() + 30  # warm-up: option windows centred, data flowing
        while time.monotonic() < t_end and int((await client.hget(hb_key, "universe_changes")) or 0) < 1:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        last_id = b"$"
        fields = ("published_quotes", "published_ticks", "published_depth", "frames")
        pub0 = await client.hmget(hb_key, *fields)
        cpu0 = _cpu_s(proc.pid)
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            resp = await client.xread({f"{prefix}ticks": last_id}, count=5000, block=200)
            now = time.time()
            for _, entries in resp or []:
                for eid, f in entries:
                    last_id = eid
                    ev = orjson.loads(f[b"d"])
                    seen.append(((seg_codes.get(ev["seg"], -1), ev["sid"], ev["volume"]), now))
        el = time.monotonic() - t0
        pub1 = await client.hmget(hb_key, *fields)
        cpu1 = _cpu_s(proc.pid)
    finally:
        proc.terminate()
        proc.wait(15)
        sim.terminate()
        sim.join(30)
    with open(out_path, "rb") as fh:
        sent_at = pickle.load(fh)
    os.unlink(out_path)
    keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()
    lat = sorted(now - sent_at[k] for k, now in seen if k in sent_at)
    published = sum(int(b or 0) - int(a or 0) for a, b in zip(pub0[:3], pub1[:3], strict=True))
    frames = int(pub1[3] or 0) - int(pub0[3] or 0)
    pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: float("nan"))
    return {"msgs_per_s": published / el, "frames_per_s": frames / el, "p50_ms": pct(0.5), "p99_ms": pct(0.99),
            "samples": len(lat), "cpu_ms_per_1k": (cpu1 - cpu0) * 1e6 / max(published, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="1000,10000,max")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--mode", choices=("full", "quote", "ticker"), default="full")
    ap.add_argument("--feed-src", action="append", default=[], help="another source tree to run the feed from")
    args = ap.parse_args()
    here = str(Path(__file__).resolve().parents[1])
    srcs = [here, *(str(Path(s).resolve()) for s in args.feed_src)]
    for r in args.rates.split(","):
        rate = 1_000_000.0 if r == "max" else float(r)
        runs: dict[str, list[dict[str, float]]] = {s: [] for s in srcs}
        for _ in range(args.runs):
            for src in srcs:
                runs[src].append(asyncio.run(one_run(rate, args.seconds, args.redis_url, args.mode, src)))
        for src, got in runs.items():
            med = {k: statistics.median(x[k] for x in got) for k in got[0]}
            name = "" if src == here else f" [{src}]"
            print(f"rate {r:>6}{name}: msgs/s into Redis {med['msgs_per_s']:>9,.0f}  "
                  f"frames/s {med['frames_per_s']:>9,.0f}  latency p50 {med['p50_ms']:6.2f} ms  "
                  f"p99 {med['p99_ms']:6.2f} ms  feed CPU {med['cpu_ms_per_1k']:5.1f} ms/1k events  "
                  f"(trades sampled {med['samples']:,.0f}, median of {args.runs}, mode {args.mode})", flush=True)


if __name__ == "__main__":
    main()
