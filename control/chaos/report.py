"""What a chaos run found: one :class:`FaultResult` per fault and the whole run's :class:`ChaosResult`.

:func:`verify_run` runs ``dhan verify``'s check over the run's journal once the stack has stopped, then
counts every journaled, lost and duplicated trade in the fault window holding its frame's receive time
(:mod:`control.chaos.windows`), and reads which gaps the ledger closed. :meth:`ChaosResult.table` is the
table ``dhan chaos`` prints.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from control.audit.journal_scan import scan_journal, trade_recv_ts
from control.audit.verify import check, report_lines
from control.chaos.source import Recording, journal_files
from control.chaos.windows import WindowCounts, count_by_window
from shared.db import connect
from shared.settings import Settings

__all__ = ["ChaosResult", "FaultResult", "verify_run"]


@dataclass
class FaultResult:
    fault: str
    start_ts: float      # epoch s just before the fault was injected
    recovered_ts: float  # epoch s when the recovery was confirmed
    recover_s: float     # from the fault's end (a Dhan fault's injection) until healthy (heartbeats of the
                         # new pids), the feed reconnected, trades flowing and no alert active
    fired: int = 0       # alerts the monitor raised from the fault until recovery
    resolved: int = 0    # ... and cleared
    events: int = 0      # journaled trades whose frame arrived in this fault's window (chaos_windows)
    lost: int = 0        # ... of them not in MySQL
    duplicated: int = 0  # ... of them in MySQL more than once


@dataclass
class ChaosResult:
    faults: list[FaultResult]
    windows: list[WindowCounts] = field(default_factory=list)  # before first fault, one per fault, after last
    trades: int = 0
    frames: int = 0
    missing: int = 0
    duplicated: int = 0
    extra: int = 0
    problems: int = 0
    lines: list[str] = field(default_factory=list)
    closed_gaps: dict[str, int] = field(default_factory=dict)  # dhan_gaps rows with an end, by kind
    recording: Recording | None = None
    speed: float = 0.0                                          # dhan replay --speed
    replay: dict[str, Any] = field(default_factory=dict)        # the replay server's last /health

    def table(self) -> str:
        rows = [f"{'fault':<32} {'events':>8} {'lost':>6} {'dup':>6} {'recover_s':>10} {'alerts fired/cleared':>21}"]
        for i, w in enumerate(self.windows):
            r = self.faults[i - 1] if 0 < i <= len(self.faults) else None
            tail = (f"{r.recover_s:>10.1f} {r.fired:>10}/{r.resolved:<10}" if r is not None
                    else f"{'-':>10} {'-':>10}")
            rows.append(f"{w.name:<32} {w.events:>8} {w.lost:>6} {w.duplicated:>6} {tail}")
        rows.append(f"{'whole run (dhan verify)':<32} {self.trades:>8} {self.missing:>6} {self.duplicated:>6} "
                    f"{'':>10}")
        return "\n".join(rows)


async def verify_run(settings: Settings, journal_dir: Path, results: list[FaultResult]) -> ChaosResult:
    """``dhan verify``'s check over the whole run, then every trade counted in its fault's window."""
    journals = await asyncio.to_thread(journal_files, [journal_dir])
    scan = await asyncio.to_thread(scan_journal, journals)
    report = await check(settings, scan)
    windows = count_by_window(
        [r.fault for r in results], [(r.start_ts, r.recovered_ts) for r in results],
        (ts for day in scan.trades.values() for ts in day.recv_ts),
        trade_recv_ts(scan, report.missing_keys).values(), trade_recv_ts(scan, report.duplicated_keys).values(),
    )
    for r, w in zip(results, windows[1:], strict=False):
        r.events, r.lost, r.duplicated = w.events, w.lost, w.duplicated
    return ChaosResult(results, windows, trades=scan.trade_count, frames=scan.read.frames, missing=report.missing,
                       duplicated=report.duplicated, extra=report.extra, problems=report.problems,
                       lines=report_lines(report), closed_gaps=await closed_gaps(settings))


async def closed_gaps(settings: Settings) -> dict[str, int]:
    """Rows of the gap ledger with an end, by kind."""
    conn = await connect(settings)
    try:
        async with conn.cursor() as cur:
            await cur.execute("SELECT kind, COUNT(*) FROM dhan_gaps WHERE end_ts IS NOT NULL GROUP BY kind")
            rows = await cur.fetchall()
        await conn.rollback()
    finally:
        conn.close()
    return {str(k): int(n) for k, n in rows}
