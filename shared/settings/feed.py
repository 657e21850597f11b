"""Settings sections of the feed and the simulator: universe, connection, publishing, journal, simulator, greeks."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from shared.settings.common import Section

__all__ = [
    "JOURNAL_BLOCK_KB_MAX", "FeedSettings", "GreeksSettings", "JournalSettings", "PublishSettings", "SimSettings",
    "UniverseSettings",
]  # fmt: skip

# Journal readers size their block cap from this bound (feed/journal/), and so the memory a block decodes to:
# at 8 MiB (32x the 256 KiB default) dhan verify peaks at 300 MB on a hostile file's worst blocks; 16 MiB: 540 MB.
JOURNAL_BLOCK_KB_MAX = 8_192


class UniverseSettings(Section):
    """Which instruments the feed subscribes, and how."""

    nifty_strikes: int = Field(
        20, ge=0, le=200, alias="DHAN_NIFTY_STRIKES", description="NIFTY options: ATM +/- this many strikes"
    )
    banknifty_strikes: int = Field(
        10, ge=0, le=200, alias="DHAN_BANKNIFTY_STRIKES", description="BANKNIFTY options: ATM +/- this many strikes"
    )
    futures_expiries: int = Field(
        2, ge=1, le=3, alias="DHAN_FUTURES_EXPIRIES", description="index futures expiries (current, next, far)"
    )
    include_indices: bool = Field(
        True, alias="DHAN_INCLUDE_INDICES", description="subscribe NIFTY 50 and NIFTY BANK index values"
    )
    include_nifty50: bool = Field(True, alias="DHAN_INCLUDE_NIFTY50", description="subscribe the NIFTY 50 stocks")
    mcx_enabled: bool = Field(
        False, alias="DHAN_MCX_ENABLED", description="subscribe MCX GOLD/SILVER/CRUDEOIL/NATURALGAS futures"
    )
    mode: Literal["ticker", "quote", "full"] = Field(
        "full", alias="DHAN_FEED_MODE", description="subscription mode for tradables"
    )
    recentre_check_s: float = Field(
        1.0, gt=0, alias="DHAN_RECENTRE_CHECK_S", description="how often the option window is checked for re-centring"
    )


class FeedSettings(Section):
    """The feed's connection: where it dials, when it gives up on a silent socket, how it backs off."""

    url: str | None = Field(
        None, alias="DHAN_FEED_URL", description="market feed WebSocket URL; default Dhan's or the simulator's"
    )
    stall_timeout_s: float = Field(
        15.0, gt=0, alias="DHAN_STALL_TIMEOUT_S", description="no data this long in market hours: reconnect"
    )
    reconnect_base_s: float = Field(
        0.5, gt=0, alias="DHAN_RECONNECT_BASE_S", description="first reconnect backoff after a failed attempt"
    )
    reconnect_cap_s: float = Field(30.0, gt=0, alias="DHAN_RECONNECT_CAP_S", description="largest reconnect backoff")
    market_hours_only_watchdog: bool = Field(
        True, alias="DHAN_MARKET_HOURS_ONLY_WATCHDOG",
        description="stall watchdog active only in market hours (always on against the simulator)",
    )  # fmt: skip
    # --- depth-feed branch: the 20- and 200-level depth sockets (feed/fulldepth/; shared/dhan-protocol.md) ---
    depth20_enabled: bool = Field(
        True, alias="DHAN_DEPTH20_ENABLED",
        description="open the 20-level depth WebSocket(s) (NSE only; they share Dhan's 5 connections)",
    )  # fmt: skip
    depth20_instruments: str = Field(
        "auto", alias="DHAN_DEPTH20_INSTRUMENTS",
        description="20-level depth: 'auto' (current NIFTY and BANKNIFTY futures and their ATM +/- 2 options, "
                    "following the re-centring) or a list SEG:SID,... (NSE_EQ, NSE_FNO)",
    )  # fmt: skip
    depth200_instrument: str = Field(
        "", alias="DHAN_DEPTH200_INSTRUMENT",
        description="200-level depth of one instrument SEG:SID on a connection of its own; empty: none",
    )  # fmt: skip
    depth20_url: str | None = Field(
        None, alias="DHAN_DEPTH20_URL", description="20-level depth WebSocket URL; default Dhan's or the simulator's"
    )
    depth200_url: str | None = Field(
        None, alias="DHAN_DEPTH200_URL", description="200-level depth WebSocket URL; default Dhan's or the simulator's"
    )


class PublishSettings(Section):
    """The feed's writes to Redis, and where events wait while Redis is down."""

    batch_max: int = Field(
        2000, ge=1, alias="DHAN_PUBLISH_BATCH_MAX", description="events per pipelined Redis write at most"
    )
    buffer_max: int = Field(
        200_000, ge=1000, alias="DHAN_PUBLISH_BUFFER_MAX", description="events buffered in memory while Redis is down"
    )
    memory_max: int = Field(
        500_000, ge=1000, alias="DHAN_PUBLISH_MEMORY_MAX",
        description="events held in memory at most while the spool cannot be written either (disk full); "
                    "past it superseded quotes/depth are dropped first, then the oldest events, counted and "
                    "recorded as dropped gaps (~400 B an event: 500,000 is ~200 MiB)",
    )  # fmt: skip
    spool_dir: Path = Field(
        Path("var/spool"), alias="DHAN_SPOOL_DIR", description="where events spill when the buffer is full"
    )


