"""The one settings class. Built once by the entry point (``load_settings``) and passed down.

Every variable is prefixed ``DHAN_`` and listed with its default in ``.env.example``. Secrets are ``SecretStr``
and never printed: use :meth:`Settings.masked` for anything shown to a person.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ConfigError

__all__ = ["JOURNAL_BLOCK_KB_MAX", "MySQLTarget", "Settings", "load_settings", "mask_url"]

DHAN_FEED_URL = "wss://api-feed.dhan.co"
DHAN_SCRIP_MASTER_URL = "https://images.dhan.co/api-data/api-scrip-master.csv"
# Journal readers size their block cap from this bound (feed/journal/), and so the memory a block decodes to:
# at 8 MiB (32x the 256 KiB default) dhan verify peaks at 300 MB on a hostile file's worst blocks; 16 MiB: 540 MB.
JOURNAL_BLOCK_KB_MAX = 8_192


def mask_url(url: str) -> str:
    """``scheme://user:secret@host`` -> ``scheme://user:***@host``; token-like query values masked too."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        cred, host = netloc.rsplit("@", 1)
        user = cred.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in cred else f"{user}@{host}"
    query = "&".join(
        (kv.split("=", 1)[0] + "=***") if kv.lower().startswith(("token=", "password=")) else kv
        for kv in parts.query.split("&")
        if kv
    )
    out = f"{parts.scheme}://{netloc}{parts.path}"
    return out + (f"?{query}" if query else "")


