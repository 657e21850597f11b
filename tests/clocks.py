"""Pinned clocks for tests of anything that depends on "today", the session or market hours.

Such code takes a clock (``shared.clock.Clock``); a test hands it a :class:`PinnedClock` set to a deliberately
chosen IST moment, never the real time, so the test means the same at 00:01 IST as at noon.
"""

from __future__ import annotations

import time
from datetime import datetime

from shared.clock import IST, Clock

__all__ = ["PinnedClock", "ist", "running_from"]


def ist(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: float = 0.0) -> float:
    """Epoch seconds of an IST wall-clock moment."""
    whole = int(second)
    return datetime(year, month, day, hour, minute, whole, tzinfo=IST).timestamp() + (second - whole)


class PinnedClock:
    """Stands still at ``t`` until the test moves it (``set``/``advance``)."""

    def __init__(self, t: float) -> None:
        self.t = t

    def set(self, t: float) -> None:
        self.t = t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def __call__(self) -> float:
        return self.t


def running_from(t0: float, speed: float = 1.0) -> Clock:
    """A clock that starts at ``t0`` and runs ``speed`` times as fast as real time (for running services)."""
    m0 = time.monotonic()
    return lambda: t0 + (time.monotonic() - m0) * speed
