"""Settings sections of the back-end services: the writer, the monitor's alert rules, the scheduler."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from shared.settings.common import Section

__all__ = ["MonitorSettings", "SchedulerSettings", "VizSettings", "WriterSettings"]


class WriterSettings(Section):
    """The writer: Redis streams into MySQL.

    Measured with bench/writer_drain.py (2-core box, MariaDB 10.11; sweeps drain 200k tick/quote entries, medians
    of 3): batch 500 -> 47k entries/s, 1000 -> 68k, 2000 -> 83k, 4000 -> 85k, 8000 -> 73k; inflight 1 -> 61k,
    2 -> 81k, 3 -> 74k; 1M entries with these defaults: 87k. 2000 is at the top with half the lock time and bisect
    work of 4000. The batch timer only shapes batches below the drain rate (a backlog fills them by size). End to
    end (bench/pipeline_e2e.py, the writer keeping the batch deadline itself), four sets of 3 runs at 10k frames/s
    (~27k entries/s): 20 ms p50 49-51 / p99 96-109 ms, 10 ms p50 38-44 / p99 83-102 ms (one outlier set 71 / 186);
    at 1k/s 20 ms 34 / 39, 10 ms 25 / 31, 5 ms 18 / 25 ms. 10 ms: at most ~100 commits/s when quiet, an easy load
    for MySQL.

    The batch spacing (40 ms) keeps a steady stream from being written in one small batch per 10 ms. Measured with
    bench/stack.py (private servers, medians of 3 interleaved runs, 4 Dec 2026): updates arriving nearly one by
    one (``--sim-turn-ms 5``) at ~1.4k events/s, writer CPU per event 0.57x of no spacing and MariaDB's 0.58x,
    send->commit p50 18 -> 36 ms, p99 31 -> 61 ms; at 10k frames/s (~27.7k events/s) writer 0.85x, MariaDB
    0.72x, p50 82 -> 69 ms, p99 200 -> 157 ms (fewer, larger transactions); in the simulator's default 50 ms
    bursts below 2k frames/s a batch per burst already, so no change.
    """

    batch_max: int = Field(
        2000, ge=1, alias="DHAN_WRITER_BATCH_MAX", description="entries per MySQL transaction at most"
    )
    batch_ms: int = Field(10, ge=1, alias="DHAN_WRITER_BATCH_MS", description="longest wait to fill a batch (ms)")
    batch_spacing_ms: int = Field(
        40, ge=0, le=10_000, alias="DHAN_WRITER_BATCH_SPACING_MS",
        description="shortest time from one batch to the next unless the next is full (ms)",
    )  # fmt: skip
    pool_size: int = Field(4, ge=1, le=64, alias="DHAN_WRITER_POOL_SIZE", description="MySQL connections per writer")
    consumer: str | None = Field(
        None, alias="DHAN_WRITER_CONSUMER", description="consumer name in group 'writer' (default host-pid)"
    )
    claim_idle_ms: int = Field(
        30_000, ge=1000, alias="DHAN_WRITER_CLAIM_IDLE_MS", description="pending entries idle this long are reclaimed"
    )
    max_attempts: int = Field(
        5, ge=1, alias="DHAN_WRITER_MAX_ATTEMPTS",
        description="deliveries after which an entry is written alone (a bad row is then dead-lettered)",
    )  # fmt: skip
    inflight: int = Field(
        2, ge=1, le=16, alias="DHAN_WRITER_INFLIGHT",
        description="batches committed concurrently (each on its own pooled connection)",
    )  # fmt: skip
    commit_timeout_s: float = Field(
        60.0, gt=0, alias="DHAN_WRITER_COMMIT_TIMEOUT_S", description="longest one batch transaction may take"
    )
    retry_base_s: float = Field(
        0.25, gt=0, alias="DHAN_WRITER_RETRY_BASE_S", description="first MySQL retry delay (doubles per failure)"
    )
    retry_cap_s: float = Field(15.0, gt=0, alias="DHAN_WRITER_RETRY_CAP_S", description="largest MySQL retry delay")
    partition_months_ahead: int = Field(
        12, ge=1, le=60, alias="DHAN_WRITER_PARTITION_MONTHS_AHEAD",
        description="monthly dhan_ticks partitions kept ahead of today",
    )  # fmt: skip
    partition_lock_timeout_s: int = Field(
        30, ge=0, le=3600, alias="DHAN_WRITER_PARTITION_LOCK_TIMEOUT_S",
        description="longest wait for the partition maintenance lock (held by dhan db init or another writer); "
                    "then retried with backoff and alerted",
    )  # fmt: skip
    deadletter_maxlen: int = Field(
        100_000, ge=100, alias="DHAN_WRITER_DEADLETTER_MAXLEN", description="MAXLEN ~ of the dead-letter stream"
    )
    depth20_sample_s: float = Field(
        1.0, ge=0.001, le=3600, alias="DHAN_DEPTH20_SAMPLE_S",
        description="dhan_depth20_history keeps the first book of each interval this long, per instrument",
    )
    entry_max_bytes: int = Field(
        65_536, ge=1024, alias="DHAN_WRITER_ENTRY_MAX_BYTES",
        description="largest stream entry (its d field) the writer and greeks parse; larger ones, and the "
                    "payload of any dead letter, keep their first this-many bytes (events are under 1 KB)",
    )  # fmt: skip


class MonitorSettings(Section):
    """The monitor's alert rules and their thresholds."""

    interval_s: float = Field(
        1.0, gt=0, alias="DHAN_MONITOR_INTERVAL_S", description="how often the monitor evaluates its rules"
    )
    stale_s: float = Field(
        5.0, gt=0, alias="DHAN_MONITOR_STALE_S", description="a heartbeat older than this is stale: service down"
    )
    feed_disconnected_s: float = Field(
        60.0, ge=0, alias="DHAN_MONITOR_FEED_DISCONNECTED_S", description="feed without a connection this long: alert"
    )
    db_failures_per_min: float = Field(
        5.0, ge=0, alias="DHAN_MONITOR_DB_FAILURES_PER_MIN",
        description="writer MySQL failures per minute above this: alert",
    )  # fmt: skip
    redis_memory_pct: float = Field(
        80.0, gt=0, le=100, alias="DHAN_MONITOR_REDIS_MEMORY_PCT",
        description="Redis used memory above this % of maxmemory",
    )  # fmt: skip
    pool_exhausted_s: float = Field(
        10.0, ge=0, alias="DHAN_MONITOR_POOL_EXHAUSTED_S",
        description="a MySQL pool with no free connection this long",
    )  # fmt: skip
    lag_max: int = Field(
        100_000, ge=1, alias="DHAN_MONITOR_LAG_MAX", description="consumer-group lag (entries) above this: alert"
    )
    no_ticks_s: float = Field(
        60.0, gt=0, alias="DHAN_MONITOR_NO_TICKS_S",
        description="no trade on dhan:ticks this long in market hours: alert",
    )  # fmt: skip
    instrument_silent_s: float = Field(
        300.0, gt=0, alias="DHAN_MONITOR_INSTRUMENT_SILENT_S",
        description="an instrument without a quote this long while its peers tick: alert",
    )  # fmt: skip
    peers_active_pct: float = Field(
        50.0, gt=0, le=100, alias="DHAN_MONITOR_PEERS_ACTIVE_PCT",
        description="'peers tick': this % of the segment's instruments quoted in the last minute",
    )  # fmt: skip
    market_hours: Literal["exchange", "always"] = Field(
        "exchange", alias="DHAN_MONITOR_MARKET_HOURS",
        description="'exchange': market-hours rules follow the NSE/MCX calendar; 'always': always open",
    )  # fmt: skip
    alerts_maxlen: int = Field(
        10_000, ge=100, alias="DHAN_MONITOR_ALERTS_MAXLEN", description="MAXLEN ~ of the dhan:alerts history stream"
    )


