"""Frame time and CPU share of each visualizer under load: 200 instruments updating at a high rate.

Setup: a private database and key prefix; a universe of 200 instruments (2 indices, 4 futures, 50 stocks,
144 options); a day of history for the NIFTY future (``--history`` trades) and stored quotes/greeks, written
through the writer's own batch builder and sink. Load: a separate producer process XADDs quotes for all 200
instruments, trades, greeks and depth at ``--rate`` events/s in total. Each window then runs alone for
``--seconds`` exactly as in production (its own 30 Hz frame timer, offscreen raster). A frame is the model
push (``paint_models``) plus the time of the paint events of charts, tables and custom widgets that follow
it (class-level timing wrappers). "full" repaints every chart and table at once, sampled three times a
second: the worst case of a frame. CPU share is this process's CPU time over wall time (the producer
process is not counted).

    .venv/bin/python bench/viz_frames.py [--seconds 8] [--rate 8000] [--history 60000]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib
import json
import multiprocessing
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from shared.db import connect
from shared.logs import configure_logging

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.viz_load import OPEN, produce, seed
from shared.lifeline import bound_argv, die_with
from shared.settings import Settings, load_settings

WINDOWS = ("volume-profile", "tick-chart", "volume-profile-chart", "market-breadth", "quote-board", "option-chain",
           "depth",  # under this load it shows the 5-level fallback; bench/viz_depth_frames.py drives 20
           "option-chain-gex", "oi", "straddle", "volume-profile-chart-tpo", "footprint")
# bench names that open a window with a remembered choice: option-chain with its lower pane on GEX, the
# volume-profile chart in its TPO mode
VARIANTS = {"option-chain-gex": ("option-chain", "pane", "gex"),
            "volume-profile-chart-tpo": ("volume-profile-chart", "mode", "tpo")}
# two anchored VWAPs on the NIFTY future (the history's instrument), drawn by the tick and profile charts
ANCHORS = {"vwap-anchors/NSE_FNO:35001": f"{OPEN + 3_600},{OPEN + 7_200}"}


def _produce_bound(parent_pid: int, *args: Any) -> None:
    """The producer, stopped with this bench even when it is killed."""
    die_with(parent_pid)
    produce(*args)


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))] if s else float("nan")


class PaintClock:
    """Time spent in the paint events of the charts, tables and custom widgets (class-level wrappers).

    ``cpu``: this thread's CPU time instead of wall time (what a frame costs the window, whatever else the
    machine runs; on a shared box the wall time also counts the other processes' turns)."""

    def __init__(self, cpu: bool = False) -> None:
        self.now = time.thread_time if cpu else time.perf_counter
        self.pending_ms = 0.0
        self._patched: list[tuple[Any, Any]] = []

    def install(self) -> None:
        # Qt here, in the measuring child (--one) only: not in the parent that forks the producer
        import pyqtgraph as pg

        from viz.widgets.heatmap import BreadthBar, Heatmap
        from viz.widgets.ladder import LadderWidget
        from viz.widgets.tables import DataTable

        classes: tuple[Any, ...] = (pg.GraphicsView, DataTable, Heatmap, BreadthBar, LadderWidget)
        for cls in classes:
            original = cls.paintEvent

            def timed(widget: Any, event: Any, _original: Any = original) -> None:
                t0 = self.now()
                _original(widget, event)
                self.pending_ms += (self.now() - t0) * 1000

            self._patched.append((cls, original))
            cls.paintEvent = timed

    def uninstall(self) -> None:
        for cls, original in self._patched:
            cls.paintEvent = original
        self._patched.clear()

    def take(self) -> float:
        ms, self.pending_ms = self.pending_ms, 0.0
        return ms


