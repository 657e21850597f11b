"""How every window process starts and ends: QApplication, a qasync loop under ``asyncio.Runner``, a close event.

``run_window(cls, args, settings)``: builds the app and the window, shows it, starts its data routines,
then awaits its ``closed`` event (closing the window, Ctrl+C, ``--duration`` or ``--screenshot`` done) and
shuts down: tasks cancelled with a deadline, Redis and MySQL closed. Qt's own "quit when the last window
closes" is off, so the loop stops only after that async shutdown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from shared.errors import ConfigError
from shared.logs import get_logger
from shared.settings import Settings

__all__ = ["LOAD_TIMEOUT_S", "check_display", "make_app", "run_window", "save_screenshot"]

LOAD_TIMEOUT_S = 60.0
FAILING_GRACE_S = 2.0
APP_ORG = "dhan-trading"
APP_NAME = "dhan-viz"


def check_display() -> None:
    """A one-line error instead of Qt's abort when no display is available or X11 libraries Qt's xcb
    platform loads are missing (probing, not configuration)."""
    if sys.platform != "linux":
        return
    if not (os.environ.get("QT_QPA_PLATFORM") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise ConfigError(
            "no display: run it under X11/Wayland, use 'dhan viz quotes --tui' in a terminal, "
            "or set QT_QPA_PLATFORM=offscreen (with --screenshot)"
        )
    from viz.qtcheck import xcb_problem

    problem = xcb_problem()
    if problem is not None:
        raise ConfigError(problem)


def make_app() -> object:
    try:
        from PyQt6.QtWidgets import QApplication
    except ImportError as exc:
        raise ConfigError(
            f"PyQt6 is not installed ({exc}); install the GUI extra: pip install 'dhan-trading[gui]'"
        ) from None
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0] if sys.argv else "dhan-viz"])
    app.setOrganizationName(APP_ORG)
    app.setApplicationName(APP_NAME)
    app.setQuitOnLastWindowClosed(False)
    return app


async def save_screenshot(
    window: object, path: Path, timeout_s: float = LOAD_TIMEOUT_S, failing_s: float = FAILING_GRACE_S
) -> bool:
    """Grab the window to ``path`` once its history is painted; or, when Redis/MySQL is failing, once the
    failure has been on screen for ``failing_s`` (the picture then shows the error); at most ``timeout_s``."""
    from viz.windows.base import VizWindow

    assert isinstance(window, VizWindow)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    failing_since: float | None = None
    while not window.loaded.is_set() and loop.time() < deadline:
        status = window.status_model
        if status.redis.ok is False or status.mysql.ok is False:
            failing_since = failing_since or loop.time()
            if loop.time() - failing_since >= failing_s:
                break
        else:
            failing_since = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(window.loaded.wait(), 0.1)
    if not window.loaded.is_set():
        get_logger("viz").warning("viz_screenshot_before_load", status=window.status_model.text())
    window.refresh_status()
    window.mark_dirty()
    window.frame()
    await asyncio.sleep(0.05)  # let Qt lay out and paint what the last frame changed
    path.parent.mkdir(parents=True, exist_ok=True)
    return bool(window.grab().save(str(path)))


async def _run(window_cls: type, args: argparse.Namespace, settings: Settings) -> int:
    from viz.windows.base import VizOptions, VizWindow

    window = window_cls(settings, VizOptions(instrument=args.instrument, theme=args.theme))
    assert isinstance(window, VizWindow)
    loop = asyncio.get_running_loop()

    def request_close(*_: object) -> None:
        loop.call_soon_threadsafe(window.close)

    previous = {s: signal.signal(s, request_close) for s in (signal.SIGINT, signal.SIGTERM)}
    helpers: list[asyncio.Task[None]] = []
    try:
        window.show()
        await window.start()
        if args.duration:
            loop.call_later(float(args.duration), window.close)
        if args.screenshot:

            async def shoot() -> None:
                ok = await save_screenshot(window, Path(args.screenshot))
                if not ok:
                    window.exit_code = 1
                    get_logger("viz").error("viz_screenshot_failed", path=str(args.screenshot))
                window.close()

            helpers.append(loop.create_task(shoot(), name="screenshot"))
        await window.closed.wait()
    finally:
        for t in helpers:
            t.cancel()
        await window.shutdown()
        for s, h in previous.items():
            signal.signal(s, h)
    return window.exit_code


def run_window(window_cls: type, args: argparse.Namespace, settings: Settings) -> int:
    check_display()
    app = make_app()  # keep the reference: a collected QApplication takes every widget with it
    import qasync

    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        return runner.run(_run(window_cls, args, settings))
