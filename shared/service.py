"""Service base: lifecycle, owned tasks, signals, heartbeat, control channel, ``dhan:logs`` sink.

A service implements :meth:`Service.run` (its main loop, which returns when ``self.stopping`` is set) and
:meth:`Service.metrics` (counters and rates for the heartbeat). The base owns everything else:

* one stop event (``self.stopping``), set by SIGTERM/SIGINT/SIGHUP, ``--duration``, ``dhan:control`` or a failed task;
* background tasks created through :meth:`spawn` (or made elsewhere and handed over with :meth:`adopt`),
  named, referenced and watched: a task that raises, or is cancelled while the service is not stopping, fails
  the service (:meth:`fail`): the death is logged with the task's name, ``/health`` answers 503 naming it,
  the heartbeat says ``crashed`` with ``failed_task``, ``teardown`` still runs (so a component can save what
  it holds) and the process exits non-zero, for its supervisor (compose, ``dhan up``) to restart it. At
  shutdown owned tasks are cancelled and awaited under a deadline, before ``teardown``; a task spawned with
  ``cancel_at_stop=False`` (one that drains in ``teardown``) is left to ``teardown`` and cancelled after it;
* a heartbeat hash ``<prefix>svc:<name>`` written every ``heartbeat_interval_s`` with a TTL of 5 periods;
* warnings and errors appended to the capped ``<prefix>logs`` stream;
* ``/health`` and ``/metrics`` over HTTP (``shared.health``) from the last heartbeat, when a port is set.

The heartbeat and the control listener start before :meth:`setup`, so a service stuck while starting is
visible (state ``starting`` and ``self.step``, which a subclass sets to say what it is doing, e.g.
``"loading instruments"``) and can be stopped. ``metrics()`` joins the heartbeat once ``setup`` has run.
A service that ends with an error leaves a last heartbeat with state ``crashed`` and the ``error``; it is
written once when the service starts stopping and again after ``teardown``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Coroutine
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared import __version__
from shared.bus import connect_redis, follow_channel
from shared.health import HealthServer, health_port
from shared.keys import Keys
from shared.lifeline import on_hangup
from shared.logs import LOG_SINK, clip, get_logger
from shared.settings import Settings

__all__ = ["Service", "TaskCancelled"]

LOGS_MAXLEN = 50_000


class TaskCancelled(Exception):
    """An owned task was cancelled while its service was not stopping: nothing does its work any more."""


def _rss_mb() -> float:
    """Resident memory of this process in MiB (Linux /proc; elsewhere the peak from getrusage)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return round(int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


class Service:
    """Base of every headless service (sim, feed, writer, greeks, monitor, scheduler)."""

    name = "service"

    def __init__(self, settings: Settings, *, duration_s: float | None = None, instance: str | None = None) -> None:
        self.settings = settings
        self.keys = Keys(settings.key_prefix)
        self.duration_s = duration_s
        self.instance = instance or self.name
        self.log = get_logger(self.name)
        self.stopping = asyncio.Event()
        self.state = "starting"
        self.started_at = time.time()
        self.redis: aioredis.Redis | None = None
        self.exit_error: BaseException | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._after_teardown: set[asyncio.Task[Any]] = set()  # owned tasks that teardown ends (cancel_at_stop=False)
        self.failed_task = ""                            # the owned task whose death stopped the service
        self._restart_requested = False
        # heartbeat and health endpoints
        self.step = ""                                   # what the service is doing now (shown when stuck)
        self.last_heartbeat: dict[str, Any] = {}         # the last fields written (read by /health, /metrics)
        self.heartbeat_ok_at = 0.0                       # when a heartbeat last reached Redis
        self.health_port = health_port(self.name, settings.health_port_base)  # None: no endpoints; 0: any
        self.health: HealthServer | None = None
        self._set_up = False
        self._control_ready = asyncio.Event()  # subscribed to dhan:control: a 'running' service hears a stop

    # --- for subclasses ---
    async def setup(self) -> None:
        """Acquire resources (called after Redis is connected)."""

    async def run(self) -> None:
        """Main loop; return when ``self.stopping`` is set."""
        await self.stopping.wait()

    async def teardown(self) -> None:
        """Release what ``setup`` acquired, in reverse order. Runs only if ``setup`` ran."""

    def metrics(self) -> dict[str, Any]:
        """Counters and rates for the heartbeat (flat, scalar values)."""
        return {}

    async def on_control(self, cmd: str, msg: dict[str, Any]) -> None:
        """``dhan:control`` commands addressed to this service; stop and restart are handled by the base."""

    def health_problem(self) -> str | None:
        """Why ``/health`` should answer 503 although the service runs (None: healthy)."""
        return None

    # --- lifecycle ---
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str, *, cancel_at_stop: bool = True) -> asyncio.Task[Any]:
        """Run ``coro`` as an owned task named ``<instance>.<name>`` (see the module docstring)."""
        return self.adopt(asyncio.create_task(coro, name=f"{self.instance}.{name}"), cancel_at_stop=cancel_at_stop)

    def adopt(self, task: asyncio.Task[Any], *, cancel_at_stop: bool = True) -> asyncio.Task[Any]:
        """Own a task a component created itself (e.g. a server's emitter): its death fails the service."""
        self._tasks.add(task)
        if not cancel_at_stop:
            self._after_teardown.add(task)
        task.add_done_callback(self._on_task_done)
        return task

    def _on_task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._after_teardown.discard(task)
        if task.cancelled():
            if not self.stopping.is_set():
                self.fail(task.get_name(), TaskCancelled(f"task {task.get_name()} was cancelled"))
            return
        exc = task.exception()
        if exc is not None:
            self.fail(task.get_name(), exc)

    def fail(self, what: str, exc: BaseException) -> None:
        """``what`` (an owned task, a component's thread) died with ``exc``: log it and stop the service with
        it as the exit error (the first death wins; every one is logged)."""
        self.log.error("task_failed", task=what, error=f"{type(exc).__name__}: {exc}", exc_info=exc)
        if self.exit_error is None:
            self.exit_error = exc
            self.failed_task = what
        self.stop("task_failed")

    @property
    def failure(self) -> str:
        """Why the service is failing, one line ("" while it is not): the dead task and its error."""
        if self.exit_error is None:
            return ""
        error = f"{type(self.exit_error).__name__}: {self.exit_error}"
        # redacted here: /health, the heartbeat and the last log line all show it
        return clip(f"task {self.failed_task} failed: {error}" if self.failed_task else error, 1000)

    def stop(self, reason: str = "requested") -> None:
        if not self.stopping.is_set():
            self.log.info("stopping", reason=reason)
            self.state = "stopping"
            self.stopping.set()

    async def serve(self) -> int:
        """Run the service to completion; returns the process exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # non-main thread or Windows
                loop.add_signal_handler(sig, self.stop, sig.name)
        with contextlib.suppress(NotImplementedError, RuntimeError, AttributeError):  # no SIGHUP on Windows
            loop.add_signal_handler(signal.SIGHUP, on_hangup(lambda: self.stop("SIGHUP")))
        self.redis = await connect_redis(self.settings)
        set_up = False
        failed = True
        try:
            self.step = self.step or "setting up"
            self.spawn(self._heartbeat_routine(), "heartbeat")
            self.spawn(self._control_routine(), "control")
            await self._start_health()
            await self.setup()
            set_up = self._set_up = True
            self.step = ""
            if self.duration_s is not None:
                self.spawn(self._duration_routine(self.duration_s), "duration")
            await self._await_control_listener()
            self.state = "running"
            self.log.info("started", version=__version__, pid=os.getpid())
            main = asyncio.create_task(self.run(), name=f"{self.instance}.run")
            stop_wait = asyncio.create_task(self.stopping.wait(), name=f"{self.instance}.stop_wait")
            await asyncio.wait({main, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if not main.done():
                # run() saw the stop event too; give it the deadline to drain.
                try:
                    await asyncio.wait_for(asyncio.shield(main), self.settings.shutdown_deadline_s)
                except TimeoutError:
                    self.log.warning("run_deadline_exceeded", deadline_s=self.settings.shutdown_deadline_s)
                    main.cancel()
            stop_wait.cancel()
            if main.done() and not main.cancelled() and main.exception() is not None and self.exit_error is None:
                self.exit_error = main.exception()
                self.log.error("run_failed", error=str(self.exit_error), exc_info=self.exit_error)
            failed = False
        finally:
            self.stopping.set()
            raised = sys.exc_info()[1]
            if failed and self.exit_error is None and isinstance(raised, Exception):  # not a cancellation
                self.exit_error = raised
            self.state = "crashed" if self.exit_error is not None else "stopped"
            await self._cancel_tasks(self._tasks - self._after_teardown)  # the heartbeat routine among them
            if self.exit_error is not None:
                await self._final_heartbeat()  # the crash and the dead task are seen now, not after teardown
            if set_up:
                await self._teardown()
            await self._cancel_tasks(set(self._tasks))  # what teardown was to end and did not
            await self._final_heartbeat()
            if self.health is not None:
                await self.health.stop()
            await self.redis.aclose()
            self.log.info("stopped", error=self.failure or None)
        if self.exit_error is not None:
            from shared.errors import DhanError

            return self.exit_error.exit_code if isinstance(self.exit_error, DhanError) else 1
        return 75 if self._restart_requested else 0

    async def _teardown(self) -> None:
        """``teardown`` under the deadline; an error in it is logged and makes the exit a failure, but never
        skips the last heartbeat."""
        try:
            await asyncio.wait_for(self.teardown(), self.settings.shutdown_deadline_s)
        except TimeoutError:
            self.log.warning("teardown_deadline_exceeded")
        except Exception as exc:
            self.log.error("teardown_failed", error=f"{type(exc).__name__}: {exc}", exc_info=exc)
            if self.exit_error is None:
                self.exit_error = exc
            self.state = "crashed"

    async def _cancel_tasks(self, tasks: set[asyncio.Task[Any]]) -> None:
        for t in tasks:
            t.cancel()
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=self.settings.shutdown_deadline_s)
            for t in pending:
                self.log.warning("task_still_pending", task=t.get_name())

    async def _start_health(self) -> None:
        if self.health_port is None:
            return
        server = HealthServer(self, self.settings.health_host, self.health_port,
                              stale_after_s=5 * self.settings.heartbeat_interval_s)
        if await server.start():
            self.health = server

    # --- routines ---
    async def _duration_routine(self, duration_s: float) -> None:
        try:
            await asyncio.wait_for(self.stopping.wait(), duration_s)
        except TimeoutError:
            self.stop("duration_elapsed")

    def heartbeat_fields(self) -> dict[str, Any]:
        now = time.time()
        fields: dict[str, Any] = {
            "name": self.name,
            "instance": self.instance,
            "state": self.state,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "version": __version__,
            "started_at": round(self.started_at, 3),
            "updated_at": round(now, 3),
            "uptime_s": round(now - self.started_at, 1),
            "step": self.step,
            "cpu_s": round(time.process_time(), 2),      # CPU seconds used; a reader derives CPU % from deltas
            "rss_mb": _rss_mb(),
        }
        if self.exit_error is not None:
            fields["error"] = clip(self.failure, 300)
            fields["failed_task"] = self.failed_task
        if self._set_up:
            for k, v in self.metrics().items():
                fields[k] = v
        return {k: ("" if v is None else (int(v) if isinstance(v, bool) else v)) for k, v in fields.items()}

    async def _heartbeat_routine(self) -> None:
        assert self.redis is not None
        interval = self.settings.heartbeat_interval_s
        key = self.keys.svc(self.instance)
        ttl_ms = int(interval * 5000)
        warned = False
        while not self.stopping.is_set():
            try:
                pipe = self.redis.pipeline(transaction=False)
                fields = self.heartbeat_fields()
                pipe.delete(key)
                pipe.hset(key, mapping=fields)
                pipe.pexpire(key, ttl_ms)
                while LOG_SINK:
                    rec = LOG_SINK.popleft()
                    pipe.xadd(self.keys.logs, {"d": orjson.dumps(rec)}, maxlen=LOGS_MAXLEN, approximate=True)
                await pipe.execute()
                self.last_heartbeat = fields
                self.heartbeat_ok_at = time.time()
                warned = False
            except (RedisError, OSError) as exc:
                if not warned:
                    self.log.warning("heartbeat_failed", error=str(exc))
                    warned = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), interval)

    async def _final_heartbeat(self) -> None:
        if self.redis is None:
            return
        try:
            key = self.keys.svc(self.instance)
            pipe = self.redis.pipeline(transaction=False)
            pipe.hset(key, mapping=self.heartbeat_fields())
            pipe.pexpire(key, int(self.settings.heartbeat_interval_s * 5000))
            while LOG_SINK:
                pipe.xadd(self.keys.logs, {"d": orjson.dumps(LOG_SINK.popleft())}, maxlen=LOGS_MAXLEN, approximate=True)
            await asyncio.wait_for(pipe.execute(), 2.0)
        except (RedisError, OSError, TimeoutError):
            pass

    async def _await_control_listener(self, timeout_s: float = 5.0) -> None:
        """A service says ``running`` once it listens to ``dhan:control``: a stop sent as soon as it is seen
        running (by a supervisor, the scheduler, a test) is not lost to a subscription still on its way."""
        try:
            await asyncio.wait_for(self._control_ready.wait(), timeout_s)
        except TimeoutError:
            self.log.warning("control_channel_not_ready", waited_s=timeout_s)

    def _on_control_subscribed(self, subscribed: bool) -> None:
        if subscribed:
            self._control_ready.set()
        else:
            self._control_ready.clear()

    async def _control_routine(self) -> None:
        assert self.redis is not None
        await follow_channel(self.redis, self.keys.control, self.stopping, self._handle_control, log=self.log,
                             lost_event="control_channel_lost", on_subscribed=self._on_control_subscribed)

    async def _handle_control(self, data: Any) -> None:
        try:
            msg = orjson.loads(data)
        except (orjson.JSONDecodeError, TypeError):
            self.log.warning("control_message_invalid")
            return
        if not isinstance(msg, dict):
            return
        target = msg.get("target")
        if target not in ("all", self.name, self.instance):
            return
        cmd = msg.get("cmd")
        self.log.info("control_received", cmd=cmd)
        if cmd == "stop":
            self.stop("control_stop")
        elif cmd == "restart":
            self._restart_requested = True
            self.stop("control_restart")
        else:
            await self.on_control(str(cmd), msg)
