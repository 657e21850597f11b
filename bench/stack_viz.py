"""bench/stack.py --viz: six visualizer windows, each in its own process, next to the whole stack at 2k
frames/s (the simulator, feed, writer and greeks of bench/stack_run.py).

Each window is measured as bench/viz_frames.py does (its ``--one`` child: the window's own 30 Hz timer,
a frame = the model push plus the paint events it causes, offscreen raster), all six at once, on the
stack's live streams and database. Printed: every window's frame p50/p99 and share of a core, the windows'
total, and the stack's processes' shares of a core over the same time.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bench.stack_run import Stack, cpu_seconds
from bench.stack_servers import Servers
from shared.lifeline import bound_argv

__all__ = ["measure_viz"]

VIZ_RATE = 2000.0
# the six windows a trader keeps open (the scenario; bench/viz_frames.py knows more)
WINDOWS = ("tick-chart", "option-chain", "quote-board", "volume-profile", "volume-profile-chart", "market-breadth")


async def _window(tree: Path, stack: Stack, name: str, seconds: float, cpu_clock: bool) -> dict[str, Any]:
    cmd = [sys.executable, str(tree / "bench" / "viz_frames.py"), "--one", name, "--prefix", stack.prefix,
           "--database", stack.db, "--seconds", str(seconds)] + (["--cpu-clock"] if cpu_clock else [])
    proc = await asyncio.create_subprocess_exec(*bound_argv(cmd), cwd=stack.tmp, env={
        **stack.env, "QT_QPA_PLATFORM": "offscreen"}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), seconds + 180)
    text = out.decode()
    for ln in text.splitlines():  # VIZ_BENCH_TRACE=1: each window's last frames and slowest (frame, push) ms
        if ln.startswith(("  frames", "  slowest")):
            print(f"  {name}:{ln}", flush=True)
    lines = [ln for ln in text.splitlines() if ln.startswith("RESULT ")]
    if not lines:
        tail = err.decode(errors="replace").strip().splitlines()[-1:]
        return {"window": name, "error": tail[0] if tail else f"exit {proc.returncode}"}
    result: dict[str, Any] = json.loads(lines[-1][7:])
    return result


async def measure_viz(
    tree: Path, servers: Servers, seconds: float, env: dict[str, str], *, cpu_clock: bool = False
) -> dict[str, Any]:
    """``cpu_clock``: frames timed in the window thread's CPU time (what a frame costs it) instead of wall time
    (which also counts the turns of every other process on the shared cores)."""
    stack = Stack(tree, servers, VIZ_RATE, extra_env=env)
    client = aioredis.Redis.from_url(servers.redis_url)
    try:
        stack.start()
        await stack.warm_up(client)
        pids = stack.pids()
        cpu0, t0 = {n: cpu_seconds(p) for n, p in pids.items()}, time.monotonic()
        windows = await asyncio.gather(*(_window(tree, stack, name, seconds, cpu_clock) for name in WINDOWS))
        el = time.monotonic() - t0
        stack_pct = {n: (cpu_seconds(p) - cpu0[n]) / el * 100 for n, p in pids.items()}
    finally:
        await client.aclose()
        await stack.stop()
    ok = [w for w in windows if "error" not in w]
    out = {"windows": windows, "windows_core_pct": sum(w["cpu"] for w in ok) * 100,
           "worst_p99_ms": max((w["p99"] for w in ok), default=float("nan")), "stack_core_pct": stack_pct}
    clock = "CPU time of the window's thread" if cpu_clock else "wall clock"
    print(f"\nviz: six windows, each its own process, next to the stack at {VIZ_RATE:,.0f} updates/s ({seconds:g} s, "
          f"frames in {clock})")
    print(f"  {'window':<22}{'frames':>7}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'core %':>8}{'ev/s in':>9}")
    for w in windows:
        if "error" in w:
            print(f"  {w['window']:<22} failed: {w['error']}")
            continue
        print(f"  {w['window']:<22}{w['frames']:>7}{w['p50']:>8.1f}{w['p99']:>8.1f}{w['max']:>8.1f}"
              f"{w['cpu'] * 100:>8.1f}{w['events']:>9,.0f}")
    print(f"  windows together: {out['windows_core_pct']:.0f}% of a core; worst frame p99 {out['worst_p99_ms']:.1f} ms")
    print("  stack, % of a core: " + "  ".join(f"{n} {v:.0f}" for n, v in stack_pct.items()))
    return out
