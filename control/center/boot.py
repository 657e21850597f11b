"""Control Center entry: the window on the Qt loop of :func:`viz.boot.run_qt`, and a clean close.

The center (Redis readers, supervisor) is opened after the window is shown and closed after the window
closes (also on SIGINT, SIGTERM and SIGHUP, :func:`viz.boot.closing_on_signals`): what it launched is
stopped (unless ``keep_running``), its tasks cancelled, Redis closed. What it launched is bound to it and
also stops when it is SIGKILLed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from control.center.engine import ControlCenter
from shared.settings import Settings
from viz.boot import closing_on_signals, run_qt

__all__ = ["run_control"]

APP_NAME = "dhan-control"
NO_DISPLAY_ALTERNATIVES = "or set QT_QPA_PLATFORM=offscreen"


async def _run(settings: Settings, env_path: Path, log_dir: Path, keep_running: bool, start_all: bool,
               duration_s: float | None, auto_restart: bool) -> int:
    from control.center.ui.main_window import ControlWindow  # PyQt6: only once run_qt has checked it is there

    center = ControlCenter(settings, log_dir=log_dir, env_path=env_path, stop_children_on_close=not keep_running,
                           auto_restart=auto_restart)
    window = ControlWindow(center)
    with closing_on_signals(window.close):
        try:
            window.show()
            await center.start()
            if start_all:
                center.submit(center.start_all(), "start_all")
            if duration_s:
                asyncio.get_running_loop().call_later(duration_s, window.close)
            await window.closed.wait()
        finally:
            await center.stop()
    return 0


def run_control(settings: Settings, *, env_path: Path, log_dir: Path, keep_running: bool = False,
                start_all: bool = False, duration_s: float | None = None, auto_restart: bool = True) -> int:
    return run_qt(lambda: _run(settings, env_path, log_dir, keep_running, start_all, duration_s, auto_restart),
                  name=APP_NAME, alternatives=NO_DISPLAY_ALTERNATIVES)
