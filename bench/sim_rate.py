"""How many updates a second the simulator can produce on one core (run by hand; prints numbers).

1. ``generate``: the market model and packet encoding alone (``Market.generate`` into an in-memory sink, plus
   the WebSocket framing the server does), per mode.
2. ``wire``: the real server on loopback at an unreachable target rate, every simulated instrument
   subscribed on one connection, and a client in another process counting the messages it receives.

Each figure is the median of 3 runs. Usage: ``.venv/bin/python bench/sim_rate.py [--seconds 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from feed.protocol.requests import build_requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from feed.protocol.constants import SEGMENT_BY_CODE
from feed.sim.connection import frame_binary
from feed.sim.market import MODES, Market
from feed.sim.server import SimServer
from shared.lifeline import bound_argv
from shared.settings import Settings

CLIENT = textwrap.dedent(
    """
    import asyncio, sys, time, aiohttp
    async def main(url, frames_path, seconds):
        frames = open(frames_path).read().splitlines()
        async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as ws:
            for f in frames:
                await ws.send_str(f)
            n = 0
            while n < 100:  # warm up: prev closes and the first updates
                await ws.receive(); n += 1
            n, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                msg = await ws.receive()
                if msg.type != aiohttp.WSMsgType.BINARY:
                    break
                n += 1
            print(n / (time.perf_counter() - start))
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
    """
)


def _settings(rate: float) -> Settings:
    return Settings(_env_file=None, sim_rate=rate, sim_burst_factor=0.0)  # type: ignore[call-arg]


class _Sink:
    def __init__(self) -> None:
        self.out: list[bytes] = []


def bench_generate(mode: str, seconds: float) -> tuple[float, float]:
    market = Market(_settings(1e6), time.time())
    sink = _Sink()
    for inst in market.instruments.values():
        market.subscribe(inst, sink, MODES.index(mode))
    updates = packets = 0
    t = market.now
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t += 0.002
        market.advance(t)
        updates += market.generate(200)
        packets += len(sink.out)
        b"".join([frame_binary(p) + p for p in sink.out])
        sink.out.clear()
    elapsed = time.perf_counter() - start
    return updates / elapsed, packets / elapsed


async def bench_wire(mode: str, seconds: float, frames_path: Path) -> tuple[float, float]:
    sim = SimServer(_settings(1e7), port=0)
    await sim.start()
    try:
        assert sim.market is not None

        instruments = [(SEGMENT_BY_CODE[i.segment], i.security_id) for i in sim.market.instruments.values()]
        frames_path.write_text("\n".join(build_requests(instruments, mode)))
        url = sim.url + "?version=2&token=bench&clientId=1&authType=2"
        proc = await asyncio.create_subprocess_exec(
            *bound_argv([sys.executable, "-c", CLIENT, url, str(frames_path), str(seconds)]), stdout=subprocess.PIPE,
        )
        await asyncio.sleep(0.5)  # let the client connect and warm up before the server-side count starts
        u0, t0 = sim.updates_count, time.perf_counter()
        out, _ = await proc.communicate()
        server_rate = (sim.updates_count - u0) / (time.perf_counter() - t0)
        return server_rate, float(out.decode().strip() or 0)
    finally:
        await sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"simulator rate, median of {args.runs} runs of {args.seconds:g} s each")
    print(f"{'mode':<8}{'generate upd/s':>16}{'packets/s':>12}{'wire upd/s':>14}{'client msg/s':>14}")
    frames_path = Path("/tmp") / f"sim-bench-{time.time_ns()}.txt"
    try:
        for mode in MODES:
            gen = [bench_generate(mode, args.seconds) for _ in range(args.runs)]
            wire = [asyncio.run(bench_wire(mode, args.seconds, frames_path)) for _ in range(args.runs)]
            med = [statistics.median(x[i] for x in runs) for runs in (gen, wire) for i in (0, 1)]
            print(f"{mode:<8}{med[0]:>16,.0f}{med[1]:>12,.0f}{med[2]:>14,.0f}{med[3]:>14,.0f}")
    finally:
        frames_path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
