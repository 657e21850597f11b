"""``dhan <command>`` run as a real child process, with its exit code, output and peak memory.

The peak resident set size is measured by a small launcher process that forks the command and ``wait4``s it.
Measured from the test process itself it would be wrong: Linux carries a process's high-water RSS across
fork and exec, so a child of a test process that has grown to 1 GB reports 1 GB however little it used
(RUSAGE_CHILDREN also keeps the largest child the test process ever waited for). The command's address space
is capped at ``AS_LIMIT_BYTES`` so that a regression (a decompression bomb, a header asking for millions of
contracts) fails the test with a MemoryError instead of taking the shared machine's memory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

AS_LIMIT_BYTES = 3 << 30
PEAK_RSS_BOUND_BYTES = 500 << 20  # generous: an idle `dhan replay` peaks near 65 MB, `dhan verify` near 65 MB

# argv: report file, address-space cap, then the dhan arguments. `dhan` is shared.cli:main.
_LAUNCHER = """
import os, resource, sys
report, limit, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
pid = os.fork()
if pid == 0:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.execv(sys.executable, [sys.executable, "-m", "shared.cli", *args])
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as fh:
    fh.write(str(usage.ru_maxrss * 1024))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


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


def run_dhan(args: list[str], *, cwd: Path, env: Mapping[str, str], deadline_s: float = 120) -> Finished:
    """Run ``dhan *args`` in ``cwd`` (where a developer's .env cannot be) and wait for it to end."""
    out_path, err_path, rss_path = cwd / ".child-stdout", cwd / ".child-stderr", cwd / ".child-peak-rss"
    rss_path.unlink(missing_ok=True)
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(rss_path), str(AS_LIMIT_BYTES), *args],
                                cwd=cwd, env=dict(env), stdout=out, stderr=err, start_new_session=True)
    # a deadline for a hang, not a timing assertion: the launcher and the command go together
    timer = threading.Timer(deadline_s, os.killpg, (proc.pid, signal.SIGKILL))
    timer.start()
    try:
        code = proc.wait()
    finally:
        killed = not timer.is_alive()
        timer.cancel()
    peak = int(rss_path.read_text()) if rss_path.exists() else 0
    return Finished(code, out_path.read_text(errors="replace"), err_path.read_text(errors="replace"), peak, killed)
