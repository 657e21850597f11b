"""``dhan <command>`` run as a real child process, with its exit code, output and peak memory.

The peak resident set size comes from ``wait4`` on that very child (not RUSAGE_CHILDREN, which is the largest
child the test process ever waited for). The child's address space is capped at ``AS_LIMIT_BYTES`` so that a
regression (a decompression bomb, a header asking for millions of contracts) fails the test with a
MemoryError instead of taking the shared machine's memory.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

AS_LIMIT_BYTES = 3 << 30
PEAK_RSS_BOUND_BYTES = 500 << 20  # generous: an idle `dhan replay` peaks near 70 MB


@dataclass(frozen=True)
class Finished:
    code: int
    out: str
    err: str
    peak_rss_bytes: int
    killed: bool  # still running at the deadline (a hang): killed

    def one_line_error(self) -> bool:
        """Failed with exactly one line on stderr and no traceback anywhere."""
        text = self.err.strip()
        return (self.code != 0 and not self.killed and bool(text) and "\n" not in text
                and "Traceback" not in self.out + self.err and "unexpected error" not in text)


def clean_env(**extra: str) -> dict[str, str]:
    """The process environment without any DHAN_* of the developer's, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAN_")}
    env.update({"DHAN_LOG_FORMAT": "json", "DHAN_HEALTH_PORT_BASE": "0"})
    env.update(extra)
    return env


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT_BYTES, AS_LIMIT_BYTES))


def run_dhan(args: list[str], *, cwd: Path, env: Mapping[str, str], deadline_s: float = 120) -> Finished:
    """Run ``dhan *args`` in ``cwd`` (where a developer's .env cannot be) and wait for it to end."""
    out_path, err_path = cwd / ".child-stdout", cwd / ".child-stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "shared.cli", *args], cwd=cwd, env=dict(env),
                                stdout=out, stderr=err, preexec_fn=_limit_memory)
    timer = threading.Timer(deadline_s, proc.kill)  # a deadline for a hang, not a timing assertion
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        killed = not timer.is_alive()
        timer.cancel()
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    return Finished(code, out_path.read_text(errors="replace"), err_path.read_text(errors="replace"),
                    usage.ru_maxrss * 1024, killed)