async def measure(name: str, settings: Settings, seconds: float, *, cpu_clock: bool = False) -> dict[str, Any]:
    """The window runs as in production (its own 30 Hz timer); a frame = its model push plus the paint
    events Qt runs for it before the next frame."""
    # Qt here, in the measuring child (--one) only: not in the parent that forks the producer
    from PyQt6.QtWidgets import QAbstractScrollArea

    from viz.cli import WINDOWS
    from viz.windows.base import VizOptions

    clock = PaintClock(cpu_clock)
    clock.install()  # before the window exists: sip caches a widget's Python overrides when first used
    window_name, *remembered = VARIANTS.get(name, (name,))
    if remembered:
        from PyQt6.QtCore import QSettings

        QSettings().setValue(f"{window_name}/{remembered[0]}", remembered[1])
    module, cls, _ = WINDOWS[window_name]
    window = getattr(importlib.import_module(module), cls)(settings, VizOptions())
    window.resize(1280, 800)
    window.show()
    frames: list[float] = []
    pushes: list[float] = []
    original_frame = window.frame

    def frame() -> None:
        painted = clock.take()  # paints since the previous frame belong to it
        if pushes:
            frames.append(pushes[-1] + painted)
        n = len(window.frame_ms)
        t0 = clock.now()
        original_frame()
        if len(window.frame_ms) > n:
            pushes.append((clock.now() - t0) * 1000 if cpu_clock else window.frame_ms[-1])
        elif pushes:
            pushes.append(0.0)

    window._frame_timer.timeout.disconnect()
    window._frame_timer.timeout.connect(frame)
    await window.start()
    t_load = time.perf_counter()
    while not window.loaded.is_set() and time.perf_counter() - t_load < 60:
        await asyncio.sleep(0.02)
    load_s = time.perf_counter() - t_load
    await asyncio.sleep(0.5)
    frames.clear()
    full: list[float] = []
    cpu0, wall0, ev0 = time.process_time(), time.perf_counter(), window.status_model.meter.total
    while time.perf_counter() - wall0 < seconds:
        await asyncio.sleep(0.33)
        clock_before = clock.take()
        t1 = time.perf_counter()  # worst case now and then: every chart and table repainted in full
        for view in window.findChildren(QAbstractScrollArea):
            view.viewport().repaint()
        full.append((time.perf_counter() - t1) * 1000)
        clock.take()
        clock.pending_ms += clock_before
    if os.environ.get("VIZ_BENCH_TRACE"):
        print("  frames", [round(f, 1) for f in frames[-30:]], "pushes", [round(p, 1) for p in pushes[-30:]])
        skew = len(pushes) - len(frames) - 1  # frames[i] = pushes[i + skew] + its paints (frames cleared at load)
        slow = sorted(range(len(frames)), key=lambda i: -frames[i])[:8]
        print("  slowest (frame, push)", [(round(frames[i], 1), round(pushes[i + skew], 1)) for i in slow], flush=True)
    cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    events = (window.status_model.meter.total - ev0) / (time.perf_counter() - wall0)
    clock.uninstall()
    window.close()
    await window.stop()
    return {
        "window": name,
        "load_s": load_s,
        "frames": len(frames),
        "p50": percentile(frames, 50),
        "p99": percentile(frames, 99),
        "max": max(frames, default=0.0),
        "full_p50": percentile(full, 50),
        "full_p99": percentile(full, 99),
        "cpu": cpu,
        "events": events,
    }


def _settings(prefix: str, db: str) -> Settings:
    m = load_settings().mysql.target
    return load_settings(
        key_prefix=prefix, mysql_url=f"mysql://{m.user}@{m.host}:{m.port}/{db}", client_id=None, access_token=None
    )


