"""``dhan scheduler``: market calendar -> start and stop the scheduled services around market hours."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from control.scheduler.plan import make_plan
from shared.calendar import TradingCalendar, session_exchanges
from shared.settings import Settings

HELP = "market calendar: start and stop feed and writer around market hours"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-dir", type=Path, default=Path("var/log"),
                        help="logs of the services it runs in supervise mode (default var/log)")
    parser.add_argument("--show", action="store_true",
                        help="print the plan and each exchange's status now, then exit")


def _show(settings: Settings) -> int:


    cal = TradingCalendar.load(settings.scheduler.holidays_file)
    now = time.time()
    exchanges = session_exchanges(settings)
    plan = make_plan(cal, now, exchanges, settings.scheduler.start_at, settings.scheduler.stop_after_s)
    print(f"services {settings.scheduler.services} ({settings.scheduler.mode}): {plan.describe()}")
    for ex in ("NSE", "MCX"):
        st = cal.status(now, ex)
        nxt = st.next_change.strftime("%a %d %b %H:%M IST") if st.next_change else "-"
        print(f"{ex}: {st.status} ({st.reason}); next change {nxt}")
    return 0


async def _serve(args: argparse.Namespace, settings: Settings) -> int:
    # imported at run time: `dhan scheduler --help` does not load the service (~2 s of imports)
    from control.scheduler.service import SchedulerService

    return await SchedulerService(settings, duration_s=args.duration, log_dir=args.log_dir).serve()


def run(args: argparse.Namespace, settings: Settings) -> object:
    if args.show:
        return _show(settings)
    return _serve(args, settings)
