"""``dhan verify <journal>...``: compare a journal with MySQL; ``--repair`` refills what is missing.

Prints a report (counts, then a few examples of each problem) or, with ``--json``, one JSON object. Exit
code 0 when clean, 1 when problems remain (after the repair, with ``--repair``); a journal or database that
cannot be read is a one-line error with its own code.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from control.audit.journal_scan import scan_journal
from control.audit.repair import RepairResult, repair
from control.audit.verify import check, report_dict, report_lines
from feed.journal import SIGNATURE
from shared.settings import Settings

__all__ = ["HELP", "IS_SERVICE", "add_arguments", "pending_write_ahead", "run"]

HELP = "compare a journal with MySQL: every trade once, latest quotes equal"
IS_SERVICE = False


def _repair_line(result: RepairResult) -> str:
    return (f"repair    {result.ticks_inserted} ticks inserted ({result.ticks_poison} unusable), "
            f"{result.summaries_recomputed} summaries and {result.candles_recomputed} instrument-days of candles "
            f"recomputed, {result.quotes_upserted} quotes upserted")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("journal", nargs="+", type=Path, help="journal file(s) (.djr) of one feed, in order")
    parser.add_argument("--repair", action="store_true",
                        help="insert missing ticks (writer's code path), recompute their summaries, "
                             "fix stale quotes")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object instead of the text report")


def pending_write_ahead(journals: list[Path]) -> list[Path]:
    """Write-ahead files beside the journals still holding records (a killed feed not started since)."""
    dirs = {p.resolve().parent for p in journals}
    return sorted(w for d in dirs for w in d.glob("*.wal") if _size(w) > len(SIGNATURE))


def _size(path: Path) -> int:
    """Bytes of a regular file; 0 for anything else (a dangling link, a directory named *.wal)."""
    try:
        return path.stat().st_size if path.is_file() else 0
    except OSError:
        return 0


async def run(args: argparse.Namespace, settings: Settings) -> int:
    for wal in pending_write_ahead(args.journal):
        print(f"dhan verify: {wal} holds frames of a killed feed that are not in the journal yet (its next "
              "start moves them in); their trades count as extra in MySQL", file=sys.stderr)
    scan = await asyncio.to_thread(scan_journal, args.journal)
    report = await check(settings, scan)
    out: dict[str, Any] = {"before": report_dict(report)}
    lines = report_lines(report)
    if args.repair and report.problems:
        result = await repair(settings, args.journal, report)
        report = await check(settings, await asyncio.to_thread(scan_journal, args.journal))
        out["repair"] = {"ticks_inserted": result.ticks_inserted, "ticks_poison": result.ticks_poison,
                         "summaries_recomputed": result.summaries_recomputed,
                         "candles_recomputed": result.candles_recomputed,
                         "quotes_upserted": result.quotes_upserted}
        out["after"] = report_dict(report)
        lines += [_repair_line(result), "-- after the repair --", *report_lines(report)]
    if args.json:
        sys.stdout.write(orjson.dumps(out).decode() + "\n")
    else:
        sys.stdout.write("\n".join(lines) + "\n")
    return 0 if not report.problems else 1
