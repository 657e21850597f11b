"""``dhan scheduler``: start the scheduled services before the open and stop them after the close.

Every second the service computes the plan (:mod:`control.scheduler.plan`) and the status of each exchange:

* mode ``supervise`` (default): the scheduled services (``DHAN_SCHEDULER_SERVICES``, feed and writer) are its
  own child processes (:class:`control.stack.supervisor.Supervisor`, restarted on failure), running inside the
  window and stopped outside it; stopping the scheduler stops them.
* mode ``control``: they run elsewhere (another host, containers). When the window opens or closes the
  scheduler publishes ``{"target": name, "cmd": "start"|"stop"}`` on ``dhan:control``: services stop by
  themselves; ``start`` is honoured by whoever supervises them (a Control Center that has them stopped).
  Started outside the window, it sends nothing until the next open (a restart at night does not stop
  services someone started by hand); started inside it, it sends ``start`` (idempotent) at once.

Market-status changes are published on the ``<prefix>market`` channel and kept in the hash of that name
(``{exchange, status, reason, next_change, ts}``). The heartbeat carries the plan (next start and stop in
IST), each exchange's status and, in supervise mode, each child's state: the Control Center shows them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from redis.exceptions import RedisError

from control.scheduler.plan import Plan, make_plan, parse_services
from control.stack.supervisor import ChildSpec, ChildState, Supervisor
from shared.calendar import MarketStatus, TradingCalendar, session_exchanges
from shared.clock import ist_now
from shared.control_channel import publish_command
from shared.errors import ConfigError
from shared.service import Service
from shared.settings import Settings

__all__ = ["SchedulerService"]

_FMT = "%Y-%m-%d %H:%M IST"


class SchedulerService(Service):
    name = "scheduler"

    def __init__(self, settings: Settings, *, duration_s: float | None = None, instance: str | None = None,
                 log_dir: Path = Path("var/log"), clock: Callable[[], float] = time.time,
                 tick_s: float = 1.0) -> None:
        super().__init__(settings, duration_s=duration_s, instance=instance)
        self.clock = clock
        self.tick_s = tick_s
        self.log_dir = log_dir
        self.calendar: TradingCalendar | None = None
        self.exchanges = session_exchanges(settings)
        self.services = parse_services(settings.scheduler.services)
        self.supervisor: Supervisor | None = None
        self.plan: Plan | None = None
        self.market: dict[str, MarketStatus] = {}
        self.actions = 0
        self._applied: bool | None = None       # control mode: what was last sent (None: nothing yet)

    async def setup(self) -> None:
        if not self.services:
            raise ConfigError("DHAN_SCHEDULER_SERVICES is empty: name the services to schedule (feed,writer)")
        self.step = "loading the calendar"
        self.calendar = TradingCalendar.load(self.settings.scheduler.holidays_file)
        if self.settings.scheduler.mode == "supervise":
            self.supervisor = Supervisor(self.log_dir, stop_timeout_s=self.settings.service.shutdown_deadline_s * 2,
                                         on_watch_failed=self._on_watch_failed)
            for name in self.services:
                self.supervisor.add(ChildSpec(name, (name,)))
        year = ist_now(self.clock).year  # the IST year: 1 Jan starts at 18:30 UTC
        if not self.calendar.covers(year):
            self.log.warning("calendar_year_missing", year=year, effect="weekends only")

    def _on_watch_failed(self, child: ChildState, exc: BaseException) -> None:
        self.fail(f"{self.instance}.watch.{child.spec.name}", exc)  # a child nobody watches: stop loudly

    async def run(self) -> None:
        while not self.stopping.is_set():
            await self.evaluate_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.tick_s)

    async def teardown(self) -> None:
        if self.supervisor is not None:
            await self.supervisor.stop_all(list(reversed(self.services)))

    async def evaluate_once(self) -> Plan:
        assert self.calendar is not None
        now = self.clock()
        plan = make_plan(self.calendar, now, self.exchanges, self.settings.scheduler.start_at,
                         self.settings.scheduler.stop_after_s)
        if self.plan is None or plan != self.plan:
            self.log.info("plan", running=plan.running, detail=plan.describe())
        self.plan = plan
        await self._update_market(now)
        if self.supervisor is not None:
            await self._apply_local(plan.running)
        elif self._applied is None and not plan.running:
            self._applied = False      # started outside the window: leave what others run alone until a close
        elif plan.running != self._applied:
            await self._apply_remote(plan.running)
        return plan

    async def _apply_local(self, running: bool) -> None:
        assert self.supervisor is not None
        for name in self.services if running else reversed(self.services):
            child = self.supervisor.children[name]
            if running and not child.want_running:
                self.log.info("scheduled_start", service=name)
                self.actions += 1
                await self.supervisor.start(name)
            elif not running and child.want_running:
                self.log.info("scheduled_stop", service=name)
                self.actions += 1
                await self.supervisor.stop(name)

    async def _apply_remote(self, running: bool) -> None:
        assert self.redis is not None
        cmd = "start" if running else "stop"
        try:
            for name in self.services:
                await publish_command(self.redis, self.keys, name, cmd, by=self.instance, now=self.clock())
            self.log.info("scheduled_" + cmd, services=list(self.services), mode="control")
            self.actions += 1
            self._applied = running
        except (RedisError, OSError) as exc:
            self.log.warning("control_publish_failed", error=str(exc))

    async def _update_market(self, now: float) -> None:
        assert self.calendar is not None and self.redis is not None
        for ex in ("NSE", "MCX"):
            st = self.calendar.status(now, ex)
            prev = self.market.get(ex)
            if prev is not None and (prev.status, prev.reason) == (st.status, st.reason):
                continue
            self.market[ex] = st
            msg = {"exchange": ex, "status": st.status, "reason": st.reason, "ts": round(now, 3),
                   "next_change": st.next_change.isoformat() if st.next_change else None,
                   "previous": prev.status if prev else None}
            if prev is None or prev.status != st.status:
                self.log.info("market_status", **{k: v for k, v in msg.items() if k != "ts"})
            try:
                pipe = self.redis.pipeline(transaction=False)
                pipe.hset(self.keys.market, ex, orjson.dumps(msg))
                pipe.publish(self.keys.market, orjson.dumps(msg))
                await pipe.execute()
            except (RedisError, OSError) as exc:
                self.market.pop(ex, None)  # try again next tick
                self.log.warning("market_publish_failed", error=str(exc))

    def metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mode": self.settings.scheduler.mode, "services": ",".join(self.services),
            "exchanges": ",".join(self.exchanges), "actions": self.actions,
        }
        if self.plan is not None:
            out["plan_running"] = self.plan.running
            out["plan"] = self.plan.describe()
            out["next_start_ist"] = self.plan.start.strftime(_FMT) if self.plan.start else ""
            out["next_stop_ist"] = self.plan.stop.strftime(_FMT) if self.plan.stop else ""
        for ex, st in self.market.items():
            out[f"market_{ex.lower()}"] = st.status
            out[f"market_{ex.lower()}_reason"] = st.reason
        if self.calendar is not None:
            year = ist_now(self.clock).year
            out["calendar_warning"] = "" if self.calendar.covers(year) else f"no holiday list for {year}"
        if self.supervisor is not None:
            for name, child in self.supervisor.children.items():
                out[f"child_{name}"] = child.state
        return out
