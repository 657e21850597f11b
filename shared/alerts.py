"""Alert events on ``<prefix>alerts``: one format and one way to publish them, for every service.

An event is a dict (orjson)::

    {v, id, key, rule, severity: critical|warning, state: firing|resolved, ts, since, detail, service, ...}

``key`` de-duplicates (one alert per service, stream or instrument), ``id`` names one firing and its
resolution (``key@<ms of firing>``); a service may add fields of its own (the writer's ``stream``, ``entries``,
``ids``). Each event is appended to the capped alerts stream (history, field ``d``) and the batch is
published as one JSON array on the alerts channel of the same name (live). The monitor also mirrors what
fires in the ``alerts:active`` hash, from which it resumes after a restart: that hash is the monitor's own
(it resolves any key there its rules no longer hold), so other services publish without ``track_active``.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis

from shared.keys import Keys

__all__ = ["ALERT_VERSION", "firing_alert", "publish_alerts", "resolved_alert"]

ALERT_VERSION = 1


def firing_alert(key: str, rule: str, severity: str, detail: str, service: str, now: float, *,
                 since: float | None = None, **extra: Any) -> dict[str, Any]:  # fmt: skip
    """A ``firing`` event; ``extra`` fields are kept as they are."""
    return {
        "v": ALERT_VERSION, "id": f"{key}@{int(now * 1000)}", "key": key, "rule": rule, "severity": severity,
        "state": "firing", "ts": round(now, 3), "since": round(now if since is None else since, 3),
        "detail": detail, "service": service, **extra,
    }  # fmt: skip


def resolved_alert(alert: dict[str, Any], now: float, detail: str | None = None) -> dict[str, Any]:
    """The ``resolved`` event of a firing ``alert`` (same id and key)."""
    return {
        **alert, "state": "resolved", "ts": round(now, 3),
        "duration_s": round(now - float(alert.get("ts", now)), 1),
        "detail": detail if detail is not None else f"recovered: {alert.get('detail', '')}",
    }  # fmt: skip


async def publish_alerts(
    client: aioredis.Redis, keys: Keys, events: list[dict[str, Any]], *, maxlen: int, track_active: bool = False
) -> None:
    """Append ``events`` to the alerts stream and publish them as one array, in one round trip.

    Raises the client's error when Redis fails (the caller keeps the events and retries).
    ``track_active``: also mirror them in ``alerts:active`` (the monitor's resumable state).
    """
    if not events:
        return
    pipe = client.pipeline(transaction=False)
    for ev in events:
        pipe.xadd(keys.alerts, {"d": orjson.dumps(ev)}, maxlen=maxlen, approximate=True)
        if track_active:
            if ev["state"] == "firing":
                pipe.hset(keys.alerts_active, ev["key"], orjson.dumps(ev))
            else:
                pipe.hdel(keys.alerts_active, ev["key"])
    pipe.publish(keys.alerts, orjson.dumps(events))
    await pipe.execute()
