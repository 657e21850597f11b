"""``dhan feed``: Dhan market feed (or the simulator when no token is set) -> Redis."""

from __future__ import annotations

import argparse

from shared.settings import Settings

HELP = "Dhan market feed -> Redis streams and channels"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--instruments-url", default=None,
                        help="scrip master URL or file (default: DHAN_INSTRUMENTS_URL, else Dhan's or the simulator's)")
    parser.add_argument("--instance", default=None, help="heartbeat name when several feeds run (default 'feed')")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    # imported at run time: `dhan feed --help` does not load the service (~2 s of imports)
    from feed.service import FeedService

    if args.instruments_url:
        settings = settings.replaced(instruments_url=args.instruments_url)
    return await FeedService(settings, duration_s=args.duration, instance=args.instance).serve()