class SchedulerSettings(Section):
    """The scheduler: starts and stops services around the market calendar."""

    mode: Literal["supervise", "control"] = Field(
        "supervise", alias="DHAN_SCHEDULER_MODE",
        description="'supervise': run the scheduled services as child processes; 'control': start/stop them "
                    "through dhan:control (a Control Center or other supervisor starts them)",
    )  # fmt: skip
    services: str = Field(
        "feed,writer", alias="DHAN_SCHEDULER_SERVICES",
        description="services started before the open, stopped after close",
    )  # fmt: skip
    start_at: str = Field(
        "08:55", alias="DHAN_SCHEDULER_START_AT",
        description="IST time the services start on a trading day (HH:MM)",
    )  # fmt: skip
    stop_after_s: float = Field(
        300.0, ge=0, alias="DHAN_SCHEDULER_STOP_AFTER_S",
        description="stop this long after the last session closes",
    )  # fmt: skip
    holidays_file: Path | None = Field(
        None, alias="DHAN_SCHEDULER_HOLIDAYS_FILE",
        description="holiday calendar JSON (default: the one shipped in shared/data)",
    )  # fmt: skip

    @field_validator("start_at")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        hh, _, mm = v.partition(":")
        if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60 and len(mm) == 2):
            raise ValueError("must be a time of day HH:MM, e.g. '08:55'")
        return f"{int(hh):02d}:{mm}"


# --- viz (branch candles) ---
class VizSettings(Section):
    """The visualizer windows' defaults (each window remembers its own choices over these)."""

    prior_days: int = Field(
        3, ge=0, le=20, alias="DHAN_VIZ_PRIOR_DAYS",
        description="previous sessions the tick chart and the volume-profile chart show by default (each "
                    "window's Days control overrides it and is remembered)",
    )  # fmt: skip
