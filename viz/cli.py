"""``dhan viz <name>``: open one live visualizer window (or the terminal quote board with ``--tui``)."""

from __future__ import annotations

import argparse
import importlib

from shared.errors import ConfigError
from shared.settings import Settings

__all__ = ["ALIASES", "HELP", "IS_SERVICE", "WINDOWS", "add_arguments", "run"]

HELP = "PyQt6 visualizers: dhan viz <name>"
IS_SERVICE = False

# name -> (module, class, one-line description)
WINDOWS: dict[str, tuple[str, str, str]] = {
    "volume-profile": (
        "viz.windows.volume_profile",
        "VolumeProfileWindow",
        "volume by price with POC, value area and buy/sell split",
    ),
    "market-breadth": (
        "viz.windows.market_breadth",
        "MarketBreadthWindow",
        "NIFTY 50 advances/declines, A/D line, heatmap by % change",
    ),
    "tick-chart": ("viz.windows.tick_chart", "TickChartWindow", "candles of N trades each with volume"),
    "volume-profile-chart": (
        "viz.windows.volume_profile_chart",
        "VolumeProfileChartWindow",
        "a profile per session period, developing POC, session profile",
    ),
    "quote-board": (
        "viz.windows.quote_board",
        "QuoteBoardWindow",
        "every subscribed instrument, sortable and filterable, depth on double-click",
    ),
    "option-chain": (
        "viz.windows.option_chain",
        "OptionChainWindow",
        "calls and puts around ATM with greeks, IV smile or GEX",
    ),
    "oi": (
        "viz.windows.oi",
        "OiWindow",
        "OI change from the previous close by strike, PCR, max pain, build-up",
    ),
    "depth": (
        "viz.windows.depth_ladder",
        "DepthLadderWindow",
        "DOM ladder (20-level depth) beside a liquidity heatmap with trades",
    ),
    "straddle": (
        "viz.windows.straddle",
        "StraddleWindow",
        "rolling ATM straddle premium with VWAP, ATM IV and ATM moves over the day",
    ),
    "footprint": (
        "viz.windows.footprint",
        "FootprintWindow",
        "order flow, inferred: bid x ask volume per price per bar, delta, imbalances",
    ),
}
ALIASES = {"quotes": "quote-board", "depth-ladder": "depth"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    names = [*WINDOWS, *ALIASES]
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "windows:\n"
        + "\n".join(f"  {n:<22} {d}" for n, (_, _, d) in WINDOWS.items())
        + "\n  quotes                 alias of quote-board"
        + "\n  depth-ladder           alias of depth"
    )
    parser.add_argument("name", choices=names, metavar="name", help="which visualizer: " + ", ".join(names))
    parser.add_argument(
        "--instrument",
        default=None,
        metavar="SEG:ID|SYMBOL",
        help="instrument to open (price windows) or underlying (option chain); "
        "default: NIFTY near-month future / NIFTY",
    )
    parser.add_argument("--theme", choices=["dark", "light"], default=None, help="colour theme (remembered otherwise)")
    parser.add_argument("--tui", action="store_true", help="quote board in the terminal (rich), no display needed")
    parser.add_argument(
        "--duration", type=float, default=None, metavar="SECONDS", help="close by itself after this long"
    )
    parser.add_argument(
        "--screenshot",
        default=None,
        metavar="PATH",
        help="save a PNG of the window once its history is loaded, then exit",
    )


def resolve(name: str) -> str:
    return ALIASES.get(name, name)


def run(args: argparse.Namespace, settings: Settings) -> int:
    name = resolve(args.name)
    if args.duration is not None and args.duration <= 0:
        raise ConfigError("--duration must be a positive number of seconds")
    if args.tui:
        if name != "quote-board":
            raise ConfigError(f"--tui is available for the quote board only (dhan viz quotes --tui), not {name}")
        from viz.tui import run_tui  # the terminal board: neither it nor PyQt6 load for the other

        return run_tui(args, settings)
    module_name, class_name, _ = WINDOWS[name]
    from viz.boot import run_window  # PyQt6 (the gui extra): not loaded for --tui or --help

    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # PyQt6 / pyqtgraph / qasync missing
        raise ConfigError(f"the GUI packages are not installed ({exc}); pip install 'dhan-trading[gui]'") from None
    return run_window(getattr(module, class_name), args, settings)
