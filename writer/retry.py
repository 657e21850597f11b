"""Waiting that a stop cuts short, and Redis operations retried until they succeed or the writer stops."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["wait_or_stop"]


async def wait_or_stop(stopping: asyncio.Event, delay_s: float) -> None:
    """Wait ``delay_s`` or until ``stopping`` is set, whichever first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), delay_s)
