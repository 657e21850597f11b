"""What one feed lifecycle event does to ``dhan_gaps``: the statements and their arguments (pure).

* ``disconnected`` (conn N, cause, reason) -> opens a feed-wide gap (segment and id NULL) of kind ``stall``
  when the cause was the silence watchdog, else ``disconnect``; ``reason`` holds cause and Dhan's code.
* ``connected`` (conn N) -> closes every open feed-wide gap of connection N at the event's time.
* ``universe_change`` -> each removed instrument opens a ``universe_out`` gap; each added one closes its
  open ``universe_out`` gap, or, when it had none (first entry), gets a zero-length ``universe_in`` marker.
* ``dropped`` (feed/publisher.py: memory cap reached while Redis and the spool both failed) -> one closed
  ``dropped`` gap per instrument over the receive times of its dropped events; ``reason`` says how many of
  each kind and why (schema 003). Its rows are keyed by the event's own ``id``, not the entry id, so the
  same event written twice (a flush retried after its write went through) is stored once.

Rows are keyed by the stream entry id (``gap_key``) and inserted with ``INSERT IGNORE``; closing is an
``UPDATE ... WHERE end_ts IS NULL``: an event delivered twice changes nothing. Every value is checked here
(writer/gap_values.py): ``ValueError`` for one dhan_gaps cannot hold.
"""

from __future__ import annotations

from typing import Any

from shared.events import show_value
from writer.gap_values import conn_number, count_of, instrument, instruments, text, timestamp

__all__ = [
    "CLOSED_AT",
    "CLOSE_UNIVERSE_OUT",
    "INSERT_GAP",
    "Statement",
    "crash_gap",
    "rows_for_event",
    "universe_in_marker",
]

REASON_CHARS = 255
INSERT_GAP = (
    "INSERT IGNORE INTO dhan_gaps (gap_key, exchange_segment, security_id, conn, kind, start_ts, end_ts, reason) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
CLOSE_FEED_GAPS = (
    "UPDATE dhan_gaps SET end_ts = %s WHERE exchange_segment IS NULL AND conn = %s AND end_ts IS NULL "
    "AND start_ts <= %s"
)
CLOSE_UNIVERSE_OUT = (
    "UPDATE dhan_gaps SET end_ts = %s WHERE exchange_segment = %s AND security_id = %s "
    "AND kind = 'universe_out' AND end_ts IS NULL AND start_ts <= %s"
)
CLOSED_AT = (
    "SELECT 1 FROM dhan_gaps WHERE exchange_segment = %s AND security_id = %s AND kind = 'universe_out' "
    "AND end_ts = %s LIMIT 1"
)
CLOSE_UNIVERSE_OUT_ONLY = CLOSE_UNIVERSE_OUT + " "  # same statement; no universe_in marker when none closed
QUIET_REASONS = frozenset({"initial_centre"})
CRASH_REASON = "feed ended without a disconnect (killed or crashed)"

Statement = tuple[str, tuple[Any, ...]]  # SQL text and its arguments


def rows_for_event(entry_id: str, event: dict[str, Any]) -> list[Statement]:
    """The SQL statements (text, args) one lifecycle event turns into; [] for events that make no gap.
    ``ValueError`` for a value dhan_gaps cannot hold."""
    kind = event.get("type")
    if kind not in ("disconnected", "connected", "universe_change", "dropped"):
        return []
    ts = timestamp(event)
    if kind == "disconnected":
        return [_disconnected_row(entry_id, ts, event)]
    if kind == "connected":
        return [(CLOSE_FEED_GAPS, (ts, conn_number(event), ts))]
    if kind == "dropped":
        return _dropped_rows(entry_id, ts, event)
    return _universe_rows(entry_id, ts, event)


def _disconnected_row(entry_id: str, ts: float, event: dict[str, Any]) -> Statement:
    cause = text(event.get("cause"))
    code = event.get("reason_code")
    reason = cause if code is None else f"{cause}; {text(code)} {text(event.get('reason'))}".strip()
    gap_kind = "stall" if cause == "stall" else "disconnect"
    return INSERT_GAP, (entry_id, None, None, conn_number(event), gap_kind, ts, None, reason[:REASON_CHARS])


def _universe_rows(entry_id: str, ts: float, event: dict[str, Any]) -> list[Statement]:
    why = text(event.get("reason"))[:REASON_CHARS]
    out: list[Statement] = []
    for key, seg, sid in instruments(event.get("removed")):
        out.append((INSERT_GAP, (f"{entry_id}:{key}", seg, sid, None, "universe_out", ts, None, why)))
    for _, seg, sid in instruments(event.get("added")):
        # closes an open universe_out, or (none closed) apply_event adds a universe_in marker, except for
        # a feed's start, which re-announces its whole universe (one marker per instrument per restart)
        sql = CLOSE_UNIVERSE_OUT_ONLY if why in QUIET_REASONS else CLOSE_UNIVERSE_OUT
        out.append((sql, (ts, seg, sid, ts)))
    return out


def _dropped_rows(entry_id: str, ts: float, event: dict[str, Any]) -> list[Statement]:
    why = text(event.get("reason"))
    base = text(event.get("id") or entry_id)[:40]  # the event's own id: a copy of it sent twice is one row
    listed = event.get("instruments") or {}
    if not isinstance(listed, dict):
        raise ValueError(f"bad instruments {show_value(listed)}")
    out: list[Statement] = []
    for key, info in listed.items():
        if not isinstance(info, dict) or ":" not in key:
            continue  # an instrument the feed could not name: counted in its metrics only
        seg, sid = instrument(key)
        counts = ", ".join(f"{count_of(info, k)} {k}" for k in ("quotes", "depth", "ticks", "greeks") if info.get(k))
        start = timestamp(info, "from") if info.get("from") is not None else ts
        end = max(start, timestamp(info, "to") if info.get("to") is not None else start)
        out.append((INSERT_GAP, (f"{base}:{key}", seg, sid, None, "dropped", start, end,
                                 f"dropped {counts}: {why}"[:REASON_CHARS])))  # fmt: skip
    return out


def universe_in_marker(entry_id: str, event: dict[str, Any], seg: str, sid: int, ts: float) -> Statement:
    """The zero-length ``universe_in`` row of an instrument added without an open ``universe_out`` gap."""
    why = text(event.get("reason"))[:REASON_CHARS]
    return INSERT_GAP, (f"{entry_id}:{seg}:{sid}", seg, sid, None, "universe_in", ts, ts, why)


def crash_gap(entry_id: str, conn: int, start: float, end: float) -> Statement:
    """The ``disconnect`` gap of a feed that ended without saying so (see writer/gaps.py)."""
    return INSERT_GAP, (f"{entry_id}:crash", None, None, conn, "disconnect", min(start, end), end, CRASH_REASON)
