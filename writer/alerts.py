"""The writer's alert events (pure; format and publishing in :mod:`shared.alerts`)."""

from __future__ import annotations

from typing import Any

from shared.alerts import firing_alert

__all__ = ["RULE_PARTITIONS", "RULE_TRIMMED", "partition_alert", "trimmed_alert"]

RULE_TRIMMED = "stream_trimmed_unwritten"
RULE_PARTITIONS = "partition_maintenance_failed"


def trimmed_alert(stream: str, count: int | None, how: str, ids: list[str], service: str, now: float) -> dict[str, Any]:
    """Entries of ``stream`` trimmed before they were written: one event per loss, never resolved (the
    entries are gone; an operator acknowledges it). ``count`` None: some, how many is unknown."""
    detail = (
        f"{count if count is not None else 'some'} entries of {stream} {how}: they are not in MySQL; raise "
        "the stream cap (DHAN_STREAM_MAXLEN_*) or restore the writer sooner"
    )
    return firing_alert(f"{RULE_TRIMMED}:{stream}", RULE_TRIMMED, "critical", detail, service, now,
                        stream=stream, entries=count, ids=ids)  # fmt: skip


def partition_alert(cause: str, missing_pmax: bool, service: str, now: float) -> dict[str, Any]:
    """``dhan_ticks`` partition maintenance failed (fires once per incident; resolved by the next success).

    Critical without ``pmax``: ticks past the last partition cannot be stored (the writer dead-letters them);
    otherwise a warning, as ``pmax`` takes every row meanwhile.
    """
    effect = (
        "ticks past the last partition are dead-lettered until dhan_ticks is recreated with its pmax partition"
        if missing_pmax
        else "pmax still takes every row; retrying"
    )
    return firing_alert(f"{RULE_PARTITIONS}:{service}", RULE_PARTITIONS, "critical" if missing_pmax else "warning",
                        f"dhan_ticks partition maintenance failed: {cause}; {effect}", service, now)  # fmt: skip
