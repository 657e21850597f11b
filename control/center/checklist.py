"""The Start All checklist (Qt-free model): its steps with their state, detail and time, as they happen.

:mod:`control.center.start_all` runs the steps and marks them here; the Services tab draws them. Each step is
``pending``, ``active`` (with what it is doing now, e.g. the service's own ``step`` from its heartbeat),
``ok``, ``failed``, ``stuck`` (no progress within its deadline: the detail says in which step the service
is) or ``skipped``. :meth:`Checklist.summary` is the one line the window shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Checklist", "Step"]


@dataclass(slots=True)
class Step:
    key: str
    label: str
    status: str = "pending"
    detail: str = ""
    started: float | None = None
    ended: float | None = None

    def elapsed_s(self, now: float | None = None) -> float | None:
        if self.started is None:
            return None
        return (self.ended if self.ended is not None else (now or time.monotonic())) - self.started


class Checklist:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.steps: list[Step] = []
        self.began: float | None = None
        self.finished: float | None = None
        self.version = 0

    def reset(self, steps: list[tuple[str, str]]) -> None:
        self.steps = [Step(k, label) for k, label in steps]
        self.began = self.clock()
        self.finished = None
        self.version += 1

    def step(self, key: str) -> Step:
        for s in self.steps:
            if s.key == key:
                return s
        raise KeyError(key)

    def _set(self, key: str, status: str, detail: str | None) -> None:
        s = self.step(key)
        now = self.clock()
        if s.started is None:
            s.started = now
        s.status = status
        if detail is not None:
            s.detail = detail
        s.ended = now if status in ("ok", "failed", "stuck", "skipped") else None
        self.version += 1

    def begin(self, key: str, detail: str = "") -> None:
        self._set(key, "active", detail)

    def progress(self, key: str, detail: str) -> None:
        s = self.step(key)
        if s.detail != detail:
            s.detail = detail
            self.version += 1

    def ok(self, key: str, detail: str = "") -> None:
        self._set(key, "ok", detail)

    def fail(self, key: str, detail: str) -> None:
        self._set(key, "failed", detail)

    def stuck(self, key: str, detail: str) -> None:
        self._set(key, "stuck", detail)

    def skip(self, key: str, detail: str = "") -> None:
        self._set(key, "skipped", detail)

    def finish(self) -> None:
        self.finished = self.clock()
        self.version += 1

    @property
    def running(self) -> bool:
        return self.began is not None and self.finished is None

    def summary(self) -> str:
        if not self.steps:
            return "not started from here"
        bad = [s for s in self.steps if s.status in ("failed", "stuck")]
        active = [s for s in self.steps if s.status == "active"]
        if active:
            s = active[0]
            el = s.elapsed_s(self.clock()) or 0.0
            return f"{s.label}: {s.detail or 'in progress'} ({el:.0f}s)"
        if bad:
            s = bad[0]
            return f"{s.status}: {s.label} - {s.detail}"
        if all(s.status in ("ok", "skipped") for s in self.steps) and self.began is not None:
            took = (self.finished or self.clock()) - self.began
            return f"all green in {took:.1f}s"
        return "waiting"
