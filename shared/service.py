"""Service base: lifecycle, owned tasks, signals, heartbeat, control channel, ``dhan:logs`` sink.

Lifecycle vocabulary (the whole code base uses these verbs, and only these, for a thing's life):

* a **service** (one process, this class): ``serve()`` runs its whole life and returns the exit code, calling
  the hooks ``setup()`` -> ``run()`` -> ``teardown()``; ``stop(reason)`` asks it to end (sets ``stopping``);
* a **component with activity of its own** (owned tasks, a thread, a server; e.g. the journal, the
  simulator server, the health server, a viz window, the Control Center engine): ``await start()`` /
  ``await stop()``; ``stop`` ends the activity, waits for it and is safe to call twice;
* a **resource** with no activity of its own (a file, a connection, a pool; e.g. the writer's MySQL sink,
  the RESP connection, the journal's day file): ``open()`` / ``close()``, ``close`` safe to call twice;
* a **task body**: ``run(stopping)`` returns once the ``stopping`` event is set;
* a **supervisor** acting on a child by name: ``start(name)`` / ``stop(name)`` / ``restart(name)`` (the
  Control Center: ``start_service(name)`` ..., its own life being ``start()``/``stop()``).

A service implements :meth:`Service.run` (its main loop, which returns when ``self.stopping`` is set) and
:meth:`Service.metrics` (counters and rates for the heartbeat). The base owns everything else:

* one stop event (``self.stopping``), set by SIGTERM/SIGINT/SIGHUP, ``--duration``, ``dhan:control`` or a failed task;
* background tasks created through :meth:`spawn` (or made elsewhere and handed over with :meth:`adopt`),
  named, referenced and watched (:class:`~shared.tasks.TaskOwner`): a task that raises, or is cancelled
  while the service is not stopping, fails the service: the death is logged with the task's name,
  ``/health`` answers 503 naming it, the heartbeat says ``crashed`` with ``failed_task``, ``teardown``
  still runs (so a component can save what it holds) and the process exits non-zero, for its supervisor
  (compose, ``dhan up``) to restart it. A component's thread that dies is reported with :meth:`fail`, to
  the same effect. At shutdown owned tasks are cancelled and awaited under a deadline, before
  ``teardown``; a task spawned with ``cancel_at_stop=False`` (one that drains in ``teardown``) is left to
  ``teardown`` and cancelled after it;
* ``dhan:control`` (:class:`~shared.control_channel.ControlListener`): ``stop`` and ``restart`` addressed to
  the service (its name, its instance or ``all``) stop it (a restart exits 75); other commands go to
  :meth:`Service.on_control`;
* a heartbeat hash ``<prefix>svc:<name>`` written every ``heartbeat_interval_s`` with a TTL of 5 periods (the
  last one, ``stopped`` or ``crashed``, a TTL of at least a minute);
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
import resource
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
from shared.bus import connect_redis, hash_mapping
from shared.control_channel import ControlCommand, ControlListener
from shared.errors import DhanError
from shared.health import HealthServer, health_port
from shared.keys import Keys
from shared.lifeline import on_hangup
from shared.logs import LOG_SINK, clip, get_logger
from shared.settings import Settings
from shared.tasks import TaskCancelled, TaskOwner

__all__ = ["Service", "TaskCancelled"]

LOGS_MAXLEN = 50_000
CONTROL_READY_TIMEOUT_S = 5.0
# How long the last heartbeat (stopped or crashed) stays readable: a reader polling every second or two (the
# Control Center, the monitor, `dhan up`, a test) sees how the service ended even when it is busy for a while;
# five heartbeat intervals, the TTL of a live heartbeat, can be 1 s and is missed.
FINAL_HEARTBEAT_TTL_S = 60.0


def _rss_mb() -> float:
    """Resident memory of this process in MiB (Linux /proc; elsewhere the peak from getrusage)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return round(int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


class Service:
    """Base of every headless service (sim, feed, writer, greeks, monitor, scheduler)."""

    name = "service"

    def __init__(self, settings: Settings, *, duration_s: float | None = None, instance: str | None = None) -> None:
        self.settings = settings
        self.keys = Keys(settings.redis.key_prefix)
        self.duration_s = duration_s
        self.instance = instance or self.name
        self.log = get_logger(self.name)
        self.stopping = asyncio.Event()
        self.state = "starting"
        self.started_at = time.time()
        self.redis: aioredis.Redis | None = None
        self.exit_error: BaseException | None = None
        # a death (or a cancellation nobody asked for while not stopping) fails the service
        self.tasks = TaskOwner(self.log, prefix=f"{self.instance}.", on_failure=self._task_died,
                               quiet_when=self.stopping)
        self.failed_task = ""                            # the owned task whose death stopped the service
        self._restart_requested = False
        # heartbeat and health endpoints
        self.step = ""                                   # what the service is doing now (shown when stuck)
        self.last_heartbeat: dict[str, Any] = {}         # the last fields written (read by /health, /metrics)
        self.heartbeat_ok_at = 0.0                       # when a heartbeat last reached Redis
        self.health_port = health_port(self.name, settings.service.health_port_base)  # None: no endpoints; 0: any
        self.health: HealthServer | None = None
        self._set_up = False
        self.control: ControlListener | None = None

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
        return self.tasks.spawn(coro, name, drains=not cancel_at_stop)

    def adopt(self, task: asyncio.Task[Any], *, cancel_at_stop: bool = True) -> asyncio.Task[Any]:
        """Own a task a component created itself (e.g. a server's emitter): its death fails the service."""
        return self.tasks.adopt(task, drains=not cancel_at_stop)

    def fail(self, what: str, exc: BaseException) -> None:
        """``what`` (a component's thread) died with ``exc``: log it and fail the service, as an owned task's
        death does."""
        self.log.error("task_failed", task=what, error=f"{type(exc).__name__}: {exc}", exc_info=exc)
        self._task_died(what, exc)

    def _task_died(self, what: str, exc: BaseException) -> None:
        """Stop the service with ``exc`` as the exit error: the first death wins (every one is logged)."""
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
        self._install_signal_handlers()
        self.redis = await connect_redis(self.settings)
        failed = True
        try:
            await self._start()
            await self._run_main()
            failed = False
        finally:
            await self._shut_down(sys.exc_info()[1] if failed else None)
        if self.exit_error is not None:
            return self.exit_error.exit_code if isinstance(self.exit_error, DhanError) else 1
        return 75 if self._restart_requested else 0

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # non-main thread or Windows
                loop.add_signal_handler(sig, self.stop, sig.name)
        with contextlib.suppress(NotImplementedError, RuntimeError, AttributeError):  # no SIGHUP on Windows
            loop.add_signal_handler(signal.SIGHUP, on_hangup(lambda: self.stop("SIGHUP")))

    async def _start(self) -> None:
        """Heartbeat, control listener and endpoints first, then ``setup``; ``running`` once a stop is heard."""
        assert self.redis is not None
        self.step = self.step or "setting up"
        self.spawn(self._heartbeat_routine(), "heartbeat")
        self.control = ControlListener(self.redis, self.keys, self._on_command, log=self.log,
                                       accepts=lambda target: target in ("all", self.name, self.instance))
        self.spawn(self.control.run(self.stopping), "control")
        await self._start_health()
        await self.setup()
        self._set_up = True
        self.step = ""
        if self.duration_s is not None:
            self.spawn(self._duration_routine(self.duration_s), "duration")
        # A stop sent as soon as the service is seen running (by a supervisor, the scheduler, a test) is not
        # lost to a subscription still on its way.
        if not await self.control.wait_ready(CONTROL_READY_TIMEOUT_S):
            self.log.warning("control_channel_not_ready", waited_s=CONTROL_READY_TIMEOUT_S)
        self.state = "running"
        self.log.info("started", version=__version__, pid=os.getpid())

    async def _run_main(self) -> None:
        """``run()`` until it returns or the stop event is set; then it gets the deadline to drain."""
        main = asyncio.create_task(self.run(), name=f"{self.instance}.run")
        stop_wait = asyncio.create_task(self.stopping.wait(), name=f"{self.instance}.stop_wait")
        await asyncio.wait({main, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if not main.done():
            try:
                await asyncio.wait_for(asyncio.shield(main), self.settings.service.shutdown_deadline_s)
            except TimeoutError:
                self.log.warning("run_deadline_exceeded", deadline_s=self.settings.service.shutdown_deadline_s)
                main.cancel()
        stop_wait.cancel()
        if main.done() and not main.cancelled() and main.exception() is not None and self.exit_error is None:
            self.exit_error = main.exception()
            self.log.error("run_failed", error=str(self.exit_error), exc_info=self.exit_error)

    async def _shut_down(self, raised: BaseException | None) -> None:
        """Owned tasks, ``teardown``, draining tasks, last heartbeat, endpoints, Redis; ``raised``: what
        ended starting or running (an error, unless a cancellation)."""
        assert self.redis is not None
        self.stopping.set()
        if self.exit_error is None and isinstance(raised, Exception):
            self.exit_error = raised
        self.state = "crashed" if self.exit_error is not None else "stopped"
        deadline_s = self.settings.service.shutdown_deadline_s
        await self.tasks.cancel_all(deadline_s, spare_draining=True)  # the heartbeat routine among them
        if self.exit_error is not None:
            await self._final_heartbeat()  # the crash and the dead task are seen now, not after teardown
        if self._set_up:
            await self._teardown()
        await self.tasks.cancel_all(deadline_s)  # what teardown was to end and did not
        await self._final_heartbeat()
        if self.health is not None:
            await self.health.stop()
        await self.redis.aclose()
        self.log.info("stopped", error=self.failure or None)

    async def _teardown(self) -> None:
        """``teardown`` under the deadline; an error in it is logged and makes the exit a failure, but never
        skips the last heartbeat."""
        try:
            await asyncio.wait_for(self.teardown(), self.settings.service.shutdown_deadline_s)
        except TimeoutError:
            self.log.warning("teardown_deadline_exceeded")
        except Exception as exc:
            self.log.error("teardown_failed", error=f"{type(exc).__name__}: {exc}", exc_info=exc)
            if self.exit_error is None:
                self.exit_error = exc
            self.state = "crashed"

    async def _start_health(self) -> None:
        if self.health_port is None:
            return
        server = HealthServer(self, self.settings.service.health_host, self.health_port,
                              stale_after_s=5 * self.settings.service.heartbeat_interval_s)
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
        interval = self.settings.service.heartbeat_interval_s
        key = self.keys.svc(self.instance)
        ttl_ms = int(interval * 5000)
        warned = False
        while not self.stopping.is_set():
            try:
                pipe = self.redis.pipeline(transaction=False)
                fields = self.heartbeat_fields()
                pipe.delete(key)
                pipe.hset(key, mapping=hash_mapping(fields))
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
            pipe.hset(key, mapping=hash_mapping(self.heartbeat_fields()))
            pipe.pexpire(key, int(max(self.settings.service.heartbeat_interval_s * 5, FINAL_HEARTBEAT_TTL_S) * 1000))
            while LOG_SINK:
                pipe.xadd(self.keys.logs, {"d": orjson.dumps(LOG_SINK.popleft())}, maxlen=LOGS_MAXLEN, approximate=True)
            await asyncio.wait_for(pipe.execute(), 2.0)
        except (RedisError, OSError, TimeoutError):
            pass

    async def _on_command(self, command: ControlCommand) -> None:
        self.log.info("control_received", cmd=command.cmd)
        if command.cmd == "stop":
            self.stop("control_stop")
        elif command.cmd == "restart":
            self._restart_requested = True
            self.stop("control_restart")
        else:
            await self.on_control(command.cmd, command.fields)
