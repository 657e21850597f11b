"""Session VWAP with standard-deviation bands, and anchored VWAPs (pure; numpy for history).

Definitions, for the trades ``(p_i, v_i)`` of a session (or since an anchor):
``VWAP = sum(v_i p_i) / sum(v_i)`` and the volume-weighted deviation
``sigma = sqrt(sum(v_i (p_i - VWAP)**2) / sum(v_i))``; the bands are ``VWAP +- k sigma`` for k = 1, 2, 3. Each
point's value includes the trade at that point. Trades of zero volume change nothing; with no volume yet
there is no VWAP (None, or NaN in arrays).

Numerical stability. ``sigma**2 = sum(v p**2)/V - VWAP**2`` subtracts two numbers near ``p**2`` (6e8 for
NIFTY, 1e10 for a 1e5 price) to get one near ``sigma**2`` (1e-3 in a quiet first minute): float64 loses it
all, and can even go negative. So the sums are kept *shifted*: ``d = p - K`` with ``K`` the first price of the
session (or anchor), and ``sigma**2 = sum(v d**2)/V - (sum(v d)/V)**2``. The cancellation is now relative to
``(VWAP - K)**2``, which stays small beside the prices (the "shifted data" algorithm, Chan, Golub and LeVeque
1983). The sums stay plain sums, so adding a trade is O(1), accumulators merge, and history is a ``cumsum``.
A variance below 0 from rounding is read as 0.

Sessions (:class:`SessionRule`). A session is one trading day of the segment and starts at its reset time:
09:15 IST for NSE/BSE segments and indices, 09:00 for MCX and currency derivatives (``shared.candles.
session_open_s``). Trades stamped before the reset on the same day (the NSE pre-open auction, 09:00-09:08)
open that day's session rather than joining the previous day's: they are today's trades at today's opening
price, and the exchange's own average traded price counts them. The time zone is data: ``utc_offset_s`` is
added to the timestamps to get local wall time (0 for Dhan's ``exchange_ts``, already IST wall time;
``shared.clock.IST_OFFSET_S`` for true Unix epochs). Nothing here reads a clock.

Anchored VWAP: the same sums from one point on (an index or a time), never reset by sessions.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from shared.candles import DAY_S, session_open_s

__all__ = [
    "BAND_MULTIPLIERS",
    "AnchoredVwaps",
    "SessionRule",
    "SessionVwap",
    "VwapAccumulator",
    "VwapPoint",
    "VwapSeries",
    "anchored_vwap",
    "index_at",
    "session_vwap",
]

BAND_MULTIPLIERS = (1, 2, 3)
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class SessionRule:
    """Where VWAP sessions start: ``reset_s`` seconds after local midnight; ``utc_offset_s`` added to a
    timestamp gives local wall time (0 for Dhan's exchange_ts)."""

    reset_s: int
    utc_offset_s: int = 0

    @classmethod
    def for_segment(cls, segment: str, utc_offset_s: int = 0) -> SessionRule:
        """NSE_*/BSE_*/IDX_I: 09:15; MCX_COMM and currency: 09:00 (``shared.candles.session_open_s``)."""
        return cls(session_open_s(segment), utc_offset_s)

    def session_start(self, ts: int) -> int:
        """Start of the session holding ``ts`` (same clock as ``ts``): its local day at ``reset_s``."""
        local = ts + self.utc_offset_s
        return local - local % DAY_S + self.reset_s - self.utc_offset_s

    def session_starts(self, ts: Any) -> I64:
        local = np.asarray(ts, dtype=np.int64) + self.utc_offset_s
        out: I64 = local - local % DAY_S + (self.reset_s - self.utc_offset_s)
        return out


class VwapPoint(NamedTuple):
    """VWAP and sigma at one point (None before any volume)."""

    vwap: float | None
    sigma: float | None

    def band(self, k: float) -> tuple[float, float] | None:
        """``(VWAP - k sigma, VWAP + k sigma)``, or None without volume."""
        if self.vwap is None or self.sigma is None:
            return None
        return self.vwap - k * self.sigma, self.vwap + k * self.sigma


class VwapAccumulator:
    """Running shifted sums of one session or anchor: ``V = sum v``, ``sum v d`` and ``sum v d**2`` with
    ``d = p - shift`` (the first price added). ``add`` is O(1)."""

    __slots__ = ("shift", "sum_d", "sum_dd", "volume")

    def __init__(self) -> None:
        self.shift: float | None = None
        self.volume = 0
        self.sum_d = 0.0
        self.sum_dd = 0.0

    def add(self, price: float, qty: int) -> None:
        if qty <= 0:
            return
        if self.shift is None:
            self.shift = price
        d = price - self.shift
        self.volume += qty
        self.sum_d += qty * d
        self.sum_dd += qty * d * d

    def add_many(self, price: Any, qty: Any) -> None:
        """Add arrays of trades at once (the same sums, vectorised)."""
        p = np.asarray(price, dtype=np.float64)
        q = np.asarray(qty, dtype=np.int64)
        live = q > 0
        if not live.any():
            return
        if self.shift is None:
            self.shift = float(p[live][0])
        d = p - self.shift
        w = np.where(live, q, 0).astype(np.float64)
        self.volume += int(q[live].sum())
        self.sum_d += float((w * d).sum())
        self.sum_dd += float((w * d * d).sum())

    def merge(self, other: VwapAccumulator) -> None:
        """Add another accumulator's trades (re-expressed about this one's shift)."""
        if other.shift is None:
            return
        if self.shift is None:
            self.shift, self.volume, self.sum_d, self.sum_dd = other.shift, other.volume, other.sum_d, other.sum_dd
            return
        delta = other.shift - self.shift  # d_self = d_other + delta
        self.sum_dd += other.sum_dd + 2.0 * delta * other.sum_d + other.volume * delta * delta
        self.sum_d += other.sum_d + other.volume * delta
        self.volume += other.volume

    @property
    def vwap(self) -> float | None:
        if not self.volume or self.shift is None:
            return None
        return self.shift + self.sum_d / self.volume

    @property
    def sigma(self) -> float | None:
        if not self.volume:
            return None
        mean_d = self.sum_d / self.volume
        return math.sqrt(max(0.0, self.sum_dd / self.volume - mean_d * mean_d))

    def point(self) -> VwapPoint:
        return VwapPoint(self.vwap, self.sigma)


@dataclass(frozen=True, slots=True)
class VwapSeries:
    """VWAP and sigma per input point (NaN where there is no VWAP: before volume, before an anchor)."""

    vwap: F64
    sigma: F64

    def band(self, k: float) -> tuple[F64, F64]:
        """Lower and upper ``k`` sigma band per point."""
        return self.vwap - k * self.sigma, self.vwap + k * self.sigma

    def __len__(self) -> int:
        return len(self.vwap)


def _cumulative(p: F64, q: I64, out_vwap: F64, out_sigma: F64) -> None:
    """Fill ``out_*`` with the running VWAP and sigma of one session's trades (shifted cumulative sums)."""
    live = np.flatnonzero(q > 0)
    if len(live) == 0:
        return
    shift = p[live[0]]
    d = p - shift
    w = np.where(q > 0, q, 0).astype(np.float64)
    vol = np.cumsum(w)
    sum_d = np.cumsum(w * d)
    sum_dd = np.cumsum(w * d * d)
    has = vol > 0
    v = np.where(has, vol, 1.0)
    mean_d = sum_d / v
    out_vwap[:] = np.where(has, shift + mean_d, np.nan)
    out_sigma[:] = np.where(has, np.sqrt(np.maximum(0.0, sum_dd / v - mean_d * mean_d)), np.nan)


def session_vwap(ts: Any, price: Any, qty: Any, rule: SessionRule) -> VwapSeries:
    """Session VWAP and sigma at every trade of a history (trades in time order), reset per :class:`SessionRule`.

    Vectorised: one set of cumulative sums per session. A session starts where a trade's session start
    differs from the previous trade's.
    """
    t = np.asarray(ts, dtype=np.int64)
    p = np.asarray(price, dtype=np.float64)
    q = np.asarray(qty, dtype=np.int64)
    out_v = np.full(len(t), np.nan)
    out_s = np.full(len(t), np.nan)
    if len(t):
        starts = rule.session_starts(t)
        edges = np.concatenate(([0], np.flatnonzero(np.diff(starts)) + 1, [len(t)]))
        for a, b in itertools.pairwise(edges.tolist()):
            _cumulative(p[a:b], q[a:b], out_v[a:b], out_s[a:b])
    return VwapSeries(out_v, out_s)


def index_at(ts: Any, anchor_ts: int) -> int:
    """Index of the first point at or after ``anchor_ts`` in time-ordered ``ts`` (``len(ts)`` if none)."""
    return int(np.searchsorted(np.asarray(ts, dtype=np.int64), anchor_ts, side="left"))


def anchored_vwap(price: Any, qty: Any, start: int) -> VwapSeries:
    """VWAP and sigma from point ``start`` on (NaN before it); no session resets.

    From 1-minute candles pass each candle's VWAP as the price and its volume as qty: the VWAP is then exact
    (sum of turnover over sum of volume) and sigma leaves out the spread inside each minute.
    """
    p = np.asarray(price, dtype=np.float64)
    q = np.asarray(qty, dtype=np.int64)
    out_v = np.full(len(p), np.nan)
    out_s = np.full(len(p), np.nan)
    if 0 <= start < len(p):
        _cumulative(p[start:], q[start:], out_v[start:], out_s[start:])
    elif start < 0:
        raise ValueError(f"anchor index must be at least 0, got {start}")
    return VwapSeries(out_v, out_s)


class SessionVwap:
    """The live session VWAP of one instrument: :meth:`add` one trade, O(1), resetting at each new session.

    A trade of an earlier session than the current one (a late redelivery) is ignored and counted in
    ``stale``; trades must otherwise come in time order, as the feed sends them.
    """

    __slots__ = ("acc", "rule", "session", "stale")

    def __init__(self, rule: SessionRule) -> None:
        self.rule = rule
        self.session: int | None = None
        self.acc = VwapAccumulator()
        self.stale = 0

    def add(self, ts: int, price: float, qty: int) -> VwapPoint:
        start = self.rule.session_start(ts)
        if self.session is None or start > self.session:
            self.session, self.acc = start, VwapAccumulator()
        elif start < self.session:
            self.stale += 1
            return self.acc.point()
        self.acc.add(price, qty)
        return self.acc.point()

    def point(self) -> VwapPoint:
        return self.acc.point()


class AnchoredVwaps:
    """The user's anchored VWAPs on one chart: add from a clicked time, update live, remove.

    Each anchor is an id with its anchor time and accumulator; :meth:`update` adds one live trade to every
    anchor at or before it, O(number of anchors).
    """

    def __init__(self) -> None:
        self._anchors: dict[int, tuple[int, VwapAccumulator]] = {}
        self._next_id = 1

    def add(self, anchor_ts: int, ts: Any = (), price: Any = (), qty: Any = ()) -> int:
        """A new anchor at ``anchor_ts``, seeded with the history given (time-ordered arrays; the trades at
        or after the anchor count). Returns its id."""
        acc = VwapAccumulator()
        start = index_at(ts, anchor_ts)
        acc.add_many(np.asarray(price, dtype=np.float64)[start:], np.asarray(qty, dtype=np.int64)[start:])
        anchor_id = self._next_id
        self._next_id += 1
        self._anchors[anchor_id] = (anchor_ts, acc)
        return anchor_id

    def remove(self, anchor_id: int) -> bool:
        """Remove an anchor; False when there is no such anchor."""
        return self._anchors.pop(anchor_id, None) is not None

    def update(self, ts: int, price: float, qty: int) -> None:
        for anchor_ts, acc in self._anchors.values():
            if ts >= anchor_ts:
                acc.add(price, qty)

    def point(self, anchor_id: int) -> VwapPoint:
        return self._anchors[anchor_id][1].point()

    @property
    def anchors(self) -> dict[int, int]:
        """Anchor id -> anchor time."""
        return {k: v[0] for k, v in self._anchors.items()}
