"""Control Center entry: QApplication, a qasync loop under ``asyncio.Runner``, the window, a clean close.

The center (Redis readers, supervisor) is opened after the window is shown and closed after the window
closes (also on SIGINT, SIGTERM and SIGHUP): what it launched is stopped (unless ``keep_running``), its tasks
cancelled, Redis closed. What it launched is bound to it and also stops when it is SIGKILLed. Qt's
"quit on last window closed" is off, so the loop ends only after that async shutdown.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from shared.errors import ConfigError
from shared.lifeline import detach_output
from shared.settings import Settings

__all__ = ["check_display", "make_app", "run_control"]


def check_display() -> None:
    """A one-line error instead of Qt's abort when there is no display or X11 libraries Qt's xcb platform
    loads are missing."""
    if sys.platform != "linux":
        return
    if not (os.environ.get("QT_QPA_PLATFORM") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise ConfigError("no display: run it under X11/Wayland, or set QT_QPA_PLATFORM=offscreen")
    from viz.qtcheck import xcb_problem  # Qt-free; the viz windows' boot asks the same

    problem = xcb_problem()
    if problem is not None:
        raise ConfigError(problem)


def make_app() -> object:
    try:
        from PyQt6.QtWidgets import QApplication
    except ImportError as exc:
        raise ConfigError(f"PyQt6 is not installed ({exc}): pip install 'dhan-trading[gui]'") from None
    existing = QApplication.instance()
    argv = [sys.argv[0] if sys.argv else "dhan-control"]
    app = existing if isinstance(existing, QApplication) else QApplication(argv)
    app.setApplicationName("dhan-control")
    app.setQuitOnLastWindowClosed(False)
    return app


async def _run(settings: Settings, env_path: Path, log_dir: Path, keep_running: bool, start_all: bool,
               duration_s: float | None, auto_restart: bool) -> int:
    from control.center.engine import ControlCenter
    from control.center.ui.main_window import ControlWindow

    center = ControlCenter(settings, log_dir=log_dir, env_path=env_path, stop_children_on_close=not keep_running,
                           auto_restart=auto_restart)
    window = ControlWindow(center)
    loop = asyncio.get_running_loop()
    def close_window(signum: int, _frame: object) -> None:
        if signum == signal.SIGHUP:
            detach_output()                  # the terminal is gone: the shutdown's log lines must not fail on it
        loop.call_soon_threadsafe(window.close)

    previous = {s: signal.signal(s, close_window) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        window.show()
        await center.open()
        if start_all:
            center.submit(center.start_all(), "start_all")
        if duration_s:
            loop.call_later(duration_s, window.close)
        await window.closed.wait()
    finally:
        await center.close()
        for s, h in previous.items():
            signal.signal(s, h)
    return 0


def run_control(settings: Settings, *, env_path: Path, log_dir: Path, keep_running: bool = False,
                start_all: bool = False, duration_s: float | None = None, auto_restart: bool = True) -> int:
    check_display()
    app = make_app()        # keep the reference: a collected QApplication takes the loop down with it
    import qasync

    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        return runner.run(_run(settings, env_path, log_dir, keep_running, start_all, duration_s, auto_restart))
