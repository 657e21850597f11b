"""Dhan's WebSocket budget: 5 connections per user, shared by the live feed and the depth feeds (pure).

Dhan counts every WebSocket of a user against one limit (``MAX_CONNECTIONS``), the live feed's and the 20-
and 200-level depth feeds' alike, and answers one too many with disconnect 805. This module is the one place
that hands connections out, in this order of priority:

1. the live feed: as many as its shard plan needs (5,000 instruments each, :mod:`feed.subscriptions`);
2. the 20-level depth feed: one connection per 50 instruments (``DEPTH_MAX_INSTRUMENTS[20]``), the first
   instruments of its list first (``auto`` lists the futures, then the options nearest the money);
3. the 200-level depth feed: one connection for its one instrument, if one is left.

What does not fit is reported (``depth20_unfunded``, ``depth200_unfunded``), never opened. Callers keep
their connections within :meth:`ConnectionBudget.grant`'s answer, so the total never exceeds the limit; the
live feed asks before it opens another connection, and the depth feeds give theirs back first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from feed.protocol.constants import DEPTH_MAX_INSTRUMENTS, MAX_CONNECTIONS, MAX_INSTRUMENTS_PER_CONNECTION

__all__ = ["Allocation", "ConnectionBudget", "allocate"]


@dataclass(frozen=True, slots=True)
class Allocation:
    """Connections granted per feed, and the depth instruments left without one."""

    main: int
    depth20: int
    depth200: int
    depth20_capacity: int  # instruments the granted 20-level connections carry at most
    depth20_unfunded: int  # instruments wanted beyond that capacity
    depth200_unfunded: int  # 1 when the 200-level instrument was wanted and no connection was left
    limit: int = MAX_CONNECTIONS

    @property
    def used(self) -> int:
        return self.main + self.depth20 + self.depth200


def allocate(main: int, depth20_wanted: int, depth200_wanted: bool, *, limit: int = MAX_CONNECTIONS) -> Allocation:
    """Split ``limit`` connections: ``main`` for the live feed (never cut: it is the feed), then the 20-level
    depth's need, then the 200-level's. ``ValueError`` when the live feed alone needs more than the limit."""
    if main > limit:
        raise ValueError(f"the live feed needs {main} connections; Dhan allows {limit}")
    per = DEPTH_MAX_INSTRUMENTS[20]
    free = limit - main
    d20 = min(free, math.ceil(depth20_wanted / per))
    free -= d20
    d200 = 1 if depth200_wanted and free > 0 else 0
    capacity = d20 * per
    return Allocation(main, d20, d200, capacity, max(0, depth20_wanted - capacity),
                      int(depth200_wanted and not d200), limit)


class ConnectionBudget:
    """The feed's one ledger of Dhan connections: the last :class:`Allocation` and the connections each feed
    holds open now (``hold``), checked against it. Heartbeat fields: :meth:`metrics`."""

    def __init__(self, limit: int = MAX_CONNECTIONS) -> None:
        self.limit = limit
        self.allocation = Allocation(0, 0, 0, 0, 0, 0, limit)
        self._held = {"main": 0, "depth20": 0, "depth200": 0}
        self.main_loads: list[int] = []  # instruments per live-feed connection
        self.depth20_loads: list[int] = []

    def grant(self, main: int, depth20_wanted: int, depth200_wanted: bool) -> Allocation:
        self.allocation = allocate(main, depth20_wanted, depth200_wanted, limit=self.limit)
        return self.allocation

    def hold(self, feed: str, connections: int) -> None:
        """Record that ``feed`` has ``connections`` sockets (open or opening); ``RuntimeError`` if that would
        exceed its grant or the limit (a bug: the caller must shrink elsewhere first)."""
        granted = {"main": self.allocation.main, "depth20": self.allocation.depth20,
                   "depth200": self.allocation.depth200}[feed]
        others = sum(n for name, n in self._held.items() if name != feed)
        if connections > granted or others + connections > self.limit:
            raise RuntimeError(f"connection budget: {feed} asked for {connections} with {others} held by the "
                               f"other feeds (granted {granted}, limit {self.limit})")
        self._held[feed] = connections

    @property
    def used(self) -> int:
        return sum(self._held.values())

    def held(self, feed: str) -> int:
        return self._held[feed]

    def metrics(self) -> dict[str, Any]:
        a = self.allocation
        return {
            "budget_used": self.used, "budget_limit": self.limit,
            "budget_main": self._held["main"], "budget_depth20": self._held["depth20"],
            "budget_depth200": self._held["depth200"],
            "budget_per_conn_max": max(self.main_loads, default=0),
            "budget_per_conn_limit": MAX_INSTRUMENTS_PER_CONNECTION,
            "budget_depth20_per_conn_max": max(self.depth20_loads, default=0),
            "budget_depth20_per_conn_limit": DEPTH_MAX_INSTRUMENTS[20],
            "depth20_unfunded": a.depth20_unfunded, "depth200_unfunded": a.depth200_unfunded,
        }
