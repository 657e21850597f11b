"""How every Qt process starts and ends (the visualizer windows and the Control Center): QApplication, a qasync
loop under ``asyncio.Runner``, a close event.

:func:`run_qt` checks the display (a one-line error instead of Qt's abort), makes the application and runs
a coroutine on its loop; :func:`closing_on_signals` turns SIGINT, SIGTERM and SIGHUP (the terminal closed:
output is detached from it first) into closing the window, so the process shuts down as when the window is
closed. Qt's own "quit when the last window closes" is off: the loop stops only after that async shutdown.

``run_window(cls, args, settings)``: builds a visualizer window, shows it, starts its data routines, then
awaits its ``closed`` event (closing the window, a signal, ``--duration`` or ``--screenshot`` done) and
shuts down: tasks cancelled with a deadline, Redis and MySQL closed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

from shared.errors import ConfigError
from shared.lifeline import detach_output
from shared.logs import get_logger
from shared.settings import Settings
from viz.qtcheck import xcb_problem

__all__ = ["LOAD_TIMEOUT_S", "check_display", "closing_on_signals", "make_app", "run_qt", "run_window",
           "save_screenshot"]

LOAD_TIMEOUT_S = 60.0
FAILING_GRACE_S = 2.0
APP_ORG = "dhan-trading"
APP_NAME = "dhan-viz"
PIXMAP_CACHE_KB = 128 * 1024  # QPixmapCache: room for every cached chart item of a big window
VIZ_ALTERNATIVES = "use 'dhan viz quotes --tui' in a terminal, or set QT_QPA_PLATFORM=offscreen (with --screenshot)"
CLOSING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def check_display(alternatives: str = VIZ_ALTERNATIVES) -> None:
    """A one-line error instead of Qt's abort when no display is available or X11 libraries Qt's xcb
    platform loads are missing (probing, not configuration); ``alternatives``: what else the user can do."""
    if sys.platform != "linux":
        return
    if not (os.environ.get("QT_QPA_PLATFORM") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise ConfigError(f"no display: run it under X11/Wayland, {alternatives}")
    problem = xcb_problem()
    if problem is not None:
        raise ConfigError(problem)


def make_app(name: str = APP_NAME) -> object:
    """The process's QApplication (made once) named ``name``; keep the reference while the loop runs."""
    try:
        from PyQt6.QtWidgets import QApplication  # the gui extra: a clear message when it is missing
    except ImportError as exc:
        raise ConfigError(
            f"PyQt6 is not installed ({exc}); install the GUI extra: pip install 'dhan-trading[gui]'"
        ) from None
    from PyQt6.QtGui import QPixmapCache  # with QApplication, above

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0] if sys.argv else name])
    app.setOrganizationName(APP_ORG)
    app.setApplicationName(name)
    app.setQuitOnLastWindowClosed(False)
    # Items cached as pixmaps (viz.widgets.theme.cache_item: axes with their grid, closed bars, VWAP lines) live
    # in QPixmapCache, 10 MB by default: three chart-sized pixmaps. Past that each frame evicts and re-renders
    # them all (a volume-profile frame ~12 -> 30 ms); a window holds a dozen at most.
    QPixmapCache.setCacheLimit(PIXMAP_CACHE_KB)
    return app


def run_qt(main: Callable[[], Coroutine[Any, Any, int]], *, name: str = APP_NAME,
           alternatives: str = VIZ_ALTERNATIVES) -> int:
    """Run ``main()`` on a qasync loop of the application ``name``; returns its exit code."""
    check_display(alternatives)
    app = make_app(name)  # keep the reference: a collected QApplication takes every widget with it
    import qasync  # with PyQt6, after make_app has said clearly when the GUI extra is missing

    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        return runner.run(main())


@contextlib.contextmanager
def closing_on_signals(close: Callable[[], object]) -> Iterator[None]:
    """While inside: SIGINT, SIGTERM and SIGHUP call ``close`` on the running loop (a SIGHUP first points
    output away from the closed terminal, so the shutdown's log lines do not fail on it)."""
    loop = asyncio.get_running_loop()

    def handler(signum: int, _frame: object) -> None:
        if signum == signal.SIGHUP:
            detach_output()
        loop.call_soon_threadsafe(close)

    previous = {s: signal.signal(s, handler) for s in CLOSING_SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


async def save_screenshot(
    window: object, path: Path, timeout_s: float = LOAD_TIMEOUT_S, failing_s: float = FAILING_GRACE_S
) -> bool:
    """Grab the window to ``path`` once its history is painted; or, when Redis/MySQL is failing, once the
    failure has been on screen for ``failing_s`` (the picture then shows the error); at most ``timeout_s``."""
    from viz.windows.base import VizWindow  # PyQt6: only once make_app has checked it is there

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
    from viz.windows.base import VizOptions, VizWindow  # PyQt6: only once make_app has checked it is there

    window = window_cls(settings, VizOptions(instrument=args.instrument, theme=args.theme))
    assert isinstance(window, VizWindow)
    with closing_on_signals(window.close):
        try:
            window.show()
            await window.start()
            if args.duration:
                asyncio.get_running_loop().call_later(float(args.duration), window.close)
            if args.screenshot:
                window.tasks.spawn(_shoot(window, Path(args.screenshot)), "screenshot")
            await window.closed.wait()
        finally:
            await window.stop()
    return window.exit_code


async def _shoot(window: Any, path: Path) -> None:
    """``--screenshot``: save the picture once loaded, then close the window (exit 1 when it could not)."""
    if not await save_screenshot(window, path):
        window.exit_code = 1
        get_logger("viz").error("viz_screenshot_failed", path=str(path))
    window.close()


def run_window(window_cls: type, args: argparse.Namespace, settings: Settings) -> int:
    return run_qt(lambda: _run(window_cls, args, settings))
