"""The dead-letter stream ``<prefix>deadletter``: entries a consumer group could not use, kept with the reason.

Every reader of a stream (the writer, the gap ledger, greeks) moves an entry it cannot use here instead of
crashing on it or retrying it forever, then acknowledges it. One entry per dead letter::

    d        orjson {stream, id, reason (one line), consumer, group, ts[, payload_bytes]}
    payload  the entry's payload as read (its first ``payload_max`` bytes when longer: payload_bytes says how
             long it was; the stream is capped by entries and must not hold what the readers refused to parse)
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["dead_letter_fields"]


def dead_letter_fields(
    *, stream: str, entry_id: str, reason: str, consumer: str, group: str, payload: bytes | None,
    payload_max: int, now: float,
) -> dict[Any, Any]:  # fmt: skip  (redis-py types xadd fields as an exact union)
    """The fields of one dead letter (see the module docstring)."""
    body = payload or b""
    meta: dict[str, Any] = {
        "stream": stream, "id": entry_id, "reason": reason, "consumer": consumer, "group": group, "ts": round(now, 3),
    }  # fmt: skip
    if len(body) > payload_max:
        meta["payload_bytes"] = len(body)
        body = body[:payload_max]
    return {"d": orjson.dumps(meta), "payload": body}
