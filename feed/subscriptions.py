"""Which instrument is subscribed on which connection, within Dhan's limits (pure).

Dhan allows 5 connections per user and 5,000 instruments per connection. Assignments are sticky (an
instrument stays on its connection while subscribed), new instruments go to the least loaded connection that
has room, so a re-centre never moves an unchanged instrument and a reconnect replays exactly one shard.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from feed.protocol.constants import MAX_CONNECTIONS, MAX_INSTRUMENTS_PER_CONNECTION
from feed.protocol.requests import Instrument
from shared.errors import ConfigError

__all__ = ["Delta", "ShardPlan"]

Delta = dict[int, dict[str, list[Instrument]]]
"""connection index -> mode -> instruments (to subscribe, or to unsubscribe)."""


class ShardPlan:
    def __init__(
        self, *, max_per_connection: int = MAX_INSTRUMENTS_PER_CONNECTION, max_connections: int = MAX_CONNECTIONS
    ) -> None:
        self.max_per_connection = max_per_connection
        self.max_connections = max_connections
        self._where: dict[Instrument, tuple[int, str]] = {}
        self._load: list[int] = []

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, key: object) -> bool:
        return key in self._where

    @property
    def connections(self) -> int:
        return len(self._load)

    @property
    def loads(self) -> list[int]:
        """Instruments per connection, by index."""
        return list(self._load)

    def members(self, conn: int) -> dict[str, list[Instrument]]:
        """What connection ``conn`` should be subscribed to (replayed after a reconnect), by mode."""
        out: dict[str, list[Instrument]] = {}
        for key, (c, mode) in self._where.items():
            if c == conn:
                out.setdefault(mode, []).append(key)
        return out

    def add(self, items: Mapping[Instrument, str]) -> tuple[Delta, Delta]:
        """Assign new instruments (or change one's mode). Returns (to subscribe, to unsubscribe first)."""
        fresh = sum(1 for k in items if k not in self._where)
        if len(self._where) + fresh > self.max_per_connection * self.max_connections:
            raise ConfigError(
                f"universe of {len(self._where) + fresh} instruments exceeds Dhan's limit of "
                f"{self.max_connections} connections x {self.max_per_connection}; reduce strikes or segments"
            )
        subscribe: Delta = {}
        unsubscribe: Delta = {}
        for key, mode in items.items():
            where = self._where.get(key)
            if where is not None:
                if where[1] == mode:
                    continue
                conn = where[0]  # mode change stays on its connection: unsubscribe the old mode first
                unsubscribe.setdefault(conn, {}).setdefault(where[1], []).append(key)
            else:
                conn = self._pick()
                self._load[conn] += 1
            self._where[key] = (conn, mode)
            subscribe.setdefault(conn, {}).setdefault(mode, []).append(key)
        return subscribe, unsubscribe

    def remove(self, keys: Iterable[Instrument]) -> Delta:
        out: Delta = {}
        for key in keys:
            where = self._where.pop(key, None)
            if where is None:
                continue
            conn, mode = where
            self._load[conn] -= 1
            out.setdefault(conn, {}).setdefault(mode, []).append(key)
        return out

    def _pick(self) -> int:
        """First connection with room (fill one before opening the next: fewer sockets to keep alive)."""
        for i, load in enumerate(self._load):
            if load < self.max_per_connection:
                return i
        self._load.append(0)
        return len(self._load) - 1