class MySQLTarget:
    """Parsed ``DHAN_MYSQL_URL``: what aiomysql needs, with the password kept secret."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mysql", "mariadb", "mysql+aiomysql"):
            raise ConfigError(f"DHAN_MYSQL_URL must start with mysql:// (got {parts.scheme or 'nothing'}://)")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 3306
        self.user = unquote(parts.username or "root")
        self.password = SecretStr(unquote(parts.password or ""))
        self.database = (parts.path or "/").lstrip("/") or "dhan_trading"
        self.masked = mask_url(url)

    def connect_kwargs(self, *, with_db: bool = True) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password.get_secret_value(),
            "autocommit": False,
            "charset": "utf8mb4",
        }
        if with_db:
            kw["db"] = self.database
        return kw


class Settings(BaseSettings):
    """All configuration of every service. Tests build it directly: ``Settings(key_prefix="t1:", ...)``."""

    model_config = SettingsConfigDict(
        env_prefix="DHAN_", env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    # --- credentials and endpoints (names fixed by DESIGN.md) ---
    client_id: str | None = Field(None, description="Dhan client id; unset: use the simulator")
    access_token: SecretStr | None = Field(None, description="Dhan access token; unset: use the simulator")
    feed_url: str | None = Field(None, description="market feed WebSocket URL; default Dhan's or the simulator's")
    redis_url: SecretStr = Field(SecretStr("redis://127.0.0.1:6379/0"), description="Redis URL")
    key_prefix: str = Field("dhan:", description="prefix of every Redis key and channel")
    mysql_url: SecretStr = Field(
        SecretStr("mysql://root@127.0.0.1:3306/dhan_trading"), description="mysql://user:password@host:port/db"
    )
    sim_host: str = Field("127.0.0.1", description="address the simulator binds and the feed dials")
    sim_port: int = Field(8765, ge=1, le=65535, description="simulator port (WebSocket at /, CSVs over HTTP)")
    sim_token: SecretStr | None = Field(None, description="simulator accepts only this token when set")
    sim_faults: bool = Field(
        False, description="simulator accepts POST /fault (fault injection, as dhan sim --faults); needs DHAN_SIM_TOKEN"
    )
    instruments_url: str | None = Field(None, description="scrip master URL or file path")
    instruments_max_mb: int = Field(
        256, ge=1, le=4096, description="a scrip master (download or file) larger than this many MiB is refused"
    )
    instruments_timeout_s: float = Field(
        60.0, gt=0, description="the scrip master download must end within this many seconds"
    )

    # --- universe ---
    nifty_strikes: int = Field(20, ge=0, le=200, description="NIFTY options: ATM +/- this many strikes")
    banknifty_strikes: int = Field(10, ge=0, le=200, description="BANKNIFTY options: ATM +/- this many strikes")
    futures_expiries: int = Field(2, ge=1, le=3, description="index futures expiries (current, next, far)")
    include_indices: bool = Field(True, description="subscribe NIFTY 50 and NIFTY BANK index values")
    include_nifty50: bool = Field(True, description="subscribe the NIFTY 50 stocks")
    mcx_enabled: bool = Field(False, description="subscribe MCX GOLD/SILVER/CRUDEOIL/NATURALGAS futures")
    feed_mode: Literal["ticker", "quote", "full"] = Field("full", description="subscription mode for tradables")
    recentre_check_s: float = Field(1.0, gt=0, description="how often the option window is checked for re-centring")

    # --- feed ---
    stall_timeout_s: float = Field(15.0, gt=0, description="no data this long in market hours: reconnect")
    reconnect_base_s: float = Field(0.5, gt=0, description="first reconnect backoff after a failed attempt")
    reconnect_cap_s: float = Field(30.0, gt=0, description="largest reconnect backoff")
    publish_batch_max: int = Field(2000, ge=1, description="events per pipelined Redis write at most")
    publish_buffer_max: int = Field(200_000, ge=1000, description="events buffered in memory while Redis is down")
    publish_memory_max: int = Field(
        500_000, ge=1000,
        description="events held in memory at most while the spool cannot be written either (disk full); "
                    "past it superseded quotes/depth are dropped first, then the oldest events, counted and "
                    "recorded as dropped gaps (~400 B an event: 500,000 is ~200 MiB)",
    )
    spool_dir: Path = Field(Path("var/spool"), description="where events spill when the buffer is full")
    stream_maxlen_quotes: int = Field(2_000_000, ge=1000, description="MAXLEN ~ of dhan:quotes")
    stream_maxlen_ticks: int = Field(5_000_000, ge=1000, description="MAXLEN ~ of dhan:ticks")
    stream_maxlen_depth: int = Field(1_000_000, ge=1000, description="MAXLEN ~ of dhan:depth")
    stream_maxlen_greeks: int = Field(1_000_000, ge=1000, description="MAXLEN ~ of dhan:greeks")
    shutdown_deadline_s: float = Field(5.0, gt=0, description="longest clean shutdown before tasks are cancelled")
    heartbeat_interval_s: float = Field(1.0, gt=0, description="heartbeat period of every service")
    market_hours_only_watchdog: bool = Field(
        True, description="stall watchdog active only in market hours (always on against the simulator)"
    )
    journal_enabled: bool = Field(True, description="append every raw frame to the daily journal (replay, verify)")
    journal_dir: Path = Field(Path("var/journal"), description="where the journal files go (<IST day>.<instance>.djr)")
    journal_block_ms: int = Field(200, ge=1, le=60_000, description="a journal block closes this long after it opened")
    journal_block_kb: int = Field(
        256, ge=4, le=JOURNAL_BLOCK_KB_MAX, description="... or when it holds this many KiB of frames"
    )
    journal_fsync: Literal["none", "block", "interval"] = Field(
        "interval", description="journal fsync: none (OS decides), block (after every block), interval (see below)"
    )
    journal_fsync_interval_s: float = Field(1.0, gt=0, description="journal_fsync=interval: fsync at most this often")
    journal_codec: Literal["zstd", "zlib"] = Field("zstd", description="compression of journal blocks")
    journal_compress_level: int = Field(
        3, ge=0, le=19, description="journal compression level (zstd 1-19, zlib 1-9; 0: stored uncompressed)"
    )
    journal_queue_max: int = Field(
        500_000, ge=1000, description="frames waiting for the journal writer at most; beyond: dropped and counted"
    )
    journal_write_ahead: bool = Field(
        True, description="write raw frames to <instance>.wal (to the OS, no fsync) before their events go to Redis: "
        "a killed feed loses no journal frame; the next start moves them into the journal"
    )

    # --- simulator ---
    sim_seed: int = Field(42, description="seed of the simulated market (same seed, same run)")
    sim_rate: float = Field(
        0.0, ge=0, description="updates per second across all subscribed instruments; 0: each instrument at its "
                               "rate in a live F&O session (feed/sim/activity.py)"
    )
    sim_market_hours: bool = Field(
        False, description="simulator follows the NSE/MCX sessions and holidays (a snapshot on subscribe, then "
                           "silence while closed); off: always open, for demos"
    )
    sim_start_price_nifty: float = Field(26046.95, gt=0, description="NIFTY 50 index level at start")
    sim_start_price_banknifty: float = Field(59300.0, gt=0, description="NIFTY BANK index level at start")
    sim_session_clock: Literal["wall", "open"] = Field(
        "wall", description="'open': simulated session starts at 09:15 IST today; 'wall': follows the real clock"
    )
    sim_burst_factor: float = Field(
        2.0, ge=0, description="extra trade rate right after 09:15 and before 15:30 IST (x(1+this)); 0: flat rate"
    )
    sim_nifty_strikes: int = Field(60, ge=1, le=400, description="simulator lists NIFTY strikes start +/- this many")
    sim_banknifty_strikes: int = Field(
        40, ge=1, le=400, description="simulator lists BANKNIFTY strikes start +/- this many"
    )

    # --- options ---
    risk_free_rate: float = Field(0.065, ge=0, le=0.5, description="annual rate for Black-76 (sim pricing and greeks)")

    # --- writer ---
    # Measured with bench/writer_drain.py (2-core box, MariaDB 10.11; sweeps drain 200k tick/quote entries,
    # medians of 3): batch 500 -> 47k entries/s, 1000 -> 68k, 2000 -> 83k, 4000 -> 85k, 8000 -> 73k;
    # writer_inflight 1 -> 61k, 2 -> 81k, 3 -> 74k; 1M entries with these defaults: 87k. 2000 is at the top
    # with half the lock time and bisect work of 4000. The timer only shapes batches below the drain rate
    # (a backlog fills them by size). End to end at 10k frames/s (~27k entries/s, bench/pipeline_e2e.py,
    # medians of 2): 50 ms gave send->commit p50 99 / p99 186 ms, 20 ms gave 74 / 146 ms at the same rows/s.
    # Once the writer kept the deadline itself (stop 9; before, Redis closed each batch 15-50 ms late) and the
    # bench polled cheaply, four sets of 3 runs at 10k/s: 20 ms p50 49-51 / p99 96-109 ms, 10 ms p50 38-44 /
    # p99 83-102 ms (one outlier set 71 / 186); at 1k/s 20 ms 34 / 39, 10 ms 25 / 31, 5 ms 18 / 25 ms.
    # 10 ms: at most ~100 commits/s when quiet, an easy load for MySQL.
    writer_batch_max: int = Field(2000, ge=1, description="entries per MySQL transaction at most")
    writer_batch_ms: int = Field(10, ge=1, description="longest wait to fill a batch (ms)")
    writer_pool_size: int = Field(4, ge=1, le=64, description="MySQL connections per writer")
    writer_consumer: str | None = Field(None, description="consumer name in group 'writer' (default host-pid)")
    writer_claim_idle_ms: int = Field(30_000, ge=1000, description="pending entries idle this long are reclaimed")
    writer_max_attempts: int = Field(
        5, ge=1, description="deliveries after which an entry is written alone (a bad row is then dead-lettered)"
    )
    writer_inflight: int = Field(
        2, ge=1, le=16, description="batches committed concurrently (each on its own pooled connection)"
    )
    writer_commit_timeout_s: float = Field(60.0, gt=0, description="longest one batch transaction may take")
    writer_retry_base_s: float = Field(0.25, gt=0, description="first MySQL retry delay (doubles per failure)")
    writer_retry_cap_s: float = Field(15.0, gt=0, description="largest MySQL retry delay")
    writer_partition_months_ahead: int = Field(
        12, ge=1, le=60, description="monthly dhan_ticks partitions kept ahead of today"
    )
    writer_partition_lock_timeout_s: int = Field(
        30, ge=0, le=3600,
        description="longest wait for the partition maintenance lock (held by dhan db init or another writer); "
                    "then retried with backoff and alerted",
    )  # fmt: skip
    # --- depth-store branch (20/200-level books: writer/depth20.py, viz depth ladder) ---
    depth20_sample_s: float = Field(
        1.0, ge=0.001, le=3600,
        description="dhan_depth20_history keeps the first book of each interval this long, per instrument",
    )  # fmt: skip
    # --- end depth-store ---
    writer_deadletter_maxlen: int = Field(100_000, ge=100, description="MAXLEN ~ of the dead-letter stream")
    writer_entry_max_bytes: int = Field(
        65_536, ge=1024,
        description="largest stream entry (its d field) the writer and greeks parse; larger ones, and the "
                    "payload of any dead letter, keep their first this-many bytes (events are under 1 KB)",
    )  # fmt: skip

    # --- logging ---
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="log level")
    log_format: Literal["auto", "json", "console"] = Field("auto", description="auto: console on a TTY, else JSON")

    # --- health endpoints (/health and /metrics of every service) ---
    health_port_base: int = Field(
        9300, ge=0, le=65000,
        description="each service serves /health and /metrics on this port + its offset (sim 0, feed 1, writer 2, "
                    "greeks 3, monitor 4, scheduler 5); 0: off",
    )
    health_host: str = Field("127.0.0.1", description="address the health endpoints bind (0.0.0.0 in containers)")

    # --- monitor (alert rules; thresholds) ---
    monitor_interval_s: float = Field(1.0, gt=0, description="how often the monitor evaluates its rules")
    monitor_stale_s: float = Field(5.0, gt=0, description="a heartbeat older than this is stale: service down")
    monitor_feed_disconnected_s: float = Field(60.0, ge=0, description="feed without a connection this long: alert")
    monitor_db_failures_per_min: float = Field(
        5.0, ge=0, description="writer MySQL failures per minute above this: alert")
    monitor_redis_memory_pct: float = Field(
        80.0, gt=0, le=100, description="Redis used memory above this % of maxmemory")
    monitor_pool_exhausted_s: float = Field(10.0, ge=0, description="a MySQL pool with no free connection this long")
    monitor_lag_max: int = Field(100_000, ge=1, description="consumer-group lag (entries) above this: alert")
    monitor_no_ticks_s: float = Field(60.0, gt=0, description="no trade on dhan:ticks this long in market hours: alert")
    monitor_instrument_silent_s: float = Field(
        300.0, gt=0, description="an instrument without a quote this long while its peers tick: alert"
    )
    monitor_peers_active_pct: float = Field(
        50.0, gt=0, le=100, description="'peers tick': this % of the segment's instruments quoted in the last minute"
    )
    monitor_market_hours: Literal["exchange", "always"] = Field(
        "exchange", description="'exchange': market-hours rules follow the NSE/MCX calendar; 'always': always open"
    )
    monitor_alerts_maxlen: int = Field(10_000, ge=100, description="MAXLEN ~ of the dhan:alerts history stream")

    # --- scheduler (market calendar) ---
    scheduler_mode: Literal["supervise", "control"] = Field(
        "supervise",
        description="'supervise': run the scheduled services as child processes; 'control': start/stop them "
                    "through dhan:control (a Control Center or other supervisor starts them)",
    )
    scheduler_services: str = Field("feed,writer", description="services started before the open, stopped after close")
    scheduler_start_at: str = Field("08:55", description="IST time the services start on a trading day (HH:MM)")
    scheduler_stop_after_s: float = Field(300.0, ge=0, description="stop this long after the last session closes")
    scheduler_holidays_file: Path | None = Field(
        None, description="holiday calendar JSON (default: the one shipped in shared/data)"
    )

    @field_validator("key_prefix")
    @classmethod
    def _prefix_ok(cls, v: str) -> str:
        if not v or any(c.isspace() for c in v):
            raise ValueError("must be non-empty without spaces, e.g. 'dhan:'")
        return v

    @field_validator("scheduler_start_at")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        hh, _, mm = v.partition(":")
        if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60 and len(mm) == 2):
            raise ValueError("must be a time of day HH:MM, e.g. '08:55'")
        return f"{int(hh):02d}:{mm}"

    @model_validator(mode="after")
    def _credentials_pair(self) -> Settings:
        if (self.access_token is None) != (self.client_id is None):
            raise ValueError("DHAN_CLIENT_ID and DHAN_ACCESS_TOKEN go together: set both or neither")
        return self

    @model_validator(mode="after")
    def _memory_above_buffer(self) -> Settings:
        if self.publish_memory_max < self.publish_buffer_max:
            raise ValueError("DHAN_PUBLISH_MEMORY_MAX must be at least DHAN_PUBLISH_BUFFER_MAX (the spill bound)")
        return self

    # --- derived values ---
    @property
    def use_simulator(self) -> bool:
        return self.access_token is None

    @property
    def sim_url(self) -> str:
        return f"ws://{self.sim_host}:{self.sim_port}/"

    @property
    def effective_feed_url(self) -> str:
        if self.feed_url:
            return self.feed_url
        return self.sim_url if self.use_simulator else DHAN_FEED_URL

    @property
    def effective_instruments_url(self) -> str:
        if self.instruments_url:
            return self.instruments_url
        if self.use_simulator:
            return f"http://{self.sim_host}:{self.sim_port}/api-scrip-master.csv"
        return DHAN_SCRIP_MASTER_URL

    @property
    def mysql(self) -> MySQLTarget:
        return MySQLTarget(self.mysql_url.get_secret_value())

    @property
    def redis_url_masked(self) -> str:
        return mask_url(self.redis_url.get_secret_value())

    def secret_values(self) -> list[str]:
        """Every secret held, for log redaction: each token, and each URL's password as written and decoded."""
        out: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if not isinstance(value, SecretStr) or not value.get_secret_value():
                continue
            raw = value.get_secret_value()
            if "://" not in raw:
                out.append(raw)
                continue
            password = urlsplit(raw).password
            if password:
                out += [password, unquote(password)]
        return out

    def masked(self) -> dict[str, Any]:
        """Effective settings for display: secrets as ``***``, URLs with their passwords masked."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                raw = value.get_secret_value()
                value = mask_url(raw) if "://" in raw else "***"
            elif isinstance(value, Path):
                value = str(value)
            out[name] = value
        return out


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment and ``.env``; a bad value is a one-line :class:`ConfigError`."""
    try:
        return Settings(**overrides)
    except UnicodeDecodeError as exc:  # python-dotenv reading .env
        raise ConfigError(f"bad configuration: the .env file is not UTF-8 text (byte {exc.start})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        env = f"DHAN_{loc.upper()}" if loc != "settings" else "settings"
        raise ConfigError(f"bad configuration: {env}: {first.get('msg', 'invalid')}") from None
