"""``dhan monitor``: alert rules over heartbeats and metrics -> ``dhan:alerts``."""

from __future__ import annotations

import argparse

from shared.settings import Settings

HELP = "alert rules over heartbeats and metrics -> dhan:alerts"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--market-hours", choices=["exchange", "always"], default=None,
                        help="override DHAN_MONITOR_MARKET_HOURS ('always': market-hours rules apply now)")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    # imported at run time: `dhan monitor --help` does not load the service (~2 s of imports)
    from control.monitor.service import MonitorService

    if args.market_hours:
        settings = settings.replaced(monitor_market_hours=args.market_hours)
    return await MonitorService(settings, duration_s=args.duration).serve()
