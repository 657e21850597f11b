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
import math
import multiprocessing
import os
import random
import time
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import orjson

from shared.settings import Settings, load_settings

OPEN = int(time.time()) + 19_800  # Dhan epoch now: today's session on the machine's clock
OPEN -= OPEN % 86_400 - (9 * 3600 + 15 * 60)  # 09:15 today
WINDOWS = ("volume-profile", "tick-chart", "volume-profile-chart", "market-breadth", "quote-board", "option-chain")


def universe() -> list[dict[str, Any]]:
    def rec(seg: str, sid: int, sym: str, **kw: Any) -> dict[str, Any]:
        base = {
            "seg": seg,
            "sid": sid,
            "symbol": sym,
            "custom_symbol": kw.pop("custom", sym),
            "underlying": "NIFTY",
            "instrument": "FUTIDX",
            "expiry": "2099-01-29",
            "strike": None,
            "option_type": None,
            "lot_size": 75,
            "tick_size": 0.1,
            "role": "future",
            "mode": "full",
        }
        base.update(kw)
        return base

    out = [
        rec("IDX_I", 13, "NIFTY", role="index", instrument="INDEX", expiry=None, tick_size=0.05),
        rec("IDX_I", 25, "BANKNIFTY", role="index", instrument="INDEX", expiry=None, underlying="BANKNIFTY"),
    ]
    out += [
        rec("NSE_FNO", 35001 + i, f"FUT{i}", custom=f"{u} FUT {i}", underlying=u, expiry=f"2099-0{1 + i // 2}-29")
        for i, u in enumerate(("NIFTY", "BANKNIFTY", "NIFTY", "BANKNIFTY"))
    ]
    out += [
        rec(
            "NSE_EQ",
            1000 + i,
            f"STK{i:02d}",
            role="equity",
            instrument="EQUITY",
            expiry=None,
            underlying=f"STK{i:02d}",
            tick_size=0.05,
        )
        for i in range(50)
    ]
    for i in range(72):
        strike = 24200.0 + 50 * i
        for j, t in enumerate(("CE", "PE")):
            out.append(
                rec(
                    "NSE_FNO",
                    40000 + 2 * i + j,
                    f"NIFTY{strike:.0f}{t}",
                    role="option",
                    instrument="OPTIDX",
                    strike=strike,
                    option_type=t,
                    custom=f"NIFTY {strike:.0f} {t}",
                    tick_size=0.05,
                )
            )
    return out


def _price(rec: dict[str, Any], rng: random.Random, level: float) -> float:
    if rec["role"] == "option":
        k = rec["strike"]
        intrinsic = max(0.0, level - k) if rec["option_type"] == "CE" else max(0.0, k - level)
        return float(round(intrinsic + 80 * math.exp(-abs(level - k) / 400) + rng.random(), 1))
    if rec["role"] == "equity":
        return float(round(1000 + rec["sid"] % 50 * 37 + rng.uniform(-20, 20), 1))
    return round(level + (300 if "BANK" in rec["underlying"] else 0) + rng.uniform(-2, 2), 1)


