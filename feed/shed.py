"""Which buffered events to give up when memory is capped and nothing else can hold them (pure).

The publisher keeps events in memory while they cannot be written anywhere (Redis down and the spool's disk
failing). Past its memory cap it sheds, in this order:

1. superseded latest-state events, oldest first: a quote, depth or greeks event of an instrument whose newer
   event of the same kind is still buffered. Readers store these as "latest per instrument" (upserts that
   never move back in time), so dropping the older one loses no stored state, only an intermediate step;
2. then the oldest events of any kind, trades included (by then the buffer is nearly all trades: at most one
   latest-state event per instrument and kind is left).

:func:`shed` returns what is kept, in order, and a :class:`Dropped` report (counts per kind, and per
instrument the time range dropped) from which the feed records ``dropped`` gaps in the ledger.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress

__all__ = ["Dropped", "instrument_prefix", "shed"]

Item = tuple[int, bytes]  # (kind, orjson event)
_RECV_TS = re.compile(rb'"recv_ts":(-?[0-9][0-9.eE+-]*)')
_SEG_SID = re.compile(rb'"seg":"([^"]+)","sid":(\d+)')


def instrument_prefix(payload: bytes) -> bytes | None:
    """The event's bytes up to its ``sid`` value (``{"v":1,"seg":"NSE_FNO","sid":35001``): a key per
    instrument without decoding (every encoder writes v, seg, sid first); None when it is not there."""
    i = payload.find(b'"sid":', 0, 64)
    if i < 0:
        return None
    j = payload.find(b",", i)
    return payload[:j] if j > 0 else None


def _recv_ts(payload: bytes) -> float | None:
    m = _RECV_TS.search(payload)
    return float(m.group(1)) if m else None


@dataclass(slots=True)
class Dropped:
    """What :func:`shed` gave up: counts by kind, and per instrument (``SEG:ID``) the kinds and time range."""

    by_kind: dict[int, int] = field(default_factory=dict)
    superseded: int = 0
    instruments: dict[str, dict[str, float]] = field(default_factory=dict)  # key -> {from, to, <kind>: n}

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


def _report(items: Sequence[Item], dropped_at: list[int], kind_names: Sequence[str], out: Dropped) -> None:
    """Counts per kind and instrument of the dropped events (in order); the time range per instrument from
    its first and last dropped event only (two parses per instrument, not one per event)."""
    first: dict[bytes | None, bytes] = {}
    last: dict[bytes | None, bytes] = {}
    counts: dict[bytes | None, dict[str, float]] = {}
    for i in dropped_at:
        kind, payload = items[i]
        out.by_kind[kind] = out.by_kind.get(kind, 0) + 1
        key = instrument_prefix(payload)
        entry = counts.get(key)
        if entry is None:
            entry = counts[key] = {}
            first[key] = payload
        name = kind_names[kind]
        entry[name] = entry.get(name, 0) + 1
        last[key] = payload
    for key, entry in counts.items():
        m = _SEG_SID.search(first[key], 0, 96)
        name = f"{m.group(1).decode(errors='replace')}:{int(m.group(2))}" if m else "?"
        t0, t1 = _recv_ts(first[key]), _recv_ts(last[key])
        if t0 is not None and t1 is not None:
            entry = {"from": min(t0, t1), "to": max(t0, t1), **entry}
        out.instruments[name] = entry


def shed(items: Sequence[Item], target: int, latest_state_kinds: frozenset[int],
         kind_names: Sequence[str]) -> tuple[list[Item], Dropped]:
    """Keep at most ``target`` of ``items`` (oldest first), dropping in the order of the module docstring.

    Costs one pass to find each instrument's newest latest-state event, then only as far from the oldest
    as the drops need. Measured (bench/shed.py): 500,000 buffered quotes/depth/ticks of 5,000 instruments,
    100,000 dropped, 0.61 s of CPU; the socket reader waits that long once per ``publish_buffer_max / 2``
    events while the cap holds, against losing the process to the OOM killer."""
    dropped = Dropped()
    excess = len(items) - target
    if excess <= 0:
        return list(items), dropped
    ls = latest_state_kinds
    newest: dict[tuple[int, bytes], int] = {}
    for i, (kind, payload) in enumerate(items):
        if kind in ls:
            j = payload.find(b'"sid":', 0, 64)
            if j > 0:
                newest[(kind, payload[: payload.find(b",", j)])] = i
    keep = bytearray(b"\x01") * len(items)
    dropped_at: list[int] = []
    for i, (kind, payload) in enumerate(items):
        if len(dropped_at) == excess:
            break
        if kind in ls:
            j = payload.find(b'"sid":', 0, 64)
            if j > 0 and newest[(kind, payload[: payload.find(b",", j)])] != i:
                keep[i] = 0
                dropped_at.append(i)
    dropped.superseded = len(dropped_at)
    i = 0
    while len(dropped_at) < excess:  # nothing superseded is left: the oldest go, whatever their kind
        if keep[i]:
            keep[i] = 0
            dropped_at.append(i)
        i += 1
    dropped_at.sort()
    _report(items, dropped_at, kind_names, dropped)
    return list(compress(items, keep)), dropped
