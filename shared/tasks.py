"""Task ownership: every background task is created by its owner, named, referenced and watched.

:class:`TaskOwner` is the one implementation, composed by the service base (:mod:`shared.service`), the
Control Center's engine and every visualizer window; what differs between them is the ``on_failure`` hook
(a service fails, the Control Center shows the message, a window shows it in its status line). Each task is
named ``<prefix><name>``. When a task ends, its owner forgets it and:

* a failure (an exception) is logged as ``task_failed`` with its traceback, then ``on_failure(task, exc)``;
* a cancellation nobody asked for (neither :meth:`TaskOwner.cancel`, :meth:`TaskOwner.cancel_all` nor a
  replacement, and while ``quiet_when`` is not set) is logged as ``task_cancelled``, a warning, then
  ``on_failure`` with :class:`TaskCancelled`: nothing does that task's work any more;
* a task that returns, or that its owner cancelled, ends quietly.

``spawn(..., replace=True)`` cancels a running task of the same name first ("latest wins": a window's
user-driven loads). :meth:`TaskOwner.cancel_all` cancels what is left and waits under a deadline, logging
each task still pending by name (``task_still_pending``). A task spawned with ``drains=True`` (one that
finishes its work after the others stop, e.g. a service's publisher drained in ``teardown``) is spared by
``cancel_all(spare_draining=True)`` and cancelled by the final round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

from shared.logs import get_logger

__all__ = ["FailureHook", "TaskCancelled", "TaskOwner"]

FailureHook = Callable[[str, BaseException], None]
"""``(task name, error)``: what the owner does when one of its tasks dies (after the death is logged)."""


class TaskCancelled(Exception):
    """An owned task was cancelled by someone other than its owner: nothing does its work any more."""


class TaskOwner:
    """Named, referenced, watched tasks of one owner (see the module docstring)."""

    def __init__(self, log: Any = None, *, prefix: str = "", on_failure: FailureHook | None = None,
                 quiet_when: asyncio.Event | None = None) -> None:
        self.log = log if log is not None else get_logger("tasks")
        self.prefix = prefix
        self.on_failure = on_failure
        self.quiet_when = quiet_when      # while set, a cancellation is expected (the owner is stopping)
        self._tasks: dict[asyncio.Task[Any], bool] = {}   # task -> drains (spared by a first cancel round)
        self._cancelling: set[asyncio.Task[Any]] = set()  # cancelled by this owner: ends quietly

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str, *, replace: bool = False,
              drains: bool = False) -> asyncio.Task[Any]:
        """Run ``coro`` as the owned task ``<prefix><name>``; ``replace``: cancel a running one of that name."""
        if replace:
            self.cancel(name)
        task = asyncio.get_running_loop().create_task(coro, name=self.prefix + name)
        return self.adopt(task, drains=drains)

    def adopt(self, task: asyncio.Task[Any], *, drains: bool = False) -> asyncio.Task[Any]:
        """Own a task made elsewhere (e.g. a server's emitter), under its own name."""
        self._tasks[task] = drains
        task.add_done_callback(self._on_done)
        return task

    def get(self, name: str) -> asyncio.Task[Any] | None:
        """The newest task spawned as ``name`` that runs and is not being cancelled (None: there is none)."""
        full = self.prefix + name
        found = [t for t in self._tasks if t.get_name() == full and t not in self._cancelling]
        return found[-1] if found else None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[asyncio.Task[Any]]:
        return iter(list(self._tasks))

    def names(self) -> list[str]:
        """Full names of the running tasks, in the order they were started."""
        return [t.get_name() for t in self._tasks]

    def cancel(self, name: str) -> bool:
        """Cancel every running task spawned as ``name`` (quietly); False when there was none."""
        full = self.prefix + name
        found = [t for t in self._tasks if t.get_name() == full]
        for task in found:
            self._cancel(task)
        return bool(found)

    def _cancel(self, task: asyncio.Task[Any]) -> None:
        if not task.done():
            self._cancelling.add(task)
            task.cancel()

    async def cancel_all(self, deadline_s: float, *, spare_draining: bool = False, grace_s: float = 0.0,
                         after_grace: Callable[[], Awaitable[None]] | None = None) -> list[str]:
        """Cancel the owned tasks and wait for them at most ``deadline_s``; returns (and logs) the names of
        those still pending. ``spare_draining``: leave tasks spawned with ``drains=True`` running.
        ``after_grace``: awaited once the tasks had ``grace_s`` to end (e.g. closing the connections a read
        holds its cancellation on), before the rest of the deadline."""
        tasks = {t for t, drains in self._tasks.items() if not (spare_draining and drains)}
        for task in tasks:
            self._cancel(task)
        pending = tasks
        if pending and grace_s > 0:
            _, pending = await asyncio.wait(pending, timeout=grace_s)
        if after_grace is not None:
            await after_grace()
        if pending:
            _, pending = await asyncio.wait(pending, timeout=deadline_s)
        names = sorted(t.get_name() for t in pending)
        for name in names:
            self.log.warning("task_still_pending", task=name, deadline_s=deadline_s)
        return names

    def _on_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.pop(task, None)
        asked = task in self._cancelling
        self._cancelling.discard(task)
        name = task.get_name()
        if task.cancelled():
            if asked or (self.quiet_when is not None and self.quiet_when.is_set()):
                return
            self.log.warning("task_cancelled", task=name)
            self._failed(name, TaskCancelled(f"task {name} was cancelled"))
            return
        exc = task.exception()
        if exc is not None:
            self.log.error("task_failed", task=name, error=f"{type(exc).__name__}: {exc}", exc_info=exc)
            self._failed(name, exc)

    def _failed(self, name: str, exc: BaseException) -> None:
        if self.on_failure is not None:
            self.on_failure(name, exc)