def produce(redis_url: str, prefix: str, rate: float, stop_at: float, start_cum: int, start_ets: int) -> None:
    """Producer process: quotes for all instruments, trades (a third on the NIFTY future), greeks, depth."""
    import redis

    client = redis.Redis.from_url(redis_url)
    recs = universe()
    rng = random.Random(5)
    level, cum = 26000.0, dict.fromkeys((r["sid"] for r in recs), start_cum)
    vol: dict[int, int] = {r["sid"]: 10_000 for r in recs}
    ets = start_ets
    batch_s = 0.02
    while time.time() < stop_at:
        t0 = time.time()
        pipe = client.pipeline(transaction=False)
        n = max(1, int(rate * batch_s))
        level += rng.uniform(-1, 1)
        ets += 1 if rng.random() < 0.05 else 0
        for k in range(n):
            rec = rng.choice(recs) if k % 3 else recs[2]
            px = _price(rec, rng, level)
            seg, sid = rec["seg"], rec["sid"]
            kind = k % 10
            if kind < 5:
                vol[sid] += rng.randint(1, 50)
                ev = {
                    "v": 1,
                    "seg": seg,
                    "sid": sid,
                    "ltp": px,
                    "ltq": 1,
                    "exchange_ts": ets,
                    "atp": px,
                    "volume": vol[sid],
                    "tsq": 1,
                    "tbq": 1,
                    "oi": 1000 + vol[sid] // 10,
                    "oi_high": None,
                    "oi_low": None,
                    "open": px,
                    "close": px - 5,
                    "high": px,
                    "low": px,
                    "prev_close": px - 5,
                    "prev_oi": 1000,
                    "bid": px - 0.1,
                    "ask": px + 0.1,
                    "recv_ts": time.time(),
                    "src": "bench",
                }
                pipe.xadd(f"{prefix}quotes", {"d": orjson.dumps(ev)})
            elif kind < 8:
                q = rng.randint(1, 100)
                cum[sid] += q
                ev = {
                    "v": 1,
                    "seg": seg,
                    "sid": sid,
                    "ltp": px,
                    "qty": q,
                    "ltq": q,
                    "volume": cum[sid],
                    "exchange_ts": ets,
                    "oi": None,
                    "side": rng.choice("BS"),
                    "bid": px - 0.1,
                    "ask": px + 0.1,
                    "recv_ts": time.time(),
                }
                pipe.xadd(f"{prefix}ticks", {"d": orjson.dumps(ev)})
            elif kind == 8 and rec["role"] == "option":
                ev = {
                    "v": 1,
                    "seg": seg,
                    "sid": sid,
                    "underlying_seg": "NSE_FNO",
                    "underlying_sid": 35001,
                    "strike": rec["strike"],
                    "option_type": rec["option_type"],
                    "expiry": rec["expiry"],
                    "price": px,
                    "underlying_price": level,
                    "iv": 0.12 + abs(rec["strike"] - level) / 20000,
                    "delta": 0.5,
                    "gamma": 0.001,
                    "vega": 1200.0,
                    "theta": -3000.0,
                    "rho": 1.0,
                    "exchange_ts": ets,
                    "recv_ts": time.time(),
                }
                pipe.xadd(f"{prefix}greeks", {"d": orjson.dumps(ev)})
            else:
                ev = {
                    "v": 1,
                    "seg": seg,
                    "sid": sid,
                    "exchange_ts": ets,
                    "recv_ts": time.time(),
                    "bids": [[px - 0.1 * (i + 1), 100, 2] for i in range(5)],
                    "asks": [[px + 0.1 * (i + 1), 100, 2] for i in range(5)],
                }
                pipe.xadd(f"{prefix}depth", {"d": orjson.dumps(ev)})
        pipe.execute()
        time.sleep(max(0.0, batch_s - (time.time() - t0)))


async def seed(settings: Settings, history: int) -> tuple[int, int]:
    """Universe, stored quotes/greeks, and ``history`` trades of the NIFTY future through the writer's path."""
    import redis.asyncio as aioredis

    from shared.db import init_schema
    from writer.batch import BatchBuilder, Entry
    from writer.sink import MySQLSink

    await init_schema(settings)
    redis = aioredis.Redis.from_url(settings.redis_url.get_secret_value())
    recs = universe()
    await redis.hset(
        f"{settings.key_prefix}universe", mapping={f"{r['seg']}:{r['sid']}": orjson.dumps(r) for r in recs}
    )
    sink, builder = MySQLSink(settings), BatchBuilder()
    await sink.start()
    rng = random.Random(3)
    px, cum, entries = 26000.0, 0, []
    for i in range(history):
        px = round(px + rng.choice((-0.1, 0, 0.1)) * rng.randint(1, 3), 1)
        q = rng.randint(1, 100)
        cum += q
        ev = {
            "v": 1,
            "seg": "NSE_FNO",
            "sid": 35001,
            "ltp": px,
            "qty": q,
            "ltq": q,
            "volume": cum,
            "exchange_ts": OPEN + i * 20_000 // max(history, 1),
            "oi": None,
            "side": rng.choice("BS"),
            "bid": px - 0.1,
            "ask": px + 0.1,
            "recv_ts": time.time(),
        }
        entries.append(Entry("ticks", b"%d-0" % (i + 1), orjson.dumps(ev)))
    for r in recs:
        quote_ev = {
            "v": 1,
            "seg": r["seg"],
            "sid": r["sid"],
            "ltp": _price(r, rng, 26000.0),
            "ltq": 1,
            "exchange_ts": OPEN,
            "atp": None,
            "volume": 1000,
            "tsq": None,
            "tbq": None,
            "oi": 900,
            "oi_high": None,
            "oi_low": None,
            "open": None,
            "close": 100.0,
            "high": None,
            "low": None,
            "prev_close": 100.0,
            "prev_oi": 800,
            "bid": None,
            "ask": None,
            "recv_ts": time.time(),
            "src": "bench",
        }
        entries.append(Entry("quotes", b"0-1", orjson.dumps(quote_ev)))
    for k in range(0, len(entries), 5000):
        await sink.write(builder.build(entries[k : k + 5000]))
    await sink.stop()
    await redis.aclose()
    return cum, OPEN + 20_000


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))] if s else float("nan")


class PaintClock:
    """Time spent in the paint events of the charts, tables and custom widgets (class-level wrappers)."""

    def __init__(self) -> None:
        self.pending_ms = 0.0
        self._patched: list[tuple[Any, Any]] = []

    def install(self) -> None:
        import pyqtgraph as pg

        from viz.widgets.heatmap import BreadthBar, Heatmap
        from viz.widgets.tables import DataTable

        classes: tuple[Any, ...] = (pg.GraphicsView, DataTable, Heatmap, BreadthBar)
        for cls in classes:
            original = cls.paintEvent

            def timed(widget: Any, event: Any, _original: Any = original) -> None:
                t0 = time.perf_counter()
                _original(widget, event)
                self.pending_ms += (time.perf_counter() - t0) * 1000

            self._patched.append((cls, original))
            cls.paintEvent = timed

    def uninstall(self) -> None:
        for cls, original in self._patched:
            cls.paintEvent = original
        self._patched.clear()

    def take(self) -> float:
        ms, self.pending_ms = self.pending_ms, 0.0
        return ms