def _measure_one(args: argparse.Namespace) -> None:
    """Child process: one window, its own QApplication and QSettings; prints one JSON result line."""
    # Qt here, in the measuring child (--one) only: not in the parent that forks the producer
    import qasync
    from PyQt6.QtCore import QSettings

    from viz.boot import make_app

    app = make_app()
    # window state of the bench is its own (default geometry 1280x800, no remembered filters)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="viz-bench-"))
    for key, value in ANCHORS.items():
        QSettings().setValue(key, value)
    settings = _settings(args.prefix, args.database)
    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
        result = runner.run(measure(args.one, settings, args.seconds, cpu_clock=args.cpu_clock))
        if args.profile:
            prof.disable()
            if os.environ.get("VIZ_BENCH_PROF_OUT"):  # a file per window, for pstats by hand
                prof.dump_stats(f"{os.environ['VIZ_BENCH_PROF_OUT']}.{args.one}")
            # VIZ_BENCH_SORT=tottime: where the time is spent itself (paint methods of the items)
            pstats.Stats(prof).sort_stats(os.environ.get("VIZ_BENCH_SORT", "cumulative")).print_stats(
                int(os.environ.get("VIZ_BENCH_TOP", "25")))
    print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=8000.0, help="events per second from the producer")
    parser.add_argument("--history", type=int, default=60_000, help="stored trades of the NIFTY future")
    parser.add_argument("--prior-days", type=int, default=3,
                        help="earlier sessions of as many trades each (the charts' Days, settings.viz.prior_days)")
    parser.add_argument("--windows", default=",".join(WINDOWS))
    parser.add_argument("--profile", action="store_true", help="cProfile each window's run (top functions)")
    parser.add_argument("--cpu-clock", action="store_true",
                        help="time frames in CPU time of the window's thread, not wall time (a shared machine)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child process: measure this window
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args()

    configure_logging("viz-bench", level="error", fmt="console")
    if args.one:
        _measure_one(args)
        return

    db, prefix = f"dhan_viz_bench_{os.getpid()}", f"vizbench{os.getpid()}:"
    settings = _settings(prefix, db)
    start_cum, start_ets = asyncio.run(seed(settings, args.history, args.prior_days))
    print(f"seeded: 200 instruments, {args.history:,} stored trades today and on each of {args.prior_days} earlier "
          f"days; producer {args.rate:,.0f} events/s")
    print(
        "frame = model push + the paint events it causes (window's own 30 Hz timer); "
        "full = every chart and table repainted at once (worst case, sampled 3x/s); one process per window"
    )
    print(
        f"{'window':<25}{'load s':>7}{'frames':>7}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
        f"{'full p50':>9}{'full p99':>9}{'CPU %':>7}{'ev/s in':>9}"
    )
    try:
        for i, name in enumerate(args.windows.split(",")):
            # each producer continues above the last one's cumulative volumes and exchange times (anything at or
            # below them is a duplicate or a stale quote to the windows, and rightly ignored)
            first_cum = start_cum + (i + 1) * 100_000_000
            first_ets = start_ets + (i + 1) * 3_600
            producer = multiprocessing.Process(
                target=_produce_bound,
                daemon=True,
                args=(
                    os.getpid(),
                    settings.redis.url.get_secret_value(),
                    prefix,
                    args.rate,
                    time.time() + args.seconds + 90,
                    first_cum,
                    first_ets,
                ),
            )
            producer.start()
            cmd = [
                sys.executable,
                __file__,
                "--one",
                name,
                "--prefix",
                prefix,
                "--database",
                db,
                "--seconds",
                str(args.seconds),
            ] + (["--profile"] if args.profile else []) + (["--cpu-clock"] if args.cpu_clock else [])
            child = subprocess.run(bound_argv(cmd), capture_output=True, text=True, timeout=args.seconds + 180,
                                   check=False)
            producer.terminate()
            producer.join()
            lines = [ln for ln in child.stdout.splitlines() if ln.startswith("RESULT ")]
            if args.profile:
                print(child.stdout)
            if not lines:
                print(f"{name:<25} failed: {child.stderr.strip().splitlines()[-1:] or child.returncode}")
                continue
            r = json.loads(lines[-1][7:])
            print(
                f"{r['window']:<25}{r['load_s']:>7.2f}{r['frames']:>7}{r['p50']:>8.2f}{r['p99']:>8.2f}{r['max']:>8.2f}"
                f"{r['full_p50']:>9.2f}{r['full_p99']:>9.2f}{r['cpu'] * 100:>7.1f}{r['events']:>9,.0f}",
                flush=True,
            )
    finally:
        asyncio.run(_cleanup(settings, db))


async def _cleanup(settings: Settings, db: str) -> None:


    redis = aioredis.Redis.from_url(settings.redis.url.get_secret_value())
    keys = [k async for k in redis.scan_iter(match=f"{settings.redis.key_prefix}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()
    conn = await connect(settings, with_db=False)
    async with conn.cursor() as cur:
        await cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
    conn.close()


if __name__ == "__main__":
    main()
