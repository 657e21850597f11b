"""Pinned clocks for tests of anything that depends on "today", the session or market hours.

Such code takes a clock (``shared.clock.Clock``); a test hands it a :class:`PinnedClock` set to a deliberately
chosen IST moment, never the real time, so the test means the same at 00:01 IST as at noon.
"""

from __future__ import annotations

from datetime import datetime

from shared.clock import IST

__all__ = ["PinnedClock", "ist"]


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
