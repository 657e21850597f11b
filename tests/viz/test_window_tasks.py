"""A window's tasks (shared.tasks.TaskOwner through VizWindow.spawn): latest wins for a name, a routine that
dies is shown in the status line, and a routine that fails on a link is retried, not killed."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from structlog.testing import capture_logs

from shared.settings import Settings
from tests.conftest import eventually
from tests.viz.helpers import open_window, run_qt


def test_a_load_of_the_same_name_replaces_the_previous_one(settings: Settings, qt_state: Any) -> None:
    from viz.windows.base import VizWindow

    async def scenario() -> None:
        started: list[int] = []
        release = asyncio.Event()

        def load(n: int) -> Any:
            async def routine() -> None:
                started.append(n)
                await release.wait()
            return routine

        with capture_logs() as logs:
            async with open_window(VizWindow, settings) as w:
                first = w.spawn(load(1), "chain")
                await eventually(lambda: started == [1])
                second = w.spawn(load(2), "chain")  # the user picked another expiry: the first load is stale
                await eventually(lambda: first.done() and started == [1, 2])
                assert first.cancelled() and not second.done() and w.tasks.get("chain") is second
                release.set()
                await second
                assert "chain" not in w.tasks and w.status_model.note == ""
        assert not [e for e in logs if e["log_level"] in ("warning", "error")]

    run_qt(scenario)


def test_a_routine_that_dies_shows_in_the_status_line(settings: Settings, qt_state: Any) -> None:
    from viz.windows.base import VizWindow

    async def scenario() -> None:
        attempts: list[str] = []

        async def flaky_then_broken() -> None:
            attempts.append("run")
            if len(attempts) == 1:
                raise RedisConnectionError("connection refused")  # a link failure: retried with backoff
            raise KeyError("strike")                               # a bug: the routine dies

        with capture_logs() as logs:
            async with open_window(VizWindow, settings) as w:
                task = w.spawn(flaky_then_broken, "chain")
                await eventually(lambda: task.done() and bool(w.status_model.note), timeout_s=15)  # callback ran
                assert len(attempts) == 2
                assert w.status_model.note == "internal error in chain: KeyError: 'strike'"
        failed = [e for e in logs if e["event"] == "task_failed"]
        assert len(failed) == 1 and failed[0]["task"] == "chain" and failed[0]["log_level"] == "error"

    run_qt(scenario)
