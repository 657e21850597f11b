"""``dhan monitor``: heartbeats and metrics -> alert rules every second -> ``<prefix>alerts``.

Each evaluation collects a :class:`~control.monitor.snapshot.Snapshot` (heartbeats, Redis memory, streams and consumer
groups, MySQL connections, last quote per instrument from the quotes channel), runs the rules
(:mod:`control.monitor.rules`) and passes the conditions through the de-duplicating
:class:`~control.monitor.alerts.AlertBook`. New ``firing`` and ``resolved`` events are appended to the capped
alerts stream (history), published as one JSON array on the alerts channel (live) and mirrored in the
``alerts:active`` hash, from which a restarted monitor resumes. Events that cannot be written (Redis down)
are kept and sent when Redis answers again.

"Market open" follows the NSE (and MCX when enabled) calendar of the scheduler, or is always true with
``DHAN_MONITOR_MARKET_HOURS=always`` (a simulator running at night). Outside market hours a quiet feed is not
an alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import orjson
from redis.exceptions import RedisError

from control.monitor.alerts import AlertBook
from control.monitor.quotes_seen import QuoteWatcher
from control.monitor.rules import Condition, Rules, Thresholds, market_open, verdict
from control.monitor.snapshot import Snapshot, SnapshotCollector
from shared.alerts import publish_alerts
from shared.calendar import TradingCalendar
from shared.service import Service
from shared.settings import Settings

__all__ = ["MonitorService"]


class MonitorService(Service):
    name = "monitor"

    def __init__(self, settings: Settings, *, duration_s: float | None = None, instance: str | None = None,
                 market_clock: Callable[[], float] = time.time) -> None:
        super().__init__(settings, duration_s=duration_s, instance=instance)
        self.market_clock = market_clock          # what "now" is for market hours (tests move it)
        self.rules = Rules(Thresholds.from_settings(settings))
        self.book = AlertBook()
        self.calendar: TradingCalendar | None = None
        self.collector: SnapshotCollector | None = None
        self.watcher: QuoteWatcher | None = None
        self.snapshot: Snapshot | None = None
        self.conditions: list[Condition] = []
        self.evaluations = 0
        self.eval_ms = 0.0
        self._outbox: list[dict[str, Any]] = []
        self._drops_seen = 0                      # the watcher's subscription drops already evaluated

    async def setup(self) -> None:
        assert self.redis is not None
        self.step = "loading the calendar"
        self.calendar = TradingCalendar.load(self.settings.scheduler.holidays_file)
        self.collector = SnapshotCollector(self.settings, self.redis, self.keys)
        self.watcher = QuoteWatcher(self.redis, self.keys)
        self.step = "loading active alerts"
        raw = await self.redis.hgetall(self.keys.alerts_active)
        active: dict[str, dict[str, Any]] = {}
        for k, v in raw.items():
            try:
                active[k.decode() if isinstance(k, bytes) else k] = orjson.loads(v)
            except (orjson.JSONDecodeError, UnicodeDecodeError):
                continue
        self.book.load(active)
        if active:
            self.log.info("alerts_resumed", active=len(active))

    async def teardown(self) -> None:
        if self.collector is not None:
            await self.collector.close()

    async def run(self) -> None:
        assert self.watcher is not None
        self.spawn(self.watcher.run(self.stopping), "quotes")
        interval = self.settings.monitor.interval_s
        while not self.stopping.is_set():
            await self.evaluate_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), interval)

    def market_open(self, now: float) -> bool:
        assert self.calendar is not None
        return market_open(self.calendar, now, self.settings)

    async def evaluate_once(self) -> list[dict[str, Any]]:
        """One evaluation: snapshot, rules, de-duplication, publication. Returns the new events."""
        assert self.collector is not None and self.watcher is not None
        t0 = time.perf_counter()
        now = time.time()
        snap = await self.collector.collect(now)
        snap.market_open = self.market_open(self.market_clock())
        snap.last_seen = self.watcher.last_seen()
        if self.watcher.drops != self._drops_seen:
            self._drops_seen = self.watcher.drops
            snap.redis_dropped = "the monitor's subscription was cut"
        self.snapshot = snap
        self.conditions = self.rules.evaluate(snap)
        events = self.book.update(self.conditions, now)
        for ev in events:
            log = self.log.warning if ev["state"] == "firing" else self.log.info
            log("alert_" + ev["state"], rule=ev["rule"], key=ev["key"], detail=ev["detail"])
        self._outbox.extend(events)
        if self._outbox:
            await self._publish()
        self.evaluations += 1
        self.eval_ms = (time.perf_counter() - t0) * 1000
        return events

    async def _publish(self) -> None:
        assert self.redis is not None
        try:
            await publish_alerts(self.redis, self.keys, self._outbox, maxlen=self.settings.monitor.alerts_maxlen,
                                 track_active=True)
            self._outbox = []
        except (RedisError, OSError) as exc:
            if len(self._outbox) > 10_000:
                del self._outbox[: len(self._outbox) - 10_000]
            self.log.warning("alerts_publish_failed", pending=len(self._outbox), error=str(exc))

    def metrics(self) -> dict[str, Any]:
        state, reason = verdict(self.conditions)
        snap = self.snapshot
        return {
            "evaluations": self.evaluations, "eval_ms": round(self.eval_ms, 2),
            "alerts_active": len(self.book.active), "alerts_fired": self.book.fired,
            "alerts_resolved": self.book.resolved, "alerts_pending": len(self.book.pending(time.time())),
            "conditions": len(self.conditions), "verdict": state, "verdict_reason": reason[:300],
            "market_open": bool(snap and snap.market_open),
            "instruments_seen": len(self.watcher.seen) if self.watcher else 0,
        }