async def measure(name: str, settings: Settings, seconds: float) -> dict[str, Any]:
    """The window runs as in production (its own 30 Hz timer); a frame = its model push plus the paint
    events Qt runs for it before the next frame."""
    import importlib

    from PyQt6.QtWidgets import QAbstractScrollArea

    from viz.cli import WINDOWS
    from viz.windows.base import VizOptions

    module, cls, _ = WINDOWS[name]
    window = getattr(importlib.import_module(module), cls)(settings, VizOptions())
    window.resize(1280, 800)
    window.show()
    clock = PaintClock()
    clock.install()
    frames: list[float] = []
    pushes: list[float] = []
    original_frame = window.frame

    def frame() -> None:
        painted = clock.take()  # paints since the previous frame belong to it
        if pushes:
            frames.append(pushes[-1] + painted)
        n = len(window.frame_ms)
        original_frame()
        if len(window.frame_ms) > n:
            pushes.append(window.frame_ms[-1])
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
    cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    events = (window.status_model.meter.total - ev0) / (time.perf_counter() - wall0)
    clock.uninstall()
    window.close()
    await window.shutdown()
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=8000.0, help="events per second from the producer")
    parser.add_argument("--history", type=int, default=60_000, help="stored trades of the NIFTY future")
    parser.add_argument("--windows", default=",".join(WINDOWS))
    parser.add_argument("--profile", action="store_true", help="cProfile each window's run (top functions)")
    args = parser.parse_args()
    base = load_settings()
    m = base.mysql
    db = f"dhan_viz_bench_{os.getpid()}"
    settings = load_settings(
        key_prefix=f"vizbench{os.getpid()}:",
        mysql_url=f"mysql://{m.user}@{m.host}:{m.port}/{db}",
        client_id=None,
        access_token=None,
    )
    from shared.logs import configure_logging

    configure_logging("viz-bench", level="error", fmt="console")
    start_cum, start_ets = asyncio.run(seed(settings, args.history))
    print(f"seeded: 200 instruments, {args.history:,} stored trades; producer {args.rate:,.0f} events/s")
    print(
        "frame = model push + the paint events it causes (window's own 30 Hz timer); "
        "full = every chart and table repainted at once (worst case, sampled 3x/s)"
    )
    print(
        f"{'window':<22}{'load s':>7}{'frames':>7}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
        f"{'full p50':>9}{'full p99':>9}{'CPU %':>7}{'ev/s in':>9}"
    )

    import qasync

    from viz.boot import make_app

    app = make_app()
    import tempfile

    from PyQt6.QtCore import QSettings

    # window state of the bench is its own (default geometry 1280x800, no remembered filters)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="viz-bench-"))
    results = []
    try:
        for i, name in enumerate(args.windows.split(",")):
            stop_at = time.time() + args.seconds + 90
            # each producer continues the cumulative volumes above the last one's (a repeat would be a duplicate)
            first_cum = start_cum + (i + 1) * 100_000_000
            proc = multiprocessing.Process(
                target=produce,
                daemon=True,
                args=(
                    settings.redis_url.get_secret_value(),
                    settings.key_prefix,
                    args.rate,
                    stop_at,
                    first_cum,
                    start_ets,
                ),
            )
            proc.start()
            with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
                if args.profile:
                    import cProfile
                    import pstats

                    prof = cProfile.Profile()
                    prof.enable()
                r = runner.run(measure(name, settings, args.seconds))
                if args.profile:
                    prof.disable()
                    pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
            proc.terminate()
            proc.join()

            results.append(r)
            print(
                f"{r['window']:<22}{r['load_s']:>7.2f}{r['frames']:>7}{r['p50']:>8.2f}{r['p99']:>8.2f}{r['max']:>8.2f}"
                f"{r['full_p50']:>9.2f}{r['full_p99']:>9.2f}{r['cpu'] * 100:>7.1f}{r['events']:>9,.0f}",
                flush=True,
            )
    finally:
        asyncio.run(_cleanup(settings, db))


async def _cleanup(settings: Settings, db: str) -> None:
    import redis.asyncio as aioredis

    from shared.db import connect

    redis = aioredis.Redis.from_url(settings.redis_url.get_secret_value())
    keys = [k async for k in redis.scan_iter(match=f"{settings.key_prefix}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()
    conn = await connect(settings, with_db=False)
    async with conn.cursor() as cur:
        await cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
    conn.close()


if __name__ == "__main__":
    main()
