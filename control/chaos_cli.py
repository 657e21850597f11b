"""``dhan chaos``: run the chaos harness (control/chaos.py) and print its table.

Default: the short CI set of faults. ``--full``: every fault one at a time, then the combinations, on a stack
kept running until the feed has journaled ``--min-frames`` frames (100,000 by default). ``--fault NAME`` (repeat)
picks faults; ``--list`` names them. ``--private-mariadb`` runs on a mariadbd of its own in the work folder
and adds the MySQL restart fault (the shared server is never restarted). Otherwise a private database
``dhan_chaos_<hex>`` on ``DHAN_MYSQL_URL``'s server
and a private AOF redis-server are used and removed afterwards (``--keep`` keeps the work folder).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

from control.chaos import CI_FAULTS, FAULTS, FULL_FAULTS, MYSQL_RESTART, FaultResult, run_chaos
from shared.errors import ConfigError
from shared.settings import Settings

__all__ = ["HELP", "IS_SERVICE", "add_arguments", "run"]

HELP = "fault injection on a private stack: SIGKILLs, Redis/MySQL outages, Dhan disconnects; prints a table"
IS_SERVICE = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--full", action="store_true", help="every fault, then combinations (takes minutes)")
    parser.add_argument("--fault", action="append", default=[], metavar="NAME", help="run this fault (repeat)")
    parser.add_argument("--list", action="store_true", help="list the faults and exit")
    parser.add_argument("--rate", type=float, default=None, help="simulator updates per second")
    parser.add_argument("--min-frames", type=int, default=None,
                        help="keep running until the feed journaled this many frames (--full: 100000)")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, journal, AOF)")
    parser.add_argument("--private-mariadb", action="store_true",
                        help=f"run on a private mariadbd (never the shared one) and add '{MYSQL_RESTART}'")


def _drop_database(settings: Settings) -> None:
    import pymysql

    target = settings.mysql
    conn = pymysql.connect(**{k: v for k, v in target.connect_kwargs(with_db=False).items() if k != "autocommit"})
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{target.database}`")
    finally:
        conn.close()


def _print_result(r: FaultResult) -> None:
    print(f"  done: {r.fault:<32} {r.events:>8} trades stored, recovered in {r.recover_s:.1f}s", flush=True)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.list:
        print("\n".join(f"{name}{'  (CI)' if name in CI_FAULTS else ''}" for name in FAULTS))
        return 0
    unknown = [f for f in args.fault if f not in FAULTS]
    if unknown:
        raise ConfigError(f"unknown fault {unknown[0]!r}; dhan chaos --list names them")
    faults = args.fault or (FULL_FAULTS if args.full else CI_FAULTS)
    if args.private_mariadb and not args.fault:
        faults = [*faults[:6], MYSQL_RESTART, *faults[6:]] if args.full else [*faults, MYSQL_RESTART]
    elif MYSQL_RESTART in faults and not args.private_mariadb:
        raise ConfigError(f"'{MYSQL_RESTART}' needs --private-mariadb (the shared server is never restarted)")
    min_frames = args.min_frames if args.min_frames is not None else (100_000 if args.full else 0)
    rate = args.rate if args.rate is not None else (2000.0 if args.full else 300.0)
    base = settings.mysql_url.get_secret_value().rsplit("/", 1)[0]
    private = settings.model_copy(
        update={"mysql_url": type(settings.mysql_url)(f"{base}/dhan_chaos_{uuid.uuid4().hex[:10]}")}
    )
    work = args.work or Path(tempfile.mkdtemp(prefix="dhan-chaos-"))
    print(f"dhan chaos: {len(faults)} fault(s), simulator {rate:g}/s, work folder {work}", flush=True)
    try:
        result = await run_chaos(private, work, faults, sim_rate=rate, min_trades=100, min_frames=min_frames,
                                 private_mariadb=args.private_mariadb, on_result=_print_result)
    finally:
        if not args.private_mariadb:
            _drop_database(private)
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(result.table())
    print(f"journal frames {result.frames}, trades {result.trades}, extra in MySQL {result.extra}, "
          f"closed gaps in dhan_gaps {result.closed_gaps}")
    print("\n".join(result.lines))
    if result.problems:
        print(f"dhan chaos: {result.problems} problem(s) found by verify", file=sys.stderr)
        return 1
    return 0
