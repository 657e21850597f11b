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


@dataclass(slots=True)
class Dropped:
    """What :func:`shed` gave up: counts by kind, and per instrument (``SEG:ID``) the kinds and time range."""

    by_kind: dict[int, int] = field(default_factory=dict)
    superseded: int = 0
    instruments: dict[str, dict[str, float]] = field(default_factory=dict)  # key -> {from, to, <kind>: n}

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    def add(self, kind: int, kind_name: str, payload: bytes) -> None:
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
        m = _SEG_SID.search(payload, 0, 96)
        key = f"{m.group(1).decode(errors='replace')}:{int(m.group(2))}" if m else "?"
        entry = self.instruments.setdefault(key, {})
        t = _RECV_TS.search(payload)
        if t is not None:
            ts = float(t.group(1))
            entry["from"] = min(entry.get("from", ts), ts)
            entry["to"] = max(entry.get("to", ts), ts)
        entry[kind_name] = entry.get(kind_name, 0) + 1


def shed(items: Sequence[Item], target: int, latest_state_kinds: frozenset[int],
         kind_names: Sequence[str]) -> tuple[list[Item], Dropped]:
    """Keep at most ``target`` of ``items`` (oldest first), dropping in the order of the module docstring."""
    dropped = Dropped()
    excess = len(items) - target
    if excess <= 0:
        return list(items), dropped
    newest: dict[tuple[int, bytes], int] = {}
    keys: list[tuple[int, bytes] | None] = [None] * len(items)
    for i, (kind, payload) in enumerate(items):
        if kind in latest_state_kinds:
            prefix = instrument_prefix(payload)
            if prefix is not None:
                keys[i] = (kind, prefix)
                newest[(kind, prefix)] = i
    drop = bytearray(len(items))  # 1: dropped
    for i, maybe in enumerate(keys):
        if excess == 0:
            break
        if maybe is not None and newest[maybe] != i:
            drop[i] = 1
            excess -= 1
            dropped.superseded += 1
    for i in range(len(items)):
        if excess == 0:
            break
        if not drop[i]:
            drop[i] = 1
            excess -= 1
    kept: list[Item] = []
    for i, item in enumerate(items):
        if drop[i]:
            dropped.add(item[0], kind_names[item[0]], item[1])
        else:
            kept.append(item)
    return kept, dropped
