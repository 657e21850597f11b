"""A service serving in a task, stopped like SIGTERM would."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["Running"]


class Running:
    """A service serving in a task."""

    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.task = asyncio.create_task(svc.serve())

    async def stop(self, timeout_s: float = 30.0) -> int:
        self.svc.stop("test")
        code = await asyncio.wait_for(self.task, timeout_s)
        return int(code)
