"""The whole stack at several rates, in one table: CPU per event per process, send -> commit, writer lag.

Processes: the simulator (a child, recording every trade's send time), ``dhan feed``, ``dhan writer`` and
``dhan greeks`` (children started from a checkout), and private ``redis-server`` and ``mariadbd`` (default;
``--shared-servers`` uses the local ones with a private database and key prefix, and leaves their CPU out).
Per rate and checkout, the median of ``--runs`` runs (method: bench/stack_run.py):

* CPU-seconds per 1M events, per process (psutil, user + system, children included; events = what the feed
  published: quotes + ticks + depth). Process CPU is steadier than wall time on a shared box.
* send -> commit p50 / p99 of trades (polled every ``--poll-ms``, which the figures carry);
* writer lag: the largest seen, and the seconds from the burst's end until lag and pending are 0;
* the official client's parse rate (dhanhq 2.3.0, full packets, bench/decode.py) measured in the same run:
  a yardstick of the machine's speed at that moment.

``--ref GITREV`` also runs a checkout of that revision (``git archive`` into /tmp, native extension built in
place, the same venv), interleaved run by run, and prints branch / ref ratios. ``--json PATH`` writes the
table; ``--compare OLD.json`` prints ratios against an earlier one. ``--idle``: no events (the simulator
follows market hours, closed now), every service's share of a core, monitor and scheduler included.
``--viz``: six windows in their own processes (bench/viz_frames.py) next to the stack at 2k frames/s.

    .venv/bin/python bench/stack.py [--rates 1000,5000,10000] [--seconds 15] [--runs 1] [--ref main]
        [--json out.json] [--compare old.json] [--idle] [--viz]
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.decode import make_frames, run_dhanhq
from bench.stack_run import Stack, measure_idle, measure_rate
from bench.stack_servers import Servers, private_servers, shared_servers
from bench.stack_viz import measure_viz

IDLE_SERVICES = ("feed", "writer", "greeks", "monitor", "scheduler")
TWEAKS = ROOT / "bench" / "runtime_tweaks"  # its sitecustomize applies DHAN_BENCH_GC / DHAN_BENCH_LOOP


@dataclass(frozen=True)
class Config:
    """What one column of the comparison runs: a checkout and the services' extra environment."""

    tree: Path
    env: dict[str, str]


def configs(args: argparse.Namespace) -> dict[str, Config]:
    """label -> Config: ``--ref`` first (the reference of the ratios), then the branch, then ``--variant``s."""
    env = dict(args.env)
    out: dict[str, Config] = {}
    if args.ref:
        out[f"ref {args.ref}"] = Config(ref_checkout(args.ref), env)
    out["branch"] = Config(ROOT, env)
    for spec in args.variant:
        label, _, assignments = spec.partition(":")
        extra = dict(a.split("=", 1) for a in assignments.split(";") if "=" in a)
        if any(k.startswith("DHAN_BENCH_") for k in extra):
            extra["PYTHONPATH"] = f"{ROOT}{os.pathsep}{TWEAKS}"
        out[label] = Config(ROOT, {**env, **extra})
    return out


def ref_checkout(rev: str) -> Path:
    """``rev`` exported to /tmp (once per commit), its native extension built in place."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", rev], capture_output=True, text=True,
                         check=True).stdout.strip()
    out = Path(f"/tmp/dhan-stack-ref-{sha[:12]}")
    if not (out / ".built").exists():
        out.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", sha], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
        # the optional native extensions the revision's setup.py lists, compiled as it would (the venv's
        # setuptools cannot read a newer pyproject, so not through setup.py)
        for module, sources in native_extensions(out / "setup.py"):
            package, name = module.split(".")
            target = out / package / f"{name}{sysconfig.get_config_var('EXT_SUFFIX')}"
            subprocess.run(["cc", "-O2", "-shared", "-fPIC", f"-I{sysconfig.get_paths()['include']}",
                            *(str(out / src) for src in sources), "-o", str(target)], check=True,
                           capture_output=True)
            # a broken build would silently fall back to pure Python and make the reference look slow
            subprocess.run([sys.executable, "-c", f"import {module}"], cwd=out, check=True)
        (out / ".built").touch()
    return out


def native_extensions(setup_py: Path) -> list[tuple[str, list[str]]]:
    """(module, C sources) of each ``Extension("module", ["source.c", ...], ...)`` in a setup.py, read, not run."""
    out = []
    for node in ast.walk(ast.parse(setup_py.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Extension" and len(node.args) >= 2:
            out.append((ast.literal_eval(node.args[0]), list(ast.literal_eval(node.args[1]))))
    return out


def yardstick(n: int = 40_000) -> float:
    """dhanhq 2.3.0's parse rate of full packets now (packets/s), NaN when it is not installed."""
    return run_dhanhq(make_frames(n, "full")) or float("nan")


