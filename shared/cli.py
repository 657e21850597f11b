"""``dhan <command>``: one entry point, a sub-command per service, imported lazily.

Each command module exposes ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args, settings) -> int``
(a coroutine function or a plain one). Errors of the :mod:`shared.errors` tree become one line on stderr and
their exit code; nothing else prints a traceback unless ``--log-level debug``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import inspect
import sys
from typing import Any

from shared import __version__
from shared.errors import DhanError
from shared.lifeline import ParentGone, bind_to_parent

__all__ = ["COMMANDS", "main"]

# command -> (module, one-line help). Modules are imported only when their command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "sim": ("feed.sim.cli", "Dhan-protocol exchange simulator (WebSocket feed + scrip master over HTTP)"),
    "feed": ("feed.cli", "Dhan market feed -> Redis streams and channels"),
    "instruments": ("feed.instruments.cli", "load the scrip master into dhan_instruments and show the universe"),
    "writer": ("writer.cli", "Redis streams -> MySQL, batched, exactly-once in effect"),
    "greeks": ("feed.greeks.cli", "option quotes -> implied volatility and greeks -> dhan:greeks"),
    "db": ("shared.db_cli", "database schema: dhan db init | status | create-user"),
    "up": ("control.stack.up", "headless stack: sim (no token), feed, writer, greeks with a live status screen"),
    "monitor": ("control.monitor.cli", "alert rules over heartbeats and metrics -> dhan:alerts"),
    "scheduler": ("control.scheduler.cli", "market calendar: start and stop feed and writer around market hours"),
    "control": ("control.center.cli", "PyQt6 Control Center"),
    "viz": ("viz.cli", "PyQt6 visualizers: dhan viz <name>"),
    "replay": ("control.audit.replay_cli", "serve a recorded journal through the simulator's WebSocket"),
    "verify": ("control.audit.verify_cli", "compare a journal with MySQL: every trade once, latest quotes equal"),
    "chaos": ("control.chaos.cli", "fault injection on a private stack; prints fault, events, lost, dup, recovery"),
}


def _available(name: str) -> bool:
    module = COMMANDS[name][0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # parent package not built yet
        return False


def _top_parser() -> argparse.ArgumentParser:
    available = [n for n in COMMANDS if _available(n)]
    epilog = "commands:\n" + "\n".join(f"  {n:<12} {COMMANDS[n][1]}" for n in available)
    epilog += "\n\nRun 'dhan <command> --help' for a command's options. Settings come from DHAN_* variables and .env."
    parser = argparse.ArgumentParser(
        prog="dhan",
        description="dhan-trading: Dhan market data into Redis and MySQL, with live visualizers.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dhan-trading {__version__}")
    parser.add_argument("command", nargs="?", help="one of the commands below")
    return parser


def add_common_arguments(parser: argparse.ArgumentParser, *, service: bool = True) -> None:
    group = parser.add_argument_group("common")
    if service:
        group.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                           help="stop by itself after this many seconds")
    group.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default=None,
                       help="override DHAN_LOG_LEVEL")
    group.add_argument("--log-format", choices=["auto", "json", "console"], default=None,
                       help="override DHAN_LOG_FORMAT")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        bind_to_parent()  # first: a child of a supervisor dies with it (a parent already gone: no start)
    except ParentGone as exc:
        print(f"dhan {argv[0]}: {exc}" if argv else f"dhan: {exc}", file=sys.stderr)
        return 1
    top = _top_parser()
    if not argv or argv[0] in ("-h", "--help") or argv[0].startswith("-"):
        top.parse_args(argv)  # prints help / version and exits
        top.print_help()
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS or not _available(name):
        top.print_usage(sys.stderr)
        print(f"dhan: error: unknown command {name!r}; run 'dhan --help' for the list", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"dhan {name}", description=COMMANDS[name][1])
    module.add_arguments(parser)
    add_common_arguments(parser, service=getattr(module, "IS_SERVICE", True))
    args = parser.parse_args(rest)
    return run_command(name, module, args)


def run_command(name: str, module: Any, args: argparse.Namespace) -> int:
    # here, not at the top: `dhan --help` and `dhan --version` answer without loading pydantic and structlog
    from shared.logs import configure_logging, get_logger, redact
    from shared.runtime import loop_factory
    from shared.settings import load_settings

    try:
        settings = load_settings()
        configure_logging(
            name,
            level=args.log_level or settings.log.level,
            fmt=args.log_format or settings.log.format,
            secrets=settings.secret_values(),  # the Dhan and sim tokens, the Redis and MySQL passwords
        )
        result = module.run(args, settings)
        if inspect.iscoroutine(result):
            with asyncio.Runner(loop_factory=loop_factory(settings.service.event_loop)) as runner:
                result = runner.run(result)
        return int(result or 0)
    except DhanError as exc:
        print(f"dhan {name}: error: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # unexpected: keep the traceback in the log, one line for the person
        get_logger(name).exception("unexpected_error")
        print(f"dhan {name}: unexpected error: {type(exc).__name__}: {redact(str(exc))}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
