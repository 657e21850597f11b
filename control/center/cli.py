"""``dhan control``: the PyQt6 Control Center (services, monitor, instruments, logs, alerts, configuration)."""

from __future__ import annotations

import argparse
from pathlib import Path

from shared.settings import Settings

__all__ = ["HELP", "IS_SERVICE", "add_arguments", "run"]

HELP = "PyQt6 Control Center"
IS_SERVICE = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env-file", type=Path, default=Path(".env"),
                        help="the .env the Configuration tab edits (default ./.env, what services read)")
    parser.add_argument("--log-dir", type=Path, default=Path("var/log"),
                        help="logs of the services it launches (default var/log)")
    parser.add_argument("--keep-running", action="store_true",
                        help="leave the services it launched running when the window closes")
    parser.add_argument("--start-all", action="store_true", help="press Start All once the window is up")
    parser.add_argument("--no-auto-restart", action="store_true",
                        help="leave a crashed service crashed instead of restarting it with backoff")
    parser.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                        help="close by itself after this many seconds")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from control.center.boot import run_control  # PyQt6 (the gui extra), loaded only to open the window

    return run_control(settings, env_path=args.env_file, log_dir=args.log_dir, keep_running=args.keep_running,
                       start_all=args.start_all, duration_s=args.duration, auto_restart=not args.no_auto_restart)
