"""The depth window's frames offline, the heatmap's column frames apart: CPU time per frame, no Redis or MySQL.

bench/viz_depth_frames.py measures the window as in production, but its p99 over ten seconds is set by about
ten column frames (the heatmap adds a column a second) and moves with whatever else the machine runs. Here
the window (1280x800, offscreen, dark theme) is handed ten minutes of a NIFTY future's 20-level books and
trades from the simulator's book model (devkit/depth_books.py) directly, then ``--seconds`` more of them at
20 books a second, stepped at the window's 30 Hz; each frame is the model push (``window.frame()``) plus the
paint events it causes, in this thread's CPU time. A column frame is one in which the heatmap gained a column.

    .venv/bin/python bench/viz_depth_columns.py [--seconds 30] [--runs 3] [--screenshot out.png]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from bench.viz_frames import PaintClock, percentile
from devkit.depth_books import session
from shared.logs import configure_logging
from shared.settings import load_settings

HISTORY_S = 600.0
START = 1_780_000_000.0  # a fixed true epoch: the same session every run


def _run(app: Any, clock: PaintClock, seconds: float, screenshot: str | None) -> tuple[list[float], list[float]]:
    # the window's modules here, after the clock patched the widget classes (before any widget exists)
    from viz.data.catalog import Instrument
    from viz.models.depth_view import DepthView
    from viz.models.ladder import book_from_event
    from viz.models.ticks import TickSeries
    from viz.windows.base import VizOptions
    from viz.windows.depth_ladder import DepthLadderWindow

    w = DepthLadderWindow(load_settings(), VizOptions())
    w.apply_theme(w.theme)
    w.resize(1280, 800)
    w.show()
    app.processEvents()
    demo = session(start=START, seconds=HISTORY_S + seconds, rate=20.0)
    now = START + HISTORY_S
    w.instrument = Instrument("NSE_FNO", 35001, "NIFTY-Dec2026-FUT", tick_size=0.1, lot_size=75)
    span_s, col_s = w._span()
    w.view = view = DepthView(0.1, col_s=col_s, cols=int(span_s / col_s), ladder_rows=w.ladder.rows_fit())
    ticks = TickSeries()
    ticks.extend_events([t for t in demo.trades if t["recv_ts"] < now])
    w.reset_ticks(ticks, 1)
    w.reset_books([b for e in demo.books if e["recv_ts"] < now if (b := book_from_event(e)) is not None])
    w.frame()
    app.processEvents()
    clock.take()
    books = [(e["recv_ts"], book_from_event(e)) for e in demo.books if e["recv_ts"] >= now]
    trades = [t for t in demo.trades if t["recv_ts"] >= now]
    ib = it = 0
    shown = view.liquidity.newest_column  # the newest column at the last frame
    columns: list[float] = []
    others: list[float] = []
    for k in range(int(seconds * 30)):
        t = now + k / 30
        new_books = []
        while ib < len(books) and books[ib][0] <= t:
            new_books.append(books[ib][1])
            ib += 1
        j = it
        while it < len(trades) and trades[it]["recv_ts"] <= t:
            it += 1
        if it > j:
            w.add_ticks(trades[j:it])
        if new_books:
            w.add_books([b for b in new_books if b is not None])
        t0 = time.thread_time()
        w.frame()
        push = (time.thread_time() - t0) * 1000
        app.processEvents()
        ms = push + clock.take()
        if ms:
            (columns if view.liquidity.newest_column != shown else others).append(ms)
        shown = view.liquidity.newest_column
    if screenshot:
        w.grab().save(screenshot)
    w.close()
    return columns, others


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="live seconds after the history")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--screenshot", help="PNG of the window after the last run")
    args = parser.parse_args()
    configure_logging("viz-bench", level="error", fmt="console")
    from PyQt6.QtCore import QSettings  # Qt only here and in _run

    from viz.boot import make_app

    app = make_app()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)  # the bench's window state is its own
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="viz-bench-"))
    clock = PaintClock(cpu=True)
    clock.install()
    print(f"{'run':<5}{'columns':>8}{'col p50':>9}{'col p90':>9}{'col max':>9}{'others':>8}{'oth p50':>9}"
          f"{'all p99':>9}   CPU ms per frame")  # fmt: skip
    medians = []
    for run in range(args.runs):
        columns, others = _run(app, clock, args.seconds, args.screenshot if run == args.runs - 1 else None)
        every = columns + others
        medians.append(statistics.median(columns))
        print(f"{run + 1:<5}{len(columns):>8}{percentile(columns, 50):>9.2f}{percentile(columns, 90):>9.2f}"
              f"{max(columns):>9.2f}{len(others):>8}{percentile(others, 50):>9.2f}"
              f"{percentile(every, 99):>9.2f}")  # fmt: skip
    print(f"median of the runs' column-frame medians: {statistics.median(medians):.2f} ms")


if __name__ == "__main__":
    main()
