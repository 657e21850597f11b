"""The event loop a ``dhan`` command runs on: uvloop when installed (the ``fast`` extra) unless
``DHAN_EVENT_LOOP=asyncio``; ``uvloop`` insists on it.

Measured with bench/stack.py (main beside uvloop, same run, same machine): see the README's performance
table. The Qt windows keep their qasync loop (they do not come through here).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal

from shared.errors import ConfigError

__all__ = ["loop_factory"]

LoopChoice = Literal["auto", "asyncio", "uvloop"]


def loop_factory(choice: LoopChoice) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What ``asyncio.Runner`` builds its loop with; None: the standard one."""
    if choice == "asyncio":
        return None
    try:
        import uvloop  # optional dependency (the ``fast`` extra): imported only when asked for
    except ImportError:
        if choice == "uvloop":
            raise ConfigError("DHAN_EVENT_LOOP=uvloop but uvloop is not installed: "
                              "pip install 'dhan-trading[fast]' (or DHAN_EVENT_LOOP=auto)") from None
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory
