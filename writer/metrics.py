"""Writer counters, the rates derived from them and the heartbeat fields (pure bookkeeping, injected clock)."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import Any

from shared.keys import STREAM_KINDS
from writer.gaps import GapRecorder
from writer.sink import WriteResult

__all__ = ["WriterMetrics"]

TABLES = ("ticks", "summary", "candles", "quotes", "depth", "greeks", "depth20", "depth20_history")


class WriterMetrics:
    """Totals since start; ``snapshot()`` adds per-second rates over the interval since the previous call."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.entries = 0
        self.batches = 0
        self.rows = dict.fromkeys(TABLES, 0)
        self.tick_replays = 0
        self.summary_recomputes = 0
        self.summary_partials = 0
        self.dead_letters = 0
        self.internal_errors = 0  # entries dead-lettered by an unexpected exception (a bug, logged with its trace)
        self.partition_failures = 0
        self.failures = 0
        self.trimmed_lost = 0
        self.lease_renewals = 0
        self.lag: dict[str, int] = dict.fromkeys(STREAM_KINDS, 0)  # per stream, from the last group check
        self.pending: dict[str, int] = dict.fromkeys(STREAM_KINDS, 0)
        self._failure_times: collections.deque[float] = collections.deque()
        self.recent_batch_sizes: collections.deque[int] = collections.deque(maxlen=1000)
        self._batch_entries = 0  # since the previous snapshot
        self._batch_count = 0
        self._commit_s = 0.0
        self._last_t = clock()
        self._last_totals: dict[str, int] = self._totals()

    def _totals(self) -> dict[str, int]:
        return {"entries": self.entries, **self.rows}

    def committed(self, entries: int, result: WriteResult, commit_s: float) -> None:
        self.entries += entries
        self.batches += 1
        self._batch_entries += entries
        self.recent_batch_sizes.append(entries)
        self._batch_count += 1
        self._commit_s += commit_s
        self.rows["ticks"] += result.ticks
        self.rows["summary"] += result.summary
        self.rows["candles"] += result.candles
        self.rows["quotes"] += result.quotes
        self.rows["depth"] += result.depth
        self.rows["greeks"] += result.greeks
        self.rows["depth20"] += result.depth20
        self.rows["depth20_history"] += result.depth20_history
        self.tick_replays += result.tick_replays
        if result.summary_mode == "recompute":
            self.summary_recomputes += 1
        elif result.summary_mode == "partial":
            self.summary_partials += 1

    def dead_lettered(self, count: int) -> None:
        self.dead_letters += count
        self.entries += count

    def failed(self) -> None:
        now = self._clock()
        self.failures += 1
        self._failure_times.append(now)

    def failures_per_min(self) -> int:
        horizon = self._clock() - 60.0
        times = self._failure_times
        while times and times[0] < horizon:
            times.popleft()
        return len(times)

    def snapshot(self) -> dict[str, Any]:
        now = self._clock()
        dt = max(now - self._last_t, 1e-6)
        totals = self._totals()
        out: dict[str, Any] = {
            "entries_total": self.entries,
            "entries_per_s": round((totals["entries"] - self._last_totals["entries"]) / dt, 1),
            "batches_total": self.batches,
            "batch_size": round(self._batch_entries / self._batch_count, 1) if self._batch_count else 0,
            "batch_commit_ms": round(1000 * self._commit_s / self._batch_count, 2) if self._batch_count else 0,
            "tick_replays_total": self.tick_replays,
            "summary_partials_total": self.summary_partials,
            "summary_recomputes_total": self.summary_recomputes,
            "dead_letters": self.dead_letters,
            "internal_errors_total": self.internal_errors,
            "partition_failures_total": self.partition_failures,
            "failures_total": self.failures,
            "failures_per_min": self.failures_per_min(),
            "trimmed_unwritten_total": self.trimmed_lost,
        }
        for table in TABLES:
            out[f"rows_{table}_total"] = totals[table]
            out[f"rows_{table}_per_s"] = round((totals[table] - self._last_totals[table]) / dt, 1)
        self._last_t, self._last_totals = now, totals
        self._batch_entries = self._batch_count = 0
        self._commit_s = 0.0
        return out

    def heartbeat(
        self, *, pool: dict[str, int], consumer: str, mysql_ok: bool, inflight_batches: int, held_entries: int,
        gaps: GapRecorder | None,
    ) -> dict[str, Any]:  # fmt: skip
        """The writer's heartbeat fields: :meth:`snapshot`, the pool's, the state the service passes in."""
        out = self.snapshot()
        out.update(pool)
        out["consumer"] = consumer
        out["mysql_ok"] = mysql_ok
        out["inflight_batches"] = inflight_batches
        out["held_entries"] = held_entries
        out["lease_renewals_total"] = self.lease_renewals
        if gaps is not None:  # the gap ledger's recorder, once it runs
            out["gaps_dead_letters"] = gaps.dead_letters
            out["gaps_failures_total"] = gaps.failures
        for kind in STREAM_KINDS:
            out[f"lag_{kind}"] = self.lag[kind]
            out[f"pending_{kind}"] = self.pending[kind]
        out["lag"] = sum(max(v, 0) for v in self.lag.values())
        out["pending"] = sum(self.pending.values())
        return out
