"""``dhan replay <journal>...``: serve a recorded session where ``dhan sim`` would listen, for ``dhan feed``.

The replay waits for a feed to connect and subscribe, serves the journal at ``--speed`` (1, 10, ... or max),
then stops by itself once the clients have read everything (``--hold`` keeps it up, idle, until stopped or
``--duration``). Heartbeat ``svc:replay`` carries its progress. The journal's 20/200-level depth frames are
served too, on ``/twentydepth`` and ``/twohundreddepth``, to a feed running with ``DHAN_DEPTH20_ENABLED``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from control.audit.replay import ReplayServer
from feed.instruments.parse import fetch_scrip_master
from feed.sim.cli import add_faults_argument
from shared.errors import ConfigError
from shared.service import Service
from shared.settings import Settings

__all__ = ["HELP", "ReplayService", "add_arguments", "parse_speed", "run"]

HELP = "serve a recorded journal through the simulator's WebSocket"


def parse_speed(text: str) -> float | None:
    """``"max"`` -> None (as fast as the client reads); a positive number -> that factor of real time."""
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"--speed {text!r}: use a factor such as 1 or 10, or max") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"--speed {text!r}: must be above 0 (or max)")
    return value


class ReplayService(Service):
    """Runs a :class:`ReplayServer` until the journal is served (or stopped)."""

    name = "replay"

    def __init__(self, settings: Settings, server: ReplayServer, *, hold: bool = False,
                 duration_s: float | None = None) -> None:
        super().__init__(settings, duration_s=duration_s)
        self.server = server
        self.hold = hold
        self._last = (time.monotonic(), 0)

    async def setup(self) -> None:
        await self.server.start()
        assert self.server.emitter is not None
        self.adopt(self.server.emitter)  # reads the journal: its death stops the replay (exit 1), never a hang

    async def run(self) -> None:
        finished = asyncio.create_task(self.server.finished.wait(), name="replay.finished")
        stop = asyncio.create_task(self.stopping.wait(), name="replay.stop_wait")
        try:
            await asyncio.wait({finished, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            finished.cancel()
            stop.cancel()
        if self.server.finished.is_set() and not self.stopping.is_set():
            await self.server.drained()
            if not self.hold:
                self.stop("replay_finished")
        await self.stopping.wait()

    async def teardown(self) -> None:
        await self.server.stop()

    def metrics(self) -> dict[str, Any]:
        now = time.monotonic()
        t_prev, sent_prev = self._last
        sent = self.server.sent_count
        self._last = (now, sent)
        s = self.server.stats()
        return {
            "url": self.server.url, "connections": s["connections"], "subscriptions": s["subscriptions"],
            "packets_sent": sent, "packets_per_s": round((sent - sent_prev) / max(now - t_prev, 1e-9), 1),
            "replay_started": s["replay_started"], "replay_finished": s["replay_finished"],
            "journal_ts": round(s["journal_ts"], 3), "unrouted": s["unrouted"],
            "bad_requests": s["bad_requests"], "faults_refused": s["faults_refused"],
            "foreign_origin_refused": s["foreign_origin_refused"], "corrupt_blocks": s["corrupt_blocks"],
        }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("journal", nargs="+", type=Path,
                        help="journal file(s) (.djr), replayed in the order given")
    parser.add_argument("--speed", default="1", help="1 (as recorded), 10, ... or max (default 1)")
    parser.add_argument("--host", default=None, help="address to bind (default DHAN_SIM_HOST)")
    parser.add_argument("--port", type=int, default=None, help="port (default DHAN_SIM_PORT, as dhan sim)")
    parser.add_argument("--instruments", default=None, metavar="FILE_OR_URL",
                        help="scrip master to serve (default: the simulator's listing as of the recording)")
    parser.add_argument("--start-quiet-s", type=float, default=0.3,
                        help="start once subscriptions have been quiet this long (default 0.3)")
    parser.add_argument("--hold", action="store_true", help="stay up after the journal is served")
    add_faults_argument(parser)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    speed = parse_speed(args.speed)
    if args.port is not None and not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port} is not a port number")
    if args.faults:
        settings = settings.replaced(sim_faults=True)
    text = None
    if args.instruments:
        text = await fetch_scrip_master(args.instruments, timeout_s=settings.instruments.timeout_s,
                                        max_bytes=settings.instruments.max_mb << 20)
    server = ReplayServer(settings, args.journal, speed=speed, host=args.host, port=args.port,
                          start_quiet_s=args.start_quiet_s, instruments_text=text)
    service = ReplayService(settings, server, hold=args.hold, duration_s=args.duration)
    return await service.serve()