class JournalSettings(Section):
    """The feed's daily journal of raw frames (replay, verify)."""

    enabled: bool = Field(
        True, alias="DHAN_JOURNAL_ENABLED",
        description="append every raw frame to the daily journal (replay, verify)",
    )  # fmt: skip
    dir: Path = Field(
        Path("var/journal"), alias="DHAN_JOURNAL_DIR",
        description="where the journal files go (<IST day>.<instance>.djr)",
    )  # fmt: skip
    block_ms: int = Field(
        200,
        ge=1,
        le=60_000,
        alias="DHAN_JOURNAL_BLOCK_MS",
        description="a journal block closes this long after it opened",
    )
    block_kb: int = Field(
        256, ge=4, le=JOURNAL_BLOCK_KB_MAX, alias="DHAN_JOURNAL_BLOCK_KB",
        description="... or when it holds this many KiB of frames",
    )  # fmt: skip
    fsync: Literal["none", "block", "interval"] = Field(
        "interval", alias="DHAN_JOURNAL_FSYNC",
        description="journal fsync: none (OS decides), block (after every block), interval (see below)",
    )  # fmt: skip
    fsync_interval_s: float = Field(
        1.0, gt=0, alias="DHAN_JOURNAL_FSYNC_INTERVAL_S", description="journal_fsync=interval: fsync at most this often"
    )
    codec: Literal["zstd", "zlib"] = Field(
        "zstd", alias="DHAN_JOURNAL_CODEC", description="compression of journal blocks"
    )
    compress_level: int = Field(
        3, ge=0, le=19, alias="DHAN_JOURNAL_COMPRESS_LEVEL",
        description="journal compression level (zstd 1-19, zlib 1-9; 0: stored uncompressed)",
    )  # fmt: skip
    queue_max: int = Field(
        500_000, ge=1000, alias="DHAN_JOURNAL_QUEUE_MAX",
        description="frames waiting for the journal writer at most; beyond: dropped and counted",
    )  # fmt: skip
    write_ahead: bool = Field(
        True, alias="DHAN_JOURNAL_WRITE_AHEAD",
        description="write raw frames to <instance>.wal (to the OS, no fsync) before their events go to Redis: "
        "a killed feed loses no journal frame; the next start moves them into the journal",
    )  # fmt: skip


class SimSettings(Section):
    """The simulator (``dhan sim``): where it listens, and the market it makes up."""

    host: str = Field("127.0.0.1", alias="DHAN_SIM_HOST", description="address the simulator binds and the feed dials")
    port: int = Field(
        8765, ge=1, le=65535, alias="DHAN_SIM_PORT", description="simulator port (WebSocket at /, CSVs over HTTP)"
    )
    token: SecretStr | None = Field(
        None, alias="DHAN_SIM_TOKEN", description="simulator accepts only this token when set"
    )
    faults: bool = Field(
        False, alias="DHAN_SIM_FAULTS",
        description="simulator accepts POST /fault (fault injection, as dhan sim --faults); needs DHAN_SIM_TOKEN",
    )  # fmt: skip
    seed: int = Field(42, alias="DHAN_SIM_SEED", description="seed of the simulated market (same seed, same run)")
    rate: float = Field(
        0.0, ge=0, alias="DHAN_SIM_RATE",
        description="updates per second across all subscribed instruments; 0: each instrument at its "
                    "rate in a live F&O session (feed/sim/activity.py)",
    )  # fmt: skip
    market_hours: bool = Field(
        False, alias="DHAN_SIM_MARKET_HOURS",
        description="simulator follows the NSE/MCX sessions and holidays (a snapshot on subscribe, then "
                    "silence while closed); off: always open, for demos",
    )  # fmt: skip
    start_price_nifty: float = Field(
        26046.95, gt=0, alias="DHAN_SIM_START_PRICE_NIFTY", description="NIFTY 50 index level at start"
    )
    start_price_banknifty: float = Field(
        59300.0, gt=0, alias="DHAN_SIM_START_PRICE_BANKNIFTY", description="NIFTY BANK index level at start"
    )
    session_clock: Literal["wall", "open"] = Field(
        "wall", alias="DHAN_SIM_SESSION_CLOCK",
        description="'open': simulated session starts at 09:15 IST today; 'wall': follows the real clock",
    )  # fmt: skip
    burst_factor: float = Field(
        2.0, ge=0, alias="DHAN_SIM_BURST_FACTOR",
        description="extra trade rate right after 09:15 and before 15:30 IST (x(1+this)); 0: flat rate",
    )  # fmt: skip
    nifty_strikes: int = Field(
        60, ge=1, le=400, alias="DHAN_SIM_NIFTY_STRIKES",
        description="simulator lists NIFTY strikes start +/- this many",
    )  # fmt: skip
    banknifty_strikes: int = Field(
        40, ge=1, le=400, alias="DHAN_SIM_BANKNIFTY_STRIKES",
        description="simulator lists BANKNIFTY strikes start +/- this many",
    )  # fmt: skip

    @property
    def url(self) -> str:
        """The simulator's WebSocket URL."""
        return f"ws://{self.host}:{self.port}/"


class GreeksSettings(Section):
    risk_free_rate: float = Field(
        0.065, ge=0, le=0.5, alias="DHAN_RISK_FREE_RATE",
        description="annual rate for Black-76 (sim pricing and greeks)",
    )  # fmt: skip
