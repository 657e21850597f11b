"""VWAP and sigma at every trade of a growing trade series, kept incrementally (pure; numpy).

The charts draw the session VWAP and its bands at each bar's close, and each anchored VWAP from its anchor
on, while trades keep arriving. :func:`viz.models.vwap.session_vwap` computes a whole history at once; a
:class:`VwapTrack` gives the same values and then extends them by each live batch at the cost of that batch
(the same shifted sums as :class:`viz.models.vwap.VwapAccumulator`, carried from one batch to the next).

A track is either a session track (``rule`` set: sums restart where a trade's session start moves forward;
a trade of an earlier session than the current one is stale and repeats the current values) or an anchored
track (``anchor_ts`` set: trades before the anchor time have no value, NaN; no session resets). Values are
per trade, in the order the trades were given; :meth:`VwapTrack.at` reads them at bar ends.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import numpy.typing as npt

from viz.models.vwap import SessionRule, VwapAccumulator

__all__ = ["VwapTrack", "bar_ends"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def bar_ends(counts: Any) -> I64:
    """Index of each bar's last trade from the bars' trade counts (bars partition the trades in order)."""
    ends: I64 = np.cumsum(np.asarray(counts, dtype=np.int64)) - 1
    return ends


class VwapTrack:
    """Per-trade VWAP and sigma of one session (``rule``) or from one anchor time (``anchor_ts``)."""

    __slots__ = ("_acc", "_n", "_session", "_sigma", "_vwap", "anchor_ts", "rule")

    def __init__(self, rule: SessionRule | None = None, anchor_ts: int | None = None, capacity: int = 4096) -> None:
        if (rule is None) == (anchor_ts is None):
            raise ValueError("a VWAP track follows either a session rule or an anchor time")
        self.rule = rule
        self.anchor_ts = anchor_ts
        self._vwap: F64 = np.full(max(16, capacity), np.nan)
        self._sigma: F64 = np.full(max(16, capacity), np.nan)
        self._n = 0
        self._acc = VwapAccumulator()
        self._session: int | None = None

    def __len__(self) -> int:
        return self._n

    @property
    def vwap(self) -> F64:
        return self._vwap[: self._n]

    @property
    def sigma(self) -> F64:
        return self._sigma[: self._n]

    def clear(self) -> None:
        self._n = 0
        self._acc = VwapAccumulator()
        self._session = None

    def _reserve(self, extra: int) -> None:
        need, cap = self._n + extra, len(self._vwap)
        if need <= cap:
            return
        while cap < need:
            cap *= 2
        for name in ("_vwap", "_sigma"):
            new = np.full(cap, np.nan)
            new[: self._n] = getattr(self, name)[: self._n]
            setattr(self, name, new)

    def extend(self, ts: Any, price: Any, qty: Any) -> None:
        """Append trades (time-ordered arrays of equal length); their values follow the ones before."""
        t = np.asarray(ts, dtype=np.int64)
        p = np.asarray(price, dtype=np.float64)
        q = np.asarray(qty, dtype=np.int64)
        k = len(t)
        if k == 0:
            return
        self._reserve(k)
        out_v, out_s = self._vwap[self._n : self._n + k], self._sigma[self._n : self._n + k]
        if self.rule is not None:
            starts = self.rule.session_starts(t)
            edges = np.concatenate(([0], np.flatnonzero(np.diff(starts)) + 1, [k]))
            for a, b in itertools.pairwise(edges.tolist()):
                self._session_run(int(starts[a]), p[a:b], q[a:b], out_v[a:b], out_s[a:b])
        else:
            live = t >= (self.anchor_ts or 0)
            first = int(np.argmax(live)) if live.any() else k
            out_v[:first] = np.nan
            out_s[:first] = np.nan
            self._accumulate(p[first:], q[first:], out_v[first:], out_s[first:])
        self._n += k

    def _session_run(self, start: int, p: F64, q: I64, out_v: F64, out_s: F64) -> None:
        if self._session is None or start > self._session:
            self._session, self._acc = start, VwapAccumulator()
        elif start < self._session:  # a late trade of an earlier session: the current values stand
            point = self._acc.point()
            out_v[:] = np.nan if point.vwap is None else point.vwap
            out_s[:] = np.nan if point.sigma is None else point.sigma
            return
        self._accumulate(p, q, out_v, out_s)

    def _accumulate(self, p: F64, q: I64, out_v: F64, out_s: F64) -> None:
        """Running values over ``p, q`` continuing the accumulator's sums; the accumulator ends at the last."""
        acc = self._acc
        if len(p) == 0:
            return
        if acc.shift is None:
            live = np.flatnonzero(q > 0)
            if len(live) == 0:
                out_v[:] = np.nan
                out_s[:] = np.nan
                return
            acc.shift = float(p[live[0]])
        d = p - acc.shift
        w = np.where(q > 0, q, 0).astype(np.float64)
        vol = acc.volume + np.cumsum(w)
        sum_d = acc.sum_d + np.cumsum(w * d)
        sum_dd = acc.sum_dd + np.cumsum(w * d * d)
        has = vol > 0
        v = np.where(has, vol, 1.0)
        mean_d = sum_d / v
        out_v[:] = np.where(has, acc.shift + mean_d, np.nan)
        out_s[:] = np.where(has, np.sqrt(np.maximum(0.0, sum_dd / v - mean_d * mean_d)), np.nan)
        acc.volume, acc.sum_d, acc.sum_dd = int(vol[-1]), float(sum_d[-1]), float(sum_dd[-1])

    def at(self, index: Any) -> tuple[F64, F64]:
        """``(vwap, sigma)`` at the given trade indexes (NaN where there is no value or no such trade)."""
        i = np.asarray(index, dtype=np.int64)
        ok = (i >= 0) & (i < self._n)
        j = np.where(ok, i, 0)
        v: F64 = np.where(ok, self._vwap[j], np.nan) if self._n else np.full(len(i), np.nan)
        s: F64 = np.where(ok, self._sigma[j], np.nan) if self._n else np.full(len(i), np.nan)
        return v, s
