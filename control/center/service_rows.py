"""The Services table (Qt-free): supervisor state + heartbeats + process figures -> one row per service.

States: ``starting`` (launched, no heartbeat of this process yet, or the service says so, with its
``step``), ``running``, ``stopping``, ``stopped``, ``crashed`` (exit code or a crashed last heartbeat) and
``stale heartbeat`` (the process is there or was seen, its heartbeat is older than the bound). Services this
Control Center launched are "local" (PID, CPU and memory through psutil); others are seen through their
heartbeat only (host and PID from it, CPU % from its ``cpu_s`` deltas, memory from ``rss_mb``).
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from control.center.catalog import Entry
from control.monitor.snapshot import num
from control.stack.status import budget_line, pick_rate
from control.stack.supervisor import ChildState

__all__ = ["ProcessFigures", "ServiceRow", "build_rows", "exit_text", "state_colour"]

HOST = socket.gethostname()
_COLOURS = {"running": "green", "starting": "yellow", "stopping": "yellow", "stopped": "grey",
            "crashed": "red", "stale heartbeat": "red"}


def exit_text(code: int | None, last_line: str = "") -> str:
    """``killed by SIGKILL`` for a signal; ``exit 2: <last log line>`` otherwise."""
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}" + (f": {last_line[:100]}" if last_line else "")


def state_colour(state: str) -> str:
    return _COLOURS.get(state, "grey")


@dataclass(slots=True)
class ServiceRow:
    name: str
    kind: str
    state: str
    step: str = ""
    where: str = ""
    uptime_s: float | None = None
    cpu_pct: float | None = None
    rss_mb: float | None = None
    restarts: int | None = None
    rate: str = ""
    detail: str = ""
    local: bool = False
    available: bool = True

    @property
    def colour(self) -> str:
        return state_colour(self.state)


class ProcessFigures:
    """CPU % and memory: psutil for processes on this host, heartbeat ``cpu_s`` deltas for remote ones."""

    def __init__(self) -> None:
        self._procs: dict[int, Any] = {}
        self._cpu_prev: dict[str, tuple[float, float]] = {}   # instance -> (cpu_s, wall)

    def local(self, pid: int) -> tuple[float | None, float | None]:
        import psutil  # the gui extra: only the Control Center asks for CPU and memory of local processes

        proc = self._procs.get(pid)
        try:
            if proc is None:
                proc = self._procs[pid] = psutil.Process(pid)
                proc.cpu_percent(None)                        # first call primes the counter
            with proc.oneshot():
                return round(proc.cpu_percent(None), 1), round(proc.memory_info().rss / 2**20, 1)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            self._procs.pop(pid, None)
            return None, None

    def remote(self, instance: str, hb: dict[str, str]) -> tuple[float | None, float | None]:
        cpu_s, wall = num(hb.get("cpu_s")), num(hb.get("updated_at"))
        pct = None
        if cpu_s is not None and wall is not None:
            prev = self._cpu_prev.get(instance)
            if prev is not None and wall > prev[1]:
                pct = round(100.0 * max(0.0, cpu_s - prev[0]) / (wall - prev[1]), 1)
            if prev is None or wall > prev[1]:
                self._cpu_prev[instance] = (cpu_s, wall)
        return pct, num(hb.get("rss_mb"))

    def forget(self, live_pids: Iterable[int]) -> None:
        keep = set(live_pids)
        for pid in [p for p in self._procs if p not in keep]:
            del self._procs[pid]


def _detail(name: str, hb: dict[str, str]) -> str:
    if not hb:
        return ""
    if name == "feed" and hb.get("connections"):
        line = f"{hb.get('connections_up', '?')}/{hb['connections']} connections, {hb.get('instruments', '?')} instr."
        budget = budget_line(hb)  # Dhan's 5 sockets, shared with the depth feeds
        return f"{line} · {budget}" if budget else line
    if name == "writer" and "lag" in hb:
        return f"lag {hb['lag']}, batch {hb.get('batch_size', '?')}, failures/min {hb.get('failures_per_min', 0)}"
    if name == "monitor" and hb.get("verdict"):
        return f"{hb['verdict']}: {hb.get('verdict_reason', '')}"
    if name == "scheduler" and hb.get("plan"):
        return hb["plan"]
    if name == "greeks" and "group_lag" in hb:
        return f"lag {hb['group_lag']}, {hb.get('options', '?')} options"
    if name == "sim" and "connections" in hb:
        return f"{hb['connections']} connections, {hb.get('subscribed', '?')} subscribed"
    return ""


def _ours(child: ChildState | None, hb: dict[str, str]) -> bool:
    """The heartbeat is the local child's current process's (its pid on this host)."""
    return (child is not None and child.pid is not None and bool(hb) and hb.get("host", HOST) == HOST
            and num(hb.get("pid")) == child.pid)


def _service_state(child: ChildState | None, hb: dict[str, str], age: float | None,
                   stale_s: float) -> tuple[str, str, bool]:
    """(state, step, local) for a service with a heartbeat."""
    fresh = bool(hb) and age is not None and age <= stale_s
    local_alive = child is not None and child.state == "running" and child.pid is not None
    if local_alive:
        if not _ours(child, hb):
            return "starting", "launching", True
        if not fresh:
            return "stale heartbeat", hb.get("step", ""), True
        state = hb.get("state", "starting")
        return ("running" if state == "running" else state), hb.get("step", ""), True
    if child is not None and child.state in ("stopping", "crashed"):
        return child.state, exit_text(child.exit_code, child.last_error) if child.state == "crashed" else "", True
    if child is not None and child.pid is None and child.last_pid is not None and bool(hb) \
            and hb.get("host", HOST) == HOST and num(hb.get("pid")) == child.last_pid:
        # the heartbeat of our own process, which has exited: its last heartbeat ("stopped") may have expired
        # before it was read, leaving an earlier "running" one remembered
        return "stopped", "", False
    if hb:
        state = hb.get("state", "")
        if state in ("crashed", "stopped"):
            return state, hb.get("error", "")[:120] if state == "crashed" else "", False
        if not fresh:
            return "stale heartbeat", hb.get("step", ""), False
        return state, hb.get("step", ""), False
    return "stopped", "", False


def build_rows(entries: list[Entry], children: dict[str, ChildState], heartbeats: dict[str, dict[str, str]],
               now: float, stale_s: float, figures: ProcessFigures) -> list[ServiceRow]:
    rows: list[ServiceRow] = []
    known: set[str] = set()
    for e in entries:
        child = children.get(e.name.replace(" ", "-"))
        if e.is_window:
            state = "stopped"
            if child is not None:
                state = {"running": "running", "crashed": "crashed", "stopping": "stopping"}.get(child.state, "stopped")
            row = ServiceRow(e.name, e.kind, state, local=child is not None and child.pid is not None,
                             available=e.available, restarts=_restarts(child))
            if child is not None and child.pid is not None:
                row.where = f"pid {child.pid}"
                row.uptime_s = now - (child.started_at or now)
                row.cpu_pct, row.rss_mb = figures.local(child.pid)
            elif child is not None and child.state == "crashed":
                row.step = exit_text(child.exit_code, child.last_error)
            rows.append(row)
            continue
        hb = heartbeats.get(e.name, {})
        known.add(e.name)
        rows.append(_row(e.name, e.kind, child, hb, now, stale_s, figures, e.available))
    for inst, hb in sorted(heartbeats.items()):
        if inst not in known:               # another instance (feed-2) or a service this build does not list
            rows.append(_row(inst, "service", None, hb, now, stale_s, figures, True))
    return rows


def _restarts(child: ChildState | None) -> int | None:
    """Restarts of a process this Control Center ran; None (blank) when it never ran it."""
    return child.restarts if child is not None and child.started_at is not None else None


def _row(name: str, kind: str, child: ChildState | None, hb: dict[str, str], now: float, stale_s: float,
         figures: ProcessFigures, available: bool) -> ServiceRow:
    updated = num(hb.get("updated_at")) if hb else None
    age = None if updated is None else max(0.0, now - updated)
    state, step, local = _service_state(child, hb, age, stale_s)
    if local and child is not None and child.pid is not None and not _ours(child, hb):
        hb = {}       # another process's heartbeat under this name (a second stack): none of its figures are ours
    row = ServiceRow(name, kind, state, step, local=local, available=available, restarts=_restarts(child))
    pid = num(hb.get("pid")) if hb else None
    host = hb.get("host", "") if hb else ""
    if local and child is not None and child.pid is not None:
        row.where = f"pid {child.pid}"
        row.cpu_pct, row.rss_mb = figures.local(child.pid)
    elif hb and state not in ("stopped",):
        row.where = f"{host} pid {pid:.0f}" if pid is not None else host
        if host == HOST and pid is not None and state != "crashed":
            row.cpu_pct, row.rss_mb = figures.local(int(pid))
        else:
            row.cpu_pct, row.rss_mb = figures.remote(name, hb)
    if state in ("running", "starting", "stale heartbeat"):
        up = num(hb.get("uptime_s")) if hb else None
        if up is None and child is not None and child.started_at:
            up = now - child.started_at
        row.uptime_s = up
        row.rate = pick_rate(hb) if hb else ""
        row.detail = _detail(name.split("-")[0], hb)
    if state == "stale heartbeat" and age is not None:
        row.detail = f"last heartbeat {age:.0f}s ago" + (f"; {row.detail}" if row.detail else "")
    return row
