"""``dhan greeks``: option quotes -> implied volatility and greeks -> ``dhan:greeks``."""

from __future__ import annotations

import argparse

from shared.errors import ConfigError
from shared.runtime import tune_gc
from shared.settings import Settings

HELP = "option quotes -> implied volatility and greeks -> dhan:greeks"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--instance", default=None,
                        help="heartbeat and consumer name, one per process in group 'greeks'")
    parser.add_argument("--price-source", choices=["mid", "ltp"], default="mid",
                        help="price of options and futures: the bid/ask mid when the book is sane, else the "
                             "last trade (default); or always the last trade")
    parser.add_argument("--batch", type=int, default=1000, metavar="N",
                        help="stream entries per read and publish at most (default 1000)")
    parser.add_argument("--from-beginning", action="store_true",
                        help="a new consumer group starts at the oldest quote instead of '$' (replays)")
    parser.add_argument("--drain", action="store_true",
                        help="finite mode: stop once every quote in the stream has been processed")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    # imported at run time: `dhan greeks --help` does not load the service (~2 s of imports)
    from feed.greeks.service import GreeksService
    if args.batch < 1:
        raise ConfigError("--batch must be at least 1")
    tune_gc()  # this process is the greeks service's: fewer collections under a burst (shared/runtime.py)
    service = GreeksService(
        settings, duration_s=args.duration, instance=args.instance, drain=args.drain,
        price_source=args.price_source, batch_max=args.batch, group_start="0" if args.from_beginning else "$",
    )
    return await service.serve()
