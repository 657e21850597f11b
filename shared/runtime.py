"""Process runtime of the ``dhan`` services: the event loop and the garbage collector's thresholds.

* Event loop: uvloop when installed (the ``fast`` extra) unless ``DHAN_EVENT_LOOP=asyncio``; ``uvloop``
  insists on it. The Qt windows keep their qasync loop (they do not come through here).
* :func:`tune_gc`: a service that allocates per event in bursts (writer, greeks) raises the youngest
  generation's threshold from 700 to ``BURST_GC_THRESHOLD0``: far fewer collections, each scanning little
  more. Measured with bench/stack.py (same run, interleaved): writer CPU per event 0.72-0.76x at 5k-10k
  frames/s, greeks 0.79-0.88x, no change at 1k and below; the feed's figures did not move beyond noise, so
  it keeps the default.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from typing import Literal

from shared.errors import ConfigError

__all__ = ["BURST_GC_THRESHOLD0", "loop_factory", "tune_gc"]

BURST_GC_THRESHOLD0 = 50_000  # allocations minus deallocations before a generation-0 collection (default 700)
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


def tune_gc(threshold0: int = BURST_GC_THRESHOLD0) -> None:
    """Generation 0 collected every ``threshold0`` net allocations; 20 of those before a generation 1 and
    20 of those before a full collection (the defaults are 700, 10, 10)."""
    gc.set_threshold(threshold0, 20, 20)
