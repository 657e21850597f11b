"""``dhan chaos``: run the chaos harness (control/chaos/harness.py) and print its table.

The stack's market is a recorded session replayed by ``dhan replay`` on the simulator's port: ``--journal``
(a .djr file or a folder, repeatable) replays that recording; without it, one is recorded first (``dhan sim``
at ``--record-rate`` updates/s and ``dhan feed`` only) until ``--record-frames`` frames are journaled. The
replay runs at about ``--rate`` frames/s and must outlast the faults; when it ends first, the run fails with
one line saying what to raise. After the last fault the whole recording is served, then the stack stops.

Default: the short CI set of faults on an 8,000-frame recording. ``--full``: every fault one at a time, then
the combinations, on a 100,000-frame recording (about 4 minutes of replay). ``--fault NAME`` (repeat) picks
faults; ``--list`` names them. ``--private-mariadb`` runs on a mariadbd of its own in the work folder and adds
the MySQL restart fault (the shared server is never restarted). Otherwise a private database
``dhan_chaos_<hex>`` on ``DHAN_MYSQL_URL``'s server and private redis-servers are used and removed afterwards
(``--keep`` keeps the work folder: logs, recording, journal, AOF).

The table has one row per fault (trades journaled in its window, lost, duplicated, seconds to recover, alerts
fired/cleared), rows for before the first and after the last fault, and the whole run as ``dhan verify``
sees it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pymysql

from control.chaos.faults import CI_FAULTS, FAULTS, FULL_FAULTS, MYSQL_RESTART
from control.chaos.harness import run_chaos
from control.chaos.report import ChaosResult, FaultResult
from shared.errors import ConfigError
from shared.lifeline import on_hangup
from shared.settings import Settings

__all__ = ["HELP", "IS_SERVICE", "add_arguments", "run"]

HELP = "fault injection on a private stack replaying a recording: SIGKILLs, outages, disconnects; prints a table"
IS_SERVICE = False

CI_RECORD_FRAMES = 8_000
FULL_RECORD_FRAMES = 100_000
CI_RATE = 220.0     # frames/s: about what the simulator at 300 updates/s delivered
FULL_RATE = 400.0   # frames/s: 100,000 frames last about 250 s, over twice the full fault list (~100 s)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--full", action="store_true", help="every fault, then combinations (takes minutes)")
    parser.add_argument("--fault", action="append", default=[], metavar="NAME", help="run this fault (repeat)")
    parser.add_argument("--list", action="store_true", help="list the faults and exit")
    parser.add_argument("--journal", action="append", type=Path, default=[], metavar="PATH",
                        help="replay this recording (.djr file or folder; repeat) instead of recording one")
    parser.add_argument("--record-frames", type=int, default=None, metavar="N",
                        help=f"frames to record first (default {CI_RECORD_FRAMES}; --full: {FULL_RECORD_FRAMES})")
    parser.add_argument("--record-rate", type=float, default=3000.0, metavar="UPDATES_PER_S",
                        help="simulator updates per second while recording (default 3000)")
    parser.add_argument("--rate", type=float, default=None, metavar="FRAMES_PER_S",
                        help=f"replay pace (default {CI_RATE:g}; --full: {FULL_RATE:g})")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, recording, journal, AOF)")
    parser.add_argument("--private-mariadb", action="store_true",
                        help=f"run on a private mariadbd (never the shared one) and add '{MYSQL_RESTART}'")


def _drop_database(settings: Settings) -> None:
    target = settings.mysql.target
    conn = pymysql.connect(**{k: v for k, v in target.connect_kwargs(with_db=False).items() if k != "autocommit"})
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{target.database}`")
    finally:
        conn.close()


def _print_result(r: FaultResult) -> None:
    print(f"  done: {r.fault:<32} recovered in {r.recover_s:.1f}s, alerts fired/cleared {r.fired}/{r.resolved}",
          flush=True)


def choose_faults(args: argparse.Namespace) -> list[str]:
    """The faults to run, in order: ``--fault`` as given, else the CI or the full set (with the MySQL restart
    when there is a private MariaDB); ConfigError for an unknown fault or a MySQL restart without one."""
    unknown = [f for f in args.fault if f not in FAULTS]
    if unknown:
        raise ConfigError(f"unknown fault {unknown[0]!r}; dhan chaos --list names them")
    faults = args.fault or (FULL_FAULTS if args.full else CI_FAULTS)
    if args.private_mariadb and not args.fault:
        faults = [*faults[:6], MYSQL_RESTART, *faults[6:]] if args.full else [*faults, MYSQL_RESTART]
    elif MYSQL_RESTART in faults and not args.private_mariadb:
        raise ConfigError(f"'{MYSQL_RESTART}' needs --private-mariadb (the shared server is never restarted)")
    return list(faults)


def _pace(args: argparse.Namespace) -> tuple[int, float]:
    """Frames to record and the replay rate (frames/s), the CI or the full defaults unless given."""
    record_frames = args.record_frames if args.record_frames is not None else (
        FULL_RECORD_FRAMES if args.full else CI_RECORD_FRAMES)
    rate = args.rate if args.rate is not None else (FULL_RATE if args.full else CI_RATE)
    if record_frames <= 0 or rate <= 0 or args.record_rate <= 0:
        raise ConfigError("--record-frames, --record-rate and --rate must be above 0")
    return record_frames, rate


def _private_database(settings: Settings) -> Settings:
    """The settings on a database of the run's own on the same server (dropped afterwards)."""
    base = settings.mysql.url.get_secret_value().rsplit("/", 1)[0]
    return settings.replaced(mysql_url=type(settings.mysql.url)(f"{base}/dhan_chaos_{uuid.uuid4().hex[:10]}"))


@contextlib.contextmanager
def _cancelled_by_signals() -> Iterator[list[str]]:
    """SIGTERM (a CI timeout, kill) and SIGHUP (the terminal closed) unwind like Ctrl-C: children stopped,
    private servers, database and work folder removed, instead of an exit that leaves them behind. Yields
    the names of the signals that came."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    stopped_by: list[str] = []

    def stop_by(name: str) -> Callable[[], None]:
        def handler() -> None:
            stopped_by.append(name)
            main.cancel()
        return handler

    loop.add_signal_handler(signal.SIGTERM, stop_by("SIGTERM"))
    loop.add_signal_handler(signal.SIGHUP, on_hangup(stop_by("SIGHUP")))
    try:
        yield stopped_by
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        loop.remove_signal_handler(signal.SIGHUP)


def _print_report(result: ChaosResult) -> int:
    print(result.table())
    rec, served = result.recording, result.replay
    if rec is not None:
        print(f"recording {rec.frames} frames over {rec.duration_s:.0f}s, replayed at speed {result.speed:.3g}: "
              f"{served.get('frames_routed', 0)} frames served ({served.get('unrouted', 0)} to nobody)")
    print(f"journal frames {result.frames}, trades {result.trades}, extra in MySQL {result.extra}, "
          f"closed gaps in dhan_gaps {result.closed_gaps}")
    print("\n".join(result.lines))
    if result.problems:
        print(f"dhan chaos: {result.problems} problem(s) found by verify", file=sys.stderr)
        return 1
    return 0


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.list:
        print("\n".join(f"{name}{'  (CI)' if name in CI_FAULTS else ''}" for name in FAULTS))
        return 0
    faults = choose_faults(args)
    record_frames, rate = _pace(args)
    private = _private_database(settings)
    work = args.work or Path(tempfile.mkdtemp(prefix="dhan-chaos-"))
    source = (f"replaying {', '.join(map(str, args.journal))}" if args.journal
              else f"recording {record_frames} frames first")
    print(f"dhan chaos: {len(faults)} fault(s), {source}, replay at {rate:g} frames/s, work folder {work}",
          flush=True)
    with _cancelled_by_signals() as stopped_by:
        try:
            result = await run_chaos(private, work, faults, journals=args.journal or None,
                                     record_frames=record_frames, record_rate=args.record_rate, rate=rate,
                                     min_trades=100, private_mariadb=args.private_mariadb,
                                     on_result=_print_result)
        except asyncio.CancelledError:
            print(f"dhan chaos: stopped by {stopped_by[0] if stopped_by else 'a signal'}; children stopped and "
                  "private data removed", file=sys.stderr)
            return 143
        finally:
            if not args.private_mariadb:
                _drop_database(private)
            if not args.keep and args.work is None:
                shutil.rmtree(work, ignore_errors=True)
    return _print_report(result)
