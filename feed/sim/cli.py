"""``dhan sim``: the Dhan-protocol exchange simulator as a service (heartbeat, control, --duration)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from feed.sim.server import SimServer
from shared.errors import ConfigError
from shared.service import Service
from shared.settings import Settings

__all__ = ["HELP", "SimService", "add_arguments", "add_faults_argument", "run"]

HELP = "Dhan-protocol exchange simulator (WebSocket feed + scrip master over HTTP)"


class SimService(Service):
    """Runs a :class:`SimServer` until stopped; reports connections, subscriptions and packets/s."""

    name = "sim"

    def __init__(self, settings: Settings, *, duration_s: float | None = None) -> None:
        super().__init__(settings, duration_s=duration_s)
        self.server = SimServer(settings)
        self._last_sent = 0
        self._last_at = time.monotonic()

    async def setup(self) -> None:
        await self.server.start()
        assert self.server.emitter is not None
        self.adopt(self.server.emitter)  # the update loop: its death stops the simulator (exit 1)

    async def teardown(self) -> None:
        await self.server.stop()

    def metrics(self) -> dict[str, Any]:
        now = time.monotonic()
        sent = self.server.sent_count
        elapsed = now - self._last_at
        rate = (sent - self._last_sent) / elapsed if elapsed > 0 else 0.0
        self._last_sent, self._last_at = sent, now
        stats = self.server.stats()
        return {
            "url": self.server.url,
            "connections": stats["connections"],
            "subscribed": stats["subscribed"],
            "packets_sent": sent,
            "bad_requests": stats["bad_requests"],
            "faults_refused": stats["faults_refused"],
            "foreign_origin_refused": stats["foreign_origin_refused"],
            "packets_per_s": round(rate, 1),
            "updates": stats["updates"],
            "target_rate": self.server.rate or stats["live_rate"],
            "session": " ".join(f"{ex}:{st}" for ex, st in stats["session"].items()),
        }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="address to bind (default DHAN_SIM_HOST)")
    parser.add_argument("--port", type=int, default=None,
                        help="port to listen on (default DHAN_SIM_PORT; 0: any free port)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the simulated market (default DHAN_SIM_SEED)")
    parser.add_argument("--rate", type=float, default=None, metavar="UPDATES_PER_S",
                        help="updates per second across subscribed instruments; 0 (the default, DHAN_SIM_RATE): "
                             "each instrument as busy as in a live F&O session")
    parser.add_argument("--market-hours", action="store_true", default=None,
                        help="follow the NSE and MCX sessions and holidays: a snapshot on subscribe, then silence "
                             "while the market is closed (default DHAN_SIM_MARKET_HOURS: always open, for demos)")
    add_faults_argument(parser)


def add_faults_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--faults", action="store_true", default=None,
                        help="accept POST /fault?token=<DHAN_SIM_TOKEN> (fault injection; default DHAN_SIM_FAULTS)")


def apply_overrides(args: argparse.Namespace, settings: Settings) -> Settings:
    """Settings with the command-line overrides applied (validated like the environment)."""
    update: dict[str, Any] = {}
    names = (("host", "sim_host"), ("port", "sim_port"), ("seed", "sim_seed"), ("rate", "sim_rate"),
             ("faults", "sim_faults"), ("market_hours", "sim_market_hours"))
    for arg, field in names:
        value = getattr(args, arg, None)
        if value is not None:
            update[field] = value
    if args.port is not None and not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port} is not a port number")
    if args.rate is not None and args.rate < 0:
        raise ConfigError("--rate must be 0 (live-session activity) or above")
    return settings.replaced(check=False, **update)  # checked above; --port 0 is any free port


async def run(args: argparse.Namespace, settings: Settings) -> int:
    service = SimService(apply_overrides(args, settings), duration_s=args.duration)
    return await service.serve()
