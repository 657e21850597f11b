"""The one task owner (shared.tasks): what a death, an unasked cancellation, a replacement and a shutdown
with a stuck task each do."""

from __future__ import annotations

import asyncio
from typing import Any

from structlog.testing import capture_logs

from shared.tasks import TaskCancelled, TaskOwner
from tests.conftest import eventually


class _Deaths:
    """The ``on_failure`` hook: every (task, error) it was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, BaseException]] = []

    def __call__(self, name: str, exc: BaseException) -> None:
        self.calls.append((name, exc))


async def _forever() -> None:
    await asyncio.Event().wait()


async def test_a_failure_is_logged_with_its_traceback_and_calls_the_hook() -> None:
    deaths = _Deaths()
    owner = TaskOwner(prefix="svc.", on_failure=deaths)

    async def broken() -> None:
        raise IndexError("bad kind byte 7")

    with capture_logs() as logs:
        task = owner.spawn(broken(), "worker")
        await eventually(lambda: bool(deaths.calls))
    assert task.get_name() == "svc.worker" and "worker" not in owner and len(owner) == 0
    [(name, exc)] = deaths.calls
    assert name == "svc.worker" and isinstance(exc, IndexError)
    [event] = [e for e in logs if e["event"] == "task_failed"]
    assert event["log_level"] == "error" and event["task"] == "svc.worker"
    assert event["error"] == "IndexError: bad kind byte 7" and event["exc_info"] is exc  # the traceback


async def test_an_unasked_cancellation_is_a_warning_and_a_death() -> None:
    deaths = _Deaths()
    owner = TaskOwner(prefix="control.", on_failure=deaths)
    with capture_logs() as logs:
        task = owner.spawn(_forever(), "quotes")
        await asyncio.sleep(0)  # let it start
        task.cancel()           # not through the owner: nothing does its work any more
        await eventually(lambda: bool(deaths.calls))
    [(name, exc)] = deaths.calls
    assert name == "control.quotes" and isinstance(exc, TaskCancelled) and "control.quotes" in str(exc)
    assert [(e["event"], e["log_level"], e["task"]) for e in logs] == [("task_cancelled", "warning", "control.quotes")]


async def test_cancellations_the_owner_expects_are_quiet() -> None:
    deaths = _Deaths()
    stopping = asyncio.Event()
    owner = TaskOwner(on_failure=deaths, quiet_when=stopping)
    with capture_logs() as logs:
        asked = owner.spawn(_forever(), "asked")
        while_stopping = owner.spawn(_forever(), "while_stopping")
        returned = owner.spawn(asyncio.sleep(0), "returned")
        await asyncio.sleep(0)
        assert owner.cancel("asked") and not owner.cancel("nothing of that name")
        assert "asked" not in owner  # no longer counts as running, although it may not have ended yet
        stopping.set()
        while_stopping.cancel()
        await asyncio.wait({asked, while_stopping, returned})
    assert asked.cancelled() and while_stopping.cancelled() and returned.done()
    assert not deaths.calls and not logs and len(owner) == 0


async def test_replace_cancels_the_task_of_the_same_name_and_keeps_the_new_one() -> None:
    deaths = _Deaths()
    owner = TaskOwner(on_failure=deaths)
    with capture_logs() as logs:
        first = owner.spawn(_forever(), "chain", replace=True)
        other = owner.spawn(_forever(), "depth", replace=True)
        await asyncio.sleep(0)
        second = owner.spawn(_forever(), "chain", replace=True)
        await eventually(lambda: first.done() and len(owner) == 2)  # its done-callback has run too
        assert first.cancelled() and not second.done() and not other.done()
        assert owner.get("chain") is second and owner.names() == ["depth", "chain"]
        await owner.cancel_all(1.0)
    assert not deaths.calls and not logs


async def test_cancel_all_logs_what_is_still_pending_after_the_deadline() -> None:
    owner = TaskOwner(prefix="viz.")
    release = asyncio.Event()

    async def stubborn() -> None:
        """Holds its cancellation until released, as a read on a connection nobody closes does."""
        while True:
            try:
                await release.wait()
                return
            except asyncio.CancelledError:
                continue

    stuck = owner.spawn(stubborn(), "stuck")
    quick = owner.spawn(_forever(), "quick")
    await asyncio.sleep(0)
    with capture_logs() as logs:
        pending = await owner.cancel_all(0.2)
    assert pending == ["viz.stuck"] and quick.cancelled() and not stuck.done()
    assert [(e["event"], e["log_level"], e["task"]) for e in logs] == [("task_still_pending", "warning", "viz.stuck")]
    release.set()
    await stuck


async def test_draining_tasks_outlive_the_first_round_and_the_grace_hook_runs_between() -> None:
    owner = TaskOwner()
    order: list[str] = []
    drained = asyncio.Event()

    async def drain() -> None:
        await drained.wait()
        order.append("drained")

    draining = owner.spawn(drain(), "publisher", drains=True)
    other = owner.spawn(_forever(), "reader")
    await asyncio.sleep(0)

    async def after_grace() -> None:
        order.append(f"grace: reader {'done' if other.done() else 'running'}")

    assert await owner.cancel_all(1.0, spare_draining=True, grace_s=1.0, after_grace=after_grace) == []
    assert other.cancelled() and not draining.done() and order == ["grace: reader done"]
    drained.set()
    await draining
    assert await owner.cancel_all(1.0) == [] and order[-1] == "drained" and len(owner) == 0


async def test_an_adopted_task_keeps_its_name_and_is_watched() -> None:
    deaths = _Deaths()
    owner = TaskOwner(prefix="sim.", on_failure=deaths)

    async def emitter() -> Any:
        raise ValueError("emitter broke")

    owner.adopt(asyncio.create_task(emitter(), name="server.emitter"))
    await eventually(lambda: bool(deaths.calls))
    assert deaths.calls[0][0] == "server.emitter"
