"""Child processes die with their parent: ``PR_SET_PDEATHSIG`` on Linux, bound at the child's own start.

A process that starts children (the supervisor of ``dhan up``, the Control Center, the scheduler, the chaos
harness, bench scripts) hands each ``dhan`` child :func:`parent_env`: the variable ``DHAN_PARENT_PID``. The
child's entry point (``shared.cli``) calls :func:`bind_to_parent` first thing: the kernel then sends it
SIGTERM when its parent goes, however it goes (SIGKILL included), and the child stops cleanly as on any
SIGTERM; a child whose parent is already gone by then does not start. Binaries that are not ours (redis-server,
mariadbd) are started through :func:`bound_argv`, a small exec shim that does the same before ``execvp``;
a ``multiprocessing`` child calls :func:`die_with` with its parent's pid first thing.

The variable is removed from the child's environment when read, so its own children are not bound to their
grandparent. A ``dhan`` started through an intermediary that passed the variable on (``make run``, a shell)
sees a parent pid other than the one named and is left unbound: bound to the intermediary, it would stop
when, say, a shell that started it in the background exits. The kernel sends the signal when the parent
*thread* that forked the child exits: callers spawn from their event loop's (main) thread. Elsewhere than
Linux nothing is bound.

:func:`on_hangup` makes SIGHUP (the terminal closed) a clean stop: output to the dead terminal goes to
``/dev/null`` first, so the shutdown's log lines do not fail on it. Writes can fail before the handler runs
(the hangup comes first): log lines that cannot be written are dropped (``shared.logs``), and ``dhan up``
stops cleanly when its screen cannot be drawn (:func:`output_lost`).
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import stat
import sys
from collections.abc import Callable, MutableMapping

__all__ = [
    "PARENT_PID_ENV", "ParentGone", "bind_to_parent", "bound_argv", "detach_output", "die_with", "on_hangup",
    "output_lost", "parent_env",
]

PARENT_PID_ENV = "DHAN_PARENT_PID"
_PR_SET_PDEATHSIG = 1

# The exec shim of bound_argv: binds, checks that the parent named in argv[1] is still the parent, execs argv[2:].
_SHIM = (
    "import ctypes,os,sys\n"
    "ctypes.CDLL(None,use_errno=True).prctl(1,15,0,0,0)\n"
    "if os.getppid()!=int(sys.argv[1]):sys.exit(1)\n"
    "os.execvp(sys.argv[2],sys.argv[2:])\n"
)


class ParentGone(Exception):
    """The process that started this one exited before it was bound to it."""

    def __init__(self, pid: int) -> None:
        super().__init__(f"its parent process {pid} is gone; not starting")
        self.pid = pid


def parent_env() -> dict[str, str]:
    """Environment entries that bind a ``dhan`` child to this process."""
    return {PARENT_PID_ENV: str(os.getpid())}


def _set_pdeathsig(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def bind_to_parent(environ: MutableMapping[str, str] | None = None) -> bool:
    """SIGTERM when the parent named in ``DHAN_PARENT_PID`` exits; True when bound. :class:`ParentGone` when
    that parent has already exited (this process was orphaned before it could bind)."""
    env = os.environ if environ is None else environ
    raw = env.pop(PARENT_PID_ENV, None)
    if raw is None:
        return False
    try:
        expected = int(raw)
    except ValueError:
        return False
    if os.getppid() != expected:
        if not _alive(expected):
            raise ParentGone(expected)
        return False                        # started through an intermediary that passed the variable on
    return die_with(expected)


def die_with(parent_pid: int) -> bool:
    """SIGTERM when ``parent_pid``, this process's parent, exits (True: bound; False: not on this platform).
    :class:`ParentGone` when it is no longer the parent (it exited already)."""
    if os.getppid() != parent_pid:
        raise ParentGone(parent_pid)
    if not _set_pdeathsig(signal.SIGTERM):
        return False
    if os.getppid() != parent_pid:          # the parent exited between the check and prctl: no signal will come
        raise ParentGone(parent_pid)
    return True


def bound_argv(argv: list[str]) -> list[str]:
    """``argv`` of a foreign binary wrapped so that it gets SIGTERM when this process exits (Linux)."""
    if not sys.platform.startswith("linux"):
        return list(argv)
    return [sys.executable, "-I", "-S", "-c", _SHIM, str(os.getpid()), *argv]


def detach_output(fds: tuple[int, ...] = (1, 2), *, terminals_only: bool = True) -> None:
    """Point ``fds`` (stdout and stderr) at /dev/null: after a hangup writing to the terminal fails (EIO), as
    writing to a pipe whose reader has gone does (EPIPE). ``terminals_only``: only those that are a terminal
    (a character device: a file or pipe a caller reads stays)."""
    fd_null = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in fds:
            try:
                if not terminals_only or stat.S_ISCHR(os.fstat(fd).st_mode):
                    os.dup2(fd_null, fd)
            except OSError:
                continue
    finally:
        os.close(fd_null)


def output_lost(exc: BaseException) -> bool:
    """``exc`` says stdout went away: EIO (the terminal was closed) or EPIPE (its reader exited)."""
    return isinstance(exc, OSError) and exc.errno in (errno.EIO, errno.EPIPE)


def on_hangup(stop: Callable[[], None]) -> Callable[[], None]:
    """A SIGHUP handler: detach from the closed terminal, then ``stop`` as on SIGTERM."""

    def handler() -> None:
        detach_output()
        stop()

    return handler