async def one(config: Config, servers: Servers, rate: float, args: argparse.Namespace) -> dict[str, Any]:
    stack = Stack(config.tree, servers, rate, extra_env=config.env, poll_ms=args.poll_ms, profile=args.profile,
                  profile_format=args.profile_format, keep_logs=args.keep_logs)
    try:
        stack.start()
        out = await measure_rate(stack, args.seconds)
    finally:
        await stack.stop()
    out["dhanhq_full_per_s"] = yardstick()
    return out


async def one_idle(config: Config, servers: Servers, args: argparse.Namespace) -> dict[str, Any]:
    stack = Stack(config.tree, servers, 0.0, services=IDLE_SERVICES, extra_env={
        "DHAN_MONITOR_MARKET_HOURS": "exchange", **config.env})
    try:
        stack.start(market_hours=True)
        return await measure_idle(stack, args.idle_seconds)
    finally:
        await stack.stop()


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Key by key median of the runs (nested dicts too)."""
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, dict):
            out[key] = median_of([r[key] for r in runs])
        else:
            vals = [r[key] for r in runs if r[key] == r[key]]  # NaN left out
            out[key] = statistics.median(vals) if vals else float("nan")
    return out


def print_rate_table(table: dict[str, dict[str, Any]]) -> None:
    procs = sorted({p for row in table.values() for p in row["cpu_per_1m"]}, key=_proc_order)
    head = f"{'run':<16}{'fr/s':>7}{'ev/s':>8}" + "".join(f"{p:>8}" for p in procs)
    print("CPU-s per 1M events per process; send->commit ms; writer lag entries; lag->0 s after the burst")
    print(head + f"{'p50':>7}{'p99':>7}{'lag max':>9}{'->0 s':>7}{'dhanhq/s':>10}")
    for label, r in table.items():
        cpu = "".join(f"{r['cpu_per_1m'].get(p, float('nan')):>8.1f}" for p in procs)
        print(f"{label:<16}{r['frames_per_s']:>7,.0f}{r['events_per_s']:>8,.0f}{cpu}{r['p50_ms']:>7.0f}"
              f"{r['p99_ms']:>7.0f}{r['lag_max']:>9,.0f}{r['lag_zero_s']:>7.2f}{r['dhanhq_full_per_s']:>10,.0f}")


def _proc_order(name: str) -> tuple[int, str]:
    order = ("sim", "feed", "writer", "greeks", "monitor", "scheduler", "redis", "mariadb")
    return (order.index(name) if name in order else 99, name)


def ratios(new: dict[str, Any], old: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """new / old for every number both have (flattened keys)."""
    out: dict[str, float] = {}
    for key, value in new.items():
        if key not in old:
            continue
        if isinstance(value, dict):
            out.update(ratios(value, old[key], f"{prefix}{key}."))
        elif isinstance(value, (int, float)) and isinstance(old[key], (int, float)) and old[key]:
            out[f"{prefix}{key}"] = value / old[key]
    return out


def print_ratios(title: str, new: dict[str, Any], old: dict[str, Any]) -> None:
    print(f"\n{title} (new / old; < 1 is less CPU, lower latency)")
    for label in new:
        if label in old:
            r = ratios(new[label], old[label])
            print(f"  {label:<16}" + "  ".join(f"{k} {v:.2f}" for k, v in r.items()))


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="1000,5000,10000", help="simulator updates/s (DHAN_SIM_RATE)")
    ap.add_argument("--seconds", type=float, default=15.0, help="burst length per run")
    ap.add_argument("--runs", type=int, default=1, help="runs per rate and checkout (the median is printed)")
    ap.add_argument("--poll-ms", type=float, default=10.0)
    ap.add_argument("--sim-turn-ms", type=float, default=0.0,
                    help="the simulator's send turn (default its own: 50 ms bursts below 2k/s); e.g. 5 for a "
                         "quiet market's updates arriving nearly one by one")
    ap.add_argument("--ref", help="also measure this git revision's checkout, interleaved (e.g. main)")
    ap.add_argument("--json", type=Path, help="write the table here")
    ap.add_argument("--compare", type=Path, help="an earlier --json: print ratios against it")
    ap.add_argument("--idle", action="store_true", help="no events: each service's share of a core")
    ap.add_argument("--idle-seconds", type=float, default=20.0)
    ap.add_argument("--viz", action="store_true", help="six windows next to the stack at 2k frames/s")
    ap.add_argument("--viz-seconds", type=float, default=12.0)
    ap.add_argument("--viz-cpu-clock", action="store_true",
                    help="--viz frames in the window thread's CPU time (their cost) rather than wall time")
    ap.add_argument("--no-rates", action="store_true", help="only --idle / --viz")
    ap.add_argument("--env", action="append", default=[], type=lambda s: tuple(s.split("=", 1)),
                    help="NAME=VALUE for the services (e.g. PYTHONGC or DHAN_* settings); repeatable")
    ap.add_argument("--profile", type=Path, help="py-spy flame graphs of feed and writer per run here (SVG)")
    ap.add_argument("--profile-format", default="flamegraph", choices=("flamegraph", "raw"))
    ap.add_argument("--keep-logs", type=Path, help="copy every service's log of every run here")
    ap.add_argument("--variant", action="append", default=[], metavar="LABEL:NAME=VALUE[;NAME=VALUE]",
                    help="another column on this checkout with extra environment, e.g. 'gc:DHAN_BENCH_GC=50000,20,100' "
                         "or 'uvloop:DHAN_BENCH_LOOP=uvloop' (bench/runtime_tweaks); repeatable")
    ap.add_argument("--shared-servers", action="store_true", help="the local Redis and MariaDB (CPU not counted)")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--mysql-base", default="mysql://root@127.0.0.1:3306")
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    if args.sim_turn_ms:
        os.environ["DHAN_BENCH_SIM_TURN_MS"] = str(args.sim_turn_ms)  # read by the simulator child
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped bench still stops its servers
    columns = configs(args)
    servers = shared_servers(args.redis_url, args.mysql_base) if args.shared_servers else private_servers()
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(),
                              "seconds": args.seconds, "runs": args.runs, "sim_turn_ms": args.sim_turn_ms or None,
                              "columns": list(columns), "rates": {},
                              "each_run": {}, "idle": {}, "viz": {}}
    try:
        for r in ([] if args.no_rates else args.rates.split(",")):
            runs: dict[str, list[dict[str, Any]]] = {label: [] for label in columns}
            for _ in range(args.runs):
                for label, config in columns.items():  # interleaved: drift of the shared box hits all alike
                    runs[label].append(asyncio.run(one(config, servers, float(r), args)))
            table = {f"{label} {r}": median_of(v) for label, v in runs.items()}
            result["rates"].update(table)
            result["each_run"].update({f"{label} {r}": v for label, v in runs.items()})  # a median hides an outlier
            print_rate_table(table)
            if args.runs > 1:
                for label, v in runs.items():
                    each = ", ".join(f"{x['p99_ms']:.0f}" for x in v)
                    print(f"  {label} {r}: send->commit p99 per run {each} ms")
        if args.idle:
            for label, config in columns.items():
                result["idle"][label] = median_of([asyncio.run(one_idle(config, servers, args))
                                                   for _ in range(args.runs)])
            print_idle(result["idle"], args.idle_seconds)
        if args.viz:
            result["viz"] = asyncio.run(measure_viz(ROOT, servers, args.viz_seconds, dict(args.env),
                                                   cpu_clock=args.viz_cpu_clock))
    finally:
        servers.stop()
    report(result, list(columns), args)


def print_idle(idle: dict[str, Any], seconds: float) -> None:
    print(f"\nidle (no events, {seconds:g} s): % of one core")
    for label, r in idle.items():
        print(f"  {label:<16}" + "  ".join(f"{p} {v:.2f}" for p, v in
                                           sorted(r["core_pct"].items(), key=lambda kv: _proc_order(kv[0]))))


def report(result: dict[str, Any], labels: list[str], args: argparse.Namespace) -> None:
    """Ratios of every column to the first (the reference), JSON, ratios to an earlier JSON."""
    base = labels[0]
    for label in labels[1:]:
        if result["rates"]:
            new = {k.removeprefix(f"{label} "): v for k, v in result["rates"].items() if k.startswith(f"{label} ")}
            old = {k.removeprefix(f"{base} "): v for k, v in result["rates"].items() if k.startswith(f"{base} ")}
            print_ratios(f"{label} vs {base}, same run", new, old)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
        print(f"\nwritten: {args.json}")
    if args.compare:
        old_result = json.loads(args.compare.read_text())
        print_ratios(f"this run vs {args.compare}", result["rates"], old_result.get("rates", {}))


if __name__ == "__main__":
    main()
