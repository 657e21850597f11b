"""Runtime variants for bench/stack.py ``--variant``, applied at interpreter start to every service process
(this folder is put on PYTHONPATH only by the bench; nothing of the project imports it):

* ``DHAN_BENCH_GC``: ``T0,T1,T2`` generation thresholds (gc.set_threshold), or ``off`` (gc.disable).
* ``DHAN_BENCH_LOOP=uvloop``: uvloop's event loop policy (asyncio.run then runs on uvloop).
"""

from __future__ import annotations

import gc
import os

_gc = os.environ.get("DHAN_BENCH_GC")
if _gc == "off":
    gc.disable()
elif _gc:
    gc.set_threshold(*(int(x) for x in _gc.split(",")))
if os.environ.get("DHAN_BENCH_LOOP") == "uvloop":
    import asyncio

    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
