"""Waiting on a condition (never a fixed sleep)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["eventually"]


async def eventually(
    predicate: Callable[[], Awaitable[bool] | bool], *, timeout_s: float = 10.0, interval_s: float = 0.02,
    message: str = "condition not met",
) -> None:
    """Wait until ``predicate`` holds (polling a condition, never a fixed sleep); fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
            result = await result  # type: ignore[misc]
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} within {timeout_s}s")
        await asyncio.sleep(interval_s)
