"""Append-only trade columns of one instrument and session (numpy, amortised growth).

A trade here is one tick event: the rise of the cumulative day volume between two feed packets (``qty``), at
``price``, classified ``side`` buy/sell/unknown by the feed's ``rule`` (quote rule, tick rule, none, or not
recorded: ``RULE_*``, the codes :mod:`viz.models.aggressor` documents). Columns are views into preallocated
arrays that double when full, so appending is O(1) amortised and every model can rebuild itself from the
columns vectorised.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from viz.models import values

__all__ = [
    "RULE_CODES", "RULE_NONE", "RULE_QUOTE", "RULE_TICK", "RULE_UNKNOWN", "SIDE_BUY", "SIDE_CODES", "SIDE_NONE",
    "SIDE_SELL", "TickSeries", "rule_of", "sane_ticks", "side_code",
]

SIDE_NONE, SIDE_BUY, SIDE_SELL = 0, 1, 2
SIDE_CODES: dict[str | None, int] = {"B": SIDE_BUY, "S": SIDE_SELL, "": SIDE_NONE, None: SIDE_NONE}
RULE_NONE, RULE_QUOTE, RULE_TICK, RULE_UNKNOWN = 0, 1, 2, 3
RULE_CODES: dict[str, int] = {"": RULE_NONE, "q": RULE_QUOTE, "t": RULE_TICK, "?": RULE_UNKNOWN}

_Tick = TypeVar("_Tick", bound=Mapping[str, Any])
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]


def side_code(side: str | None) -> int:
    return SIDE_CODES.get(side, SIDE_NONE)


def rule_of(rule: object) -> int:
    """The ``RULE_*`` code of a tick's ``rule`` field or a stored ``side_rule``; absent or unknown: not recorded."""
    return RULE_CODES.get(rule, RULE_UNKNOWN) if isinstance(rule, str) else RULE_UNKNOWN


def sane_ticks(events: Iterable[_Tick]) -> list[_Tick]:
    """The tick events whose price, quantities and exchange time are usable (:mod:`viz.models.values`)."""
    return [e for e in events
            if values.price(e.get("ltp")) is not None and values.quantity(e.get("volume")) is not None
            and values.quantity(e.get("qty")) and values.exchange_ts(e.get("exchange_ts"))]


class TickSeries:
    """Trades of one instrument in one session, ordered by cumulative volume as they arrive."""

    __slots__ = ("_cum", "_n", "_price", "_qty", "_rule", "_side", "_ts")

    def __init__(self, capacity: int = 4096) -> None:
        capacity = max(16, capacity)
        self._n = 0
        self._cum: I64 = np.zeros(capacity, np.int64)
        self._price: F64 = np.zeros(capacity, np.float64)
        self._qty: I64 = np.zeros(capacity, np.int64)
        self._side: I8 = np.zeros(capacity, np.int8)
        self._rule: I8 = np.zeros(capacity, np.int8)
        self._ts: I64 = np.zeros(capacity, np.int64)

    def __len__(self) -> int:
        return self._n

    def _reserve(self, extra: int) -> None:
        need = self._n + extra
        cap = len(self._cum)
        if need <= cap:
            return
        while cap < need:
            cap *= 2
        for name in ("_cum", "_price", "_qty", "_side", "_rule", "_ts"):
            old = getattr(self, name)
            new = np.zeros(cap, old.dtype)
            new[: self._n] = old[: self._n]
            setattr(self, name, new)

    def append(self, cum_volume: int, price: float, qty: int, side: int, exchange_ts: int,
               rule: int = RULE_UNKNOWN) -> None:
        if self._n == len(self._cum):
            self._reserve(1)
        i = self._n
        self._cum[i] = cum_volume
        self._price[i] = price
        self._qty[i] = qty
        self._side[i] = side
        self._rule[i] = rule
        self._ts[i] = exchange_ts
        self._n = i + 1

    def extend(self, cum_volume: Any, price: Any, qty: Any, side: Any, exchange_ts: Any, rule: Any = None) -> None:
        """Append equal-length array-likes (history chunks); ``rule`` None: not recorded."""
        k = len(cum_volume)
        if k == 0:
            return
        self._reserve(k)
        s = slice(self._n, self._n + k)
        self._cum[s] = cum_volume
        self._price[s] = price
        self._qty[s] = qty
        self._side[s] = side
        self._rule[s] = RULE_UNKNOWN if rule is None else rule
        self._ts[s] = exchange_ts
        self._n += k

    def extend_events(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Append tick events (``shared.events`` dicts); returns how many. An event with a bad value
        (:func:`sane_ticks`) is left out."""
        rows = [(e["volume"], e["ltp"], e["qty"], SIDE_CODES.get(e.get("side"), 0), e["exchange_ts"],
                 rule_of(e.get("rule"))) for e in sane_ticks(events)]
        if rows:
            cols = list(zip(*rows, strict=True))
            self.extend(*cols)
        return len(rows)

    def clear(self) -> None:
        self._n = 0

    @property
    def cum_volume(self) -> I64:
        return self._cum[: self._n]

    @property
    def price(self) -> F64:
        return self._price[: self._n]

    @property
    def qty(self) -> I64:
        return self._qty[: self._n]

    @property
    def side(self) -> I8:
        return self._side[: self._n]

    @property
    def rule(self) -> I8:
        """``RULE_*`` code per trade: how its side was inferred."""
        return self._rule[: self._n]

    @property
    def exchange_ts(self) -> I64:
        return self._ts[: self._n]

    @property
    def last_cum_volume(self) -> int:
        return int(self._cum[self._n - 1]) if self._n else -1
