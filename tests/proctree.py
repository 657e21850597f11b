"""Process trees from /proc, for the tests that check no process outlives its parent."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

__all__ = ["alive", "children", "cmdline", "dead_pid", "descendants", "with_env"]


def _parents() -> dict[int, int]:
    """pid -> parent pid of every live (not zombie) process."""
    out: dict[int, int] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z":
            out[int(pid)] = int(fields[1])
    return out


def children(root: int) -> set[int]:
    return {pid for pid, parent in _parents().items() if parent == root}


def descendants(root: int) -> set[int]:
    """Live processes under ``root``: children, grandchildren..."""
    parents = _parents()
    out: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, pp in parents.items() if pp in frontier} - out
        out |= frontier
    return out


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (a zombie has ended)."""
    out = set()
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2] != "Z":
            out.add(pid)
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def with_env(name: str, value: str) -> set[int]:
    """Live processes whose environment has ``name=value`` (e.g. a test's own key prefix): what it started,
    however deep, wherever it was reparented to."""
    want = f"{name}={value}".encode()
    out = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if want in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                out.add(int(pid))
        except OSError:
            continue
    return alive(out)
