"""The OI chain over the day: PCR (OI and volume) and max pain, one point per minute (pure, no I/O).

A point is the chain's state at the end of its minute (Dhan's exchange time, IST wall clock as epoch):
:meth:`OiDay.sample` records :class:`viz.models.oi.OiChainModel`'s PCR and max pain for the minute, a
later sample of the same minute replacing it (live, the last minute moves until it is over). History comes
from the stored one-minute candles (``viz.data.history.fetch_oi_minutes``), which keep each contract's OI and
cumulative volume at the last trade of each minute: those (:func:`replay_minutes`) are applied to the model,
minute by minute, and sampled. A contract that did not trade in a minute keeps its last values (OI does not reset).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from viz.models.oi import OiChainModel

__all__ = ["MinuteRow", "OiDay", "replay_minutes"]

MinuteRow = tuple[str, int, int | None, int]  # ("SEG:ID", exchange_ts in its minute, OI, cum volume)
F64 = npt.NDArray[np.float64]


@dataclass
class OiDay:
    """Per-minute PCR (OI), PCR (volume) and max pain; NaN where unknown."""

    minutes: list[int] = field(default_factory=list)  # minute starts, Dhan epoch, ascending
    pcr_oi: list[float] = field(default_factory=list)
    pcr_volume: list[float] = field(default_factory=list)
    max_pain: list[float] = field(default_factory=list)
    version: int = 0

    def __len__(self) -> int:
        return len(self.minutes)

    def sample(self, model: OiChainModel, exchange_ts: int) -> bool:
        """Record ``model``'s state as of ``exchange_ts``'s minute; an older minute than the last is ignored."""
        minute = exchange_ts - exchange_ts % 60
        if self.minutes and minute < self.minutes[-1]:
            return False
        pcr, pain = model.pcr(), model.max_pain()
        point = (math.nan if pcr.oi is None else pcr.oi, math.nan if pcr.volume is None else pcr.volume,
                 math.nan if pain is None else pain)
        if self.minutes and minute == self.minutes[-1]:
            self.pcr_oi[-1], self.pcr_volume[-1], self.max_pain[-1] = point
        else:
            self.minutes.append(minute)
            self.pcr_oi.append(point[0])
            self.pcr_volume.append(point[1])
            self.max_pain.append(point[2])
        self.version += 1
        return True

    def columns(self) -> tuple[F64, F64, F64, F64]:
        return (np.asarray(self.minutes, np.float64), np.asarray(self.pcr_oi, np.float64),
                np.asarray(self.pcr_volume, np.float64), np.asarray(self.max_pain, np.float64))


def replay_minutes(model: OiChainModel, day: OiDay, rows: Iterable[MinuteRow]) -> int:
    """Apply each contract's state at the end of each minute to ``model`` in time order, sampling ``day``
    after each minute; returns the minutes sampled. ``rows`` in any order."""
    by_minute: dict[int, list[MinuteRow]] = {}
    for row in rows:
        by_minute.setdefault(row[1] - row[1] % 60, []).append(row)
    for minute in sorted(by_minute):
        last = minute
        for key, ets, oi, volume in sorted(by_minute[minute], key=lambda r: r[1]):
            model.apply_quote(key, {"oi": oi, "volume": volume, "exchange_ts": ets})
            last = max(last, ets)
        day.sample(model, last)
    return len(by_minute)
