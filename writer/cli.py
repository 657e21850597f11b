"""``dhan writer``: Redis streams -> MySQL (see writer/service.py)."""

from __future__ import annotations

import argparse
import warnings

import pymysql

from shared.runtime import tune_gc
from shared.settings import Settings
from writer.service import WriterService

__all__ = ["HELP", "add_arguments", "run"]

HELP = "Redis streams -> MySQL, batched, exactly-once in effect"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--drain",
        action="store_true",
        help="stop once every stream is written and acknowledged (group lag 0, nothing pending)",
    )
    parser.add_argument(
        "--consumer",
        default=None,
        metavar="NAME",
        help="consumer name in group 'writer' (default DHAN_WRITER_CONSUMER or host-pid)",
    )


async def run(args: argparse.Namespace, settings: Settings) -> int:
    # MySQL 8.0.20+ notes every VALUES() upsert as deprecated (the one form MariaDB also accepts, see
    # writer/sql.py); the driver would turn each note into a Python warning on stderr.
    warnings.filterwarnings("ignore", category=pymysql.err.Warning)
    tune_gc()  # this process is the writer's: fewer collections under a burst (shared/runtime.py)
    service = WriterService(settings, duration_s=args.duration, drain=args.drain, consumer=args.consumer)
    return await service.serve()
