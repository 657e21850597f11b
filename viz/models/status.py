"""What the status line says: link state of Redis and MySQL, age of the last update, event rate."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LinkState", "RateMeter", "StatusModel", "format_age"]


class RateMeter:
    """Events per second over a sliding window of whole-second buckets (O(1) per event batch)."""

    def __init__(self, window_s: int = 5, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._buckets: deque[list[float]] = deque()  # [second, count]
        self.total = 0

    def add(self, n: int = 1) -> None:
        if n <= 0:
            return
        self.total += n
        sec = float(int(self._clock()))
        if self._buckets and self._buckets[-1][0] == sec:
            self._buckets[-1][1] += n
        else:
            self._buckets.append([sec, float(n)])
            self._trim(sec)

    def _trim(self, now_sec: float) -> None:
        while self._buckets and self._buckets[0][0] <= now_sec - self.window_s:
            self._buckets.popleft()

    def rate(self) -> float:
        """Events per second over the whole seconds in the window (the current second is still filling)."""
        sec = float(int(self._clock()))
        self._trim(sec)
        full = [(s, c) for s, c in self._buckets if s < sec]
        if not full:
            return 0.0
        return sum(c for _, c in full) / (sec - full[0][0])


@dataclass(slots=True)
class LinkState:
    name: str
    ok: bool | None = None  # None: not tried yet
    error: str = ""
    hint: str = ""  # what the operator can do (where it was dialled, which setting)
    retry_at: float | None = None  # clock time of the next attempt while down

    def text(self, now: float) -> str:
        if self.ok is None:
            return f"{self.name}: connecting"
        if self.ok:
            return f"{self.name}: connected"
        retry = ""
        if self.retry_at is not None:
            retry = f", retrying in {max(0.0, self.retry_at - now):.0f} s"
        hint = f" - {self.hint}" if self.hint else ""
        return f"{self.name}: UNREACHABLE ({self.error}){retry}{hint}"


def format_age(age_s: float | None) -> str:
    if age_s is None:
        return "no data yet"
    if age_s < 1:
        return f"{age_s * 1000:.0f} ms ago"
    if age_s < 120:
        return f"{age_s:.1f} s ago"
    if age_s < 7200:
        return f"{age_s / 60:.0f} min ago"
    return f"{age_s / 3600:.1f} h ago"


class StatusModel:
    """Link states, phase (loading history, live) and update age/rate of one window's data."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.redis = LinkState("Redis")
        self.mysql = LinkState("MySQL")
        self.phase = "starting"
        self.note = ""
        self.gaps = ""  # the gap ledger's summary for the instrument shown (viz.models.gaps)
        self.meter = RateMeter(clock=clock)
        self.last_update: float | None = None

    def updated(self, n: int = 1) -> None:
        self.meter.add(n)
        self.last_update = self._clock()

    def age_s(self) -> float | None:
        return None if self.last_update is None else self._clock() - self.last_update

    @property
    def healthy(self) -> bool:
        return bool(self.redis.ok) and self.mysql.ok is not False

    def text(self) -> str:
        now = self._clock()
        parts = [self.redis.text(now), self.mysql.text(now), self.phase]
        parts.append(f"last update {format_age(self.age_s())}")
        parts.append(f"{self.meter.rate():,.0f} ev/s")
        if self.note:
            parts.append(self.note)
        if self.gaps:
            parts.append(self.gaps)
        return "  |  ".join(parts)
