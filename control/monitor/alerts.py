"""De-duplicated alerts with recovery notices (pure): conditions in, ``firing``/``resolved`` events out.

An alert fires once when its condition has held for the condition's ``hold_s`` and stays active (no repeat)
while the condition holds; when the condition no longer holds, one ``resolved`` event follows. Alerts loaded
from Redis after a monitor restart stay active while their condition holds, whatever its hold time, so a
restart neither repeats nor drops them.

Events are :mod:`shared.alerts`'s (``duration_s`` added on resolution), published with its
:func:`~shared.alerts.publish_alerts`.
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard

from control.monitor.rules import Condition
from shared.alerts import ALERT_VERSION, firing_alert, resolved_alert

__all__ = ["ALERT_VERSION", "AlertBook"]

_TEXT_FIELDS = ("id", "rule", "severity", "detail", "service")


class AlertBook:
    """Active alerts by key, and since when each pending condition has held."""

    def __init__(self) -> None:
        self.active: dict[str, dict[str, Any]] = {}
        self._since: dict[str, float] = {}
        self.fired = 0
        self.resolved = 0

    def load(self, active: dict[str, Any]) -> None:
        """Resume from the ``alerts:active`` hash. An entry not in the monitor's shape is left out: resolving,
        logging or showing it would fail on every evaluation after every restart."""
        for key, alert in active.items():
            if not isinstance(alert, dict) or alert.get("state") != "firing":
                continue
            ts, since = alert.get("ts"), alert.get("since")
            if not _time(ts) or not all(type(alert.get(f)) is str for f in _TEXT_FIELDS):
                continue
            self.active[key] = alert
            self._since[key] = float(since) if _time(since) else float(ts)

    def update(self, conditions: list[Condition], now: float) -> list[dict[str, Any]]:
        """Events to publish for this evaluation (firing first, then resolved)."""
        events: list[dict[str, Any]] = []
        holding: set[str] = set()
        for c in conditions:
            if c.key in holding:
                continue
            holding.add(c.key)
            since = self._since.setdefault(c.key, now)
            current = self.active.get(c.key)
            if current is not None:
                current["detail"] = c.detail          # keep the display current, no new event
                continue
            if now - since >= c.hold_s:
                alert = firing_alert(c.key, c.rule, c.severity, c.detail, c.service, now, since=since)
                self.active[c.key] = alert
                self.fired += 1
                events.append(dict(alert))
        for key in [k for k in self._since if k not in holding]:
            del self._since[key]
        for key in [k for k in self.active if k not in holding]:
            alert = self.active.pop(key)
            self.resolved += 1
            events.append(resolved_alert(alert, now))
        return events

    def pending(self, now: float) -> dict[str, float]:
        """Conditions holding but not yet fired: key -> seconds held so far."""
        return {k: now - s for k, s in self._since.items() if k not in self.active}


def _time(value: Any) -> TypeGuard[int | float]:
    return type(value) in (int, float) and math.isfinite(value)
