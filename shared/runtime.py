"""Process runtime of the ``dhan`` services: the event loop and the garbage collector's thresholds.

* Event loop: uvloop when installed (the ``fast`` extra) unless ``DHAN_EVENT_LOOP=asyncio``; ``uvloop``
  insists on it. The Qt windows keep their qasync loop (they do not come through here).
* :func:`tune_gc`: a service that allocates per event in bursts (writer, greeks) raises the youngest
  generation's threshold from 700 to ``BURST_GC_THRESHOLD0``: far fewer collections, each scanning little
  more. Measured with bench/stack.py (same run, interleaved): writer CPU per event 0.72-0.76x at 5k-10k
  frames/s, greeks 0.79-0.88x, no change at 1k and below; the feed's figures did not move beyond noise, so
  it keeps the default.
* :func:`settle_heap`: a visualizer, once its history is painted, moves everything alive into the collector's
  permanent generation (``gc.freeze``). Its heap is mostly long-lived (modules, Qt wrappers, history), and a
  full collection scanning it took 45-80 ms, 3-5 times in each 8 s of bench/viz_frames.py, whichever frame
  it fell in; after the freeze a full collection scans only what was made since.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from typing import Literal

from shared.errors import ConfigError

__all__ = ["BURST_GC_THRESHOLD0", "loop_factory", "settle_heap", "tune_gc"]

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


def settle_heap() -> None:
    """Collect the garbage, then freeze what is left (it is never scanned again; see the module's doc).

    Unfreezes first: what an earlier call froze and has since become cyclic garbage (a previous instrument's
    history, say) is collected now rather than kept for good."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
