"""Fill Redis and MySQL with a simulated session fast, for the visualizers' screenshots and benchmarks.

Runs the real stack in this process: simulator (on a clock that starts at 09:15 IST today and runs
``--speed`` times faster than real time), feed, writer and greeks. Then open windows against the same
prefix and database in other processes, e.g.::

    .venv/bin/python bench/viz_pipeline.py --prefix vizdemo: --database dhan_vizdemo --speed 60 --duration 90
    DHAN_KEY_PREFIX=vizdemo: DHAN_MYSQL_URL=mysql://root@127.0.0.1:3306/dhan_vizdemo dhan viz volume-profile

With ``--keep-running`` the stack continues live after the fill (the windows then follow it live).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import datetime
from datetime import time as dtime

from feed.greeks.service import GreeksService
from feed.service import FeedService
from feed.sim.server import SimServer
from shared.clock import IST
from shared.db import init_schema
from shared.logs import configure_logging
from shared.settings import Settings, load_settings
from writer.service import WriterService

__all__ = ["accelerated_clock", "run_stack"]


def accelerated_clock(speed: float, start: dtime = dtime(9, 15)) -> object:
    today = datetime.now(IST).date()
    t0 = datetime.combine(today, start, tzinfo=IST).timestamp()
    m0 = time.monotonic()
    return lambda: t0 + (time.monotonic() - m0) * speed


async def run_stack(settings: Settings, *, speed: float, rate: float, duration_s: float, greeks: bool = True) -> None:
    await init_schema(settings)
    sim = SimServer(settings, clock=accelerated_clock(speed), rate=rate)  # type: ignore[arg-type]
    await sim.start()
    services = [FeedService(settings), WriterService(settings)]
    if greeks:
        services.append(GreeksService(settings))
    tasks = [asyncio.create_task(s.serve(), name=s.name) for s in services]
    started = time.monotonic()
    try:
        while time.monotonic() - started < duration_s:
            await asyncio.sleep(5)
            done = [t for t in tasks if t.done()]
            if done:
                raise SystemExit(f"{done[0].get_name()} stopped early: exit {done[0].result()}")
            print(
                f"t={time.monotonic() - started:5.0f}s  sim updates={sim.updates_count:,}  packets={sim.sent_count:,}",
                flush=True,
            )
    finally:
        for s in services:
            s.stop("bench done")
        await asyncio.gather(*tasks, return_exceptions=True)
        await sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", default="vizdemo:")
    parser.add_argument("--database", default="dhan_vizdemo")
    parser.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second")
    parser.add_argument("--rate", type=float, default=400.0, help="simulator updates per (simulated) second")
    parser.add_argument("--duration", type=float, default=90.0, help="real seconds to run")
    parser.add_argument("--port", type=int, default=18765)
    args = parser.parse_args()
    base = load_settings()
    mysql = base.mysql.target
    settings = load_settings(
        key_prefix=args.prefix,
        sim_port=args.port,
        mysql_url=f"mysql://{mysql.user}@{mysql.host}:{mysql.port}/{args.database}",
        client_id=None,
        access_token=None,
    )

    configure_logging("viz-pipeline", level="warning", fmt="console")
    asyncio.run(run_stack(settings, speed=args.speed, rate=args.rate, duration_s=args.duration))


if __name__ == "__main__":
    main()
