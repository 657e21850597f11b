"""``/health`` and ``/metrics`` of a service over HTTP, for Docker healthchecks and Prometheus.

Each service listens on ``health_port_base + PORT_OFFSETS[name]`` (``health_host``); a base of 0 turns the
endpoints off (the default in tests). The figures are the service's last heartbeat
(``Service.last_heartbeat``), never a fresh ``metrics()`` call: several services compute rates since the
previous call, so a scrape between two heartbeats would skew them.

* ``GET /health``: JSON ``{service, instance, state, step, healthy, reason, failed_task, uptime_s,
  heartbeat_age_s}``; status 200 when healthy (running, and the last heartbeat reached Redis within five
  periods), else 503. A service failing (an owned task died) answers 503 with the task and its error as the
  reason from the moment of the death until the process ends.
* ``GET /metrics``: Prometheus text format. Every numeric heartbeat field ``x`` becomes the gauge ``dhan_x``
  labelled ``service`` and ``instance``; ``dhan_up`` is 1 while healthy; ``dhan_info`` carries version, host,
  state and step as labels. Heartbeat fields do not say whether they are counters, so all are gauges.

A port already in use (a second instance of one service on a host) is logged once and the service runs on
without endpoints: health is an aid, never a reason to refuse to run.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from shared.logs import get_logger

__all__ = ["PORT_OFFSETS", "HealthServer", "HealthSource", "health_port", "health_report"]

PORT_OFFSETS: dict[str, int] = {"sim": 0, "feed": 1, "writer": 2, "greeks": 3, "monitor": 4, "scheduler": 5}
_NAME_BAD = re.compile(r"[^a-zA-Z0-9_]")
_INFO_FIELDS = ("version", "host", "state", "step")


class HealthSource(Protocol):
    """What the server reads from a service (``shared.service.Service`` satisfies it)."""

    name: str
    instance: str
    state: str
    step: str
    last_heartbeat: dict[str, Any]
    heartbeat_ok_at: float
    failed_task: str

    @property
    def failure(self) -> str: ...

    def health_problem(self) -> str | None: ...


def health_port(name: str, base: int) -> int | None:
    """The port of service ``name`` for ``health_port_base`` ``base``; None when off or an unknown name."""
    if base <= 0 or name not in PORT_OFFSETS:
        return None
    return base + PORT_OFFSETS[name]


def health_report(src: HealthSource, stale_after_s: float, now: float | None = None) -> dict[str, Any]:
    """The ``/health`` body; ``healthy`` False with a reason when not running or the heartbeat is stale."""
    now = time.time() if now is None else now
    age = now - src.heartbeat_ok_at if src.heartbeat_ok_at else None
    if src.failure:
        reason = src.failure
    elif src.state != "running":
        reason = f"state {src.state}" + (f" ({src.step})" if src.step else "")
    elif age is None or age > stale_after_s:
        reason = "heartbeat not reaching Redis"
    else:
        reason = src.health_problem() or ""
    hb = src.last_heartbeat
    return {
        "service": src.name, "instance": src.instance, "state": src.state, "step": src.step,
        "healthy": not reason, "reason": reason, "failed_task": src.failed_task, "uptime_s": hb.get("uptime_s"),
        "heartbeat_age_s": round(age, 3) if age is not None else None,
    }


def _metric_name(field: str) -> str:
    return "dhan_" + _NAME_BAD.sub("_", field).strip("_").lower()


class _HeartbeatCollector:
    """Prometheus collector over the service's last heartbeat (called on each scrape)."""

    def __init__(self, src: HealthSource, report: Callable[[], dict[str, Any]]) -> None:
        self._src = src
        self._report = report

    def collect(self) -> Iterator[Metric]:
        src = self._src
        names = ["service", "instance"]
        values = [src.name, src.instance]
        up = GaugeMetricFamily("dhan_up", "1 while the service is healthy", labels=names)
        up.add_metric(values, 1.0 if self._report()["healthy"] else 0.0)
        yield up
        hb = dict(src.last_heartbeat)
        info = GaugeMetricFamily("dhan_info", "service identity and state", labels=[*names, *_INFO_FIELDS])
        live = {"version": hb.get("version", ""), "host": hb.get("host", ""), "state": src.state, "step": src.step}
        info.add_metric([*values, *(str(live[f]) for f in _INFO_FIELDS)], 1.0)
        yield info
        seen: set[str] = {"dhan_up", "dhan_info"}
        for field, value in hb.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            metric = _metric_name(field)
            if metric in seen:
                continue
            seen.add(metric)
            g = GaugeMetricFamily(metric, f"heartbeat field {field}", labels=names)
            g.add_metric(values, float(value))
            yield g


class HealthServer:
    """aiohttp site serving ``/health`` and ``/metrics`` for one service; ``start()``/``stop()``."""

    def __init__(self, src: HealthSource, host: str, port: int, stale_after_s: float) -> None:
        self.src = src
        self.host = host
        self.port = port
        self.stale_after_s = stale_after_s
        self.log = get_logger("health")
        self._runner: web.AppRunner | None = None
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_HeartbeatCollector(src, self._report))  # type: ignore[arg-type, unused-ignore]

    def _report(self) -> dict[str, Any]:
        return health_report(self.src, self.stale_after_s)

    async def _health(self, _: web.Request) -> web.Response:
        body = self._report()
        return web.json_response(body, status=200 if body["healthy"] else 503)

    async def _metrics(self, _: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self) -> bool:
        """Bind and serve; False (logged) when the port cannot be bound."""
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            self.log.warning("health_port_unavailable", host=self.host, port=self.port, error=str(exc))
            return False
        self._runner = runner
        if self.port == 0:  # an OS-chosen port (tests): report the real one
            server = getattr(site, "_server", None)
            sockets = getattr(server, "sockets", None) or []
            if sockets:
                self.port = int(sockets[0].getsockname()[1])
        self.log.info("health_listening", host=self.host, port=self.port)
        return True

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
